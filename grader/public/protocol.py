"""Wire format between the trusted grader and the agent in the sandboxed kernel.

One request and one response per round trip, each a pair of files in a
directory both sides can see::

    req-<n>.json   {"op": "apply", "args": [...], "kwargs": {...}}
    req-<n>.npz    arrays referenced from the JSON as {"$a": "a0"}
    resp-<n>.json  {"ok": true, "result": ...} or {"ok": false, "error": {...}}
    resp-<n>.npz

Only JSON scalars, lists, dicts, arrays (``{"$a": key}``) and opaque object
references (``{"$r": int}``) travel.  Arrays are written with ``numpy.savez``
and read with ``allow_pickle=False``; the reader validates every value, so a
response can carry data but never an object or code.
"""
from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["Ref", "ProtocolError", "encode", "decode", "write_message", "read_message",
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


def write_message(directory: str, stem: str, payload: dict, arrays: dict) -> None:
    """Write ``<stem>.npz`` then ``<stem>.json`` (the JSON appears last, atomically)."""
    npz_path = os.path.join(directory, stem + ".npz")
    with open(npz_path + ".tmp", "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(npz_path + ".tmp", npz_path)
    json_path = os.path.join(directory, stem + ".json")
    with open(json_path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    os.replace(json_path + ".tmp", json_path)


def read_message(directory: str, stem: str) -> tuple[dict, dict]:
    """Read and validate a message; arrays must be numeric and are loaded without pickle."""
    json_path = os.path.join(directory, stem + ".json")
    npz_path = os.path.join(directory, stem + ".npz")
    for path, limit in ((json_path, MAX_JSON_BYTES), (npz_path, MAX_NPZ_BYTES)):
        if not os.path.isfile(path) or os.path.islink(path):
            raise ProtocolError(f"{os.path.basename(path)} is missing")
        if os.path.getsize(path) > limit:
            raise ProtocolError(f"{os.path.basename(path)} is larger than {limit} bytes")
    try:
        with open(json_path, encoding="utf-8") as fh:
            payload = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"unreadable JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ProtocolError("message is not a JSON object")
    arrays = {}
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
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
