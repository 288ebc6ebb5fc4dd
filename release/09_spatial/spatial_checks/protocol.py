"""Wire format between the trusted grader and the agent in the sandboxed kernel.

One request and one response per round trip over a Unix socket, each
message a JSON object plus an npz archive of the arrays it references::

    request   {"op": "apply", "args": [...], "kwargs": {...}}
    response  {"ok": true, "result": ...} or {"ok": false, "error": {...}}
    arrays    referenced from the JSON as {"$a": "a0"}

Only JSON scalars, lists, dicts, arrays (``{"$a": key}``) and opaque object
references (``{"$r": int}``) travel.  Arrays are written with ``numpy.savez``
and read with ``allow_pickle=False``; the reader validates every value, so a
response can carry data but never an object or code.
"""
from __future__ import annotations

import io
import json
import struct

import numpy as np

__all__ = ["Ref", "ProtocolError", "encode", "decode", "pack", "unpack", "send", "receive",
           "MAX_JSON_BYTES", "MAX_NPZ_BYTES"]

MAX_JSON_BYTES = 1_000_000
MAX_NPZ_BYTES = 400_000_000
NUMERIC_KINDS = "biuf"


class ProtocolError(Exception):
    """A message broke the format (malformed, oversized, or carrying a forbidden type)."""


class Ref:
    """An opaque reference to an object living on the other side."""

    __slots__ = ("id",)

    def __init__(self, id_: int):
        self.id = id_

    def __repr__(self) -> str:
        return f"Ref({self.id})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Ref) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("Ref", self.id))


def encode(value, arrays: dict, to_ref=None):
    """Turn ``value`` into JSON-able data, moving arrays into ``arrays``.

    ``to_ref(obj) -> int`` turns any other object into a reference; without
    it such objects are an error.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return {"$f": repr(float(value))}  # keeps inf/nan exact
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"$a": key}
    if isinstance(value, Ref):
        return {"$r": value.id}
    if isinstance(value, (list, tuple)):
        return [encode(v, arrays, to_ref) for v in value]
    if isinstance(value, dict):
        return {"$d": [[str(k), encode(v, arrays, to_ref)] for k, v in value.items()]}
    if to_ref is not None:
        return {"$r": to_ref(value)}
    raise ProtocolError(f"cannot send a value of type {type(value).__name__}")


def decode(data, arrays, from_ref=None, depth: int = 0):
    """Inverse of :func:`encode`, validating every node."""
    if depth > 20:
        raise ProtocolError("message nested too deeply")
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if isinstance(data, list):
        if len(data) > 10_000:
            raise ProtocolError("list too long")
        return [decode(v, arrays, from_ref, depth + 1) for v in data]
    if isinstance(data, dict) and len(data) == 1:
        (tag, payload), = data.items()
        if tag == "$f" and isinstance(payload, str):
            try:
                return float(payload)
            except ValueError:
                raise ProtocolError(f"bad float {payload[:40]!r}") from None
        if tag == "$a" and isinstance(payload, str):
            if payload not in arrays:
                raise ProtocolError(f"array {payload[:40]!r} missing from the message")
            return arrays[payload]
        if tag == "$r" and isinstance(payload, int) and not isinstance(payload, bool):
            return from_ref(payload) if from_ref is not None else Ref(payload)
        if tag == "$d" and isinstance(payload, list):
            out = {}
            for item in payload:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise ProtocolError("malformed mapping")
                out[item[0]] = decode(item[1], arrays, from_ref, depth + 1)
            return out
    raise ProtocolError(f"unexpected value in message: {str(data)[:80]}")


def pack(payload: dict, arrays: dict) -> bytes:
    """One message: [u32 JSON length][JSON][u64 npz length][npz]."""
    body = json.dumps(payload).encode()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    blob = buf.getvalue()
    return struct.pack("<I", len(body)) + body + struct.pack("<Q", len(blob)) + blob


def unpack(data: bytes) -> tuple[dict, dict]:
    """Inverse of :func:`pack`; arrays must be numeric and are loaded without pickle."""
    try:
        (json_len,) = struct.unpack_from("<I", data, 0)
        if json_len > MAX_JSON_BYTES:
            raise ProtocolError(f"JSON part larger than {MAX_JSON_BYTES} bytes")
        payload = json.loads(data[4:4 + json_len].decode("utf-8"))
        (npz_len,) = struct.unpack_from("<Q", data, 4 + json_len)
        blob = data[12 + json_len:]
    except ProtocolError:
        raise
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from None
    if len(blob) != npz_len or npz_len > MAX_NPZ_BYTES:
        raise ProtocolError("array part has the wrong length")
    if not isinstance(payload, dict):
        raise ProtocolError("message is not a JSON object")
    arrays = {}
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            for key in npz.files:
                array = npz[key]
                if array.dtype.kind not in NUMERIC_KINDS:
                    raise ProtocolError(f"array {key!r} has non-numeric dtype {array.dtype}")
                arrays[key] = array
    except ProtocolError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable archive is a protocol error
        raise ProtocolError(f"unreadable arrays: {type(exc).__name__}: {exc}") from None
    return payload, arrays


def send(sock, payload: dict, arrays: dict) -> None:
    data = pack(payload, arrays)
    sock.sendall(struct.pack("<Q", len(data)) + data)


def _recv_exact(sock, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive(sock) -> tuple[dict, dict]:
    (length,) = struct.unpack("<Q", _recv_exact(sock, 8))
    if length > MAX_JSON_BYTES + MAX_NPZ_BYTES + 16:
        raise ProtocolError(f"message of {length} bytes is too large")
    return unpack(_recv_exact(sock, length))
