"""Wire format between the trusted grader and the agent in the sandboxed kernel.

One request and one response per round trip over a Unix socket, each
message a JSON object plus an npz archive of the arrays it references::

    request   {"op": "apply", "args": [...], "kwargs": {...}}
    response  {"ok": true, "result": ...} or {"ok": false, "error": {...}}
    arrays    referenced from the JSON as {"$a": "a0"}
    framing   [u64 length][u32 JSON length][JSON][u64 npz length][npz]
              (npz length 0 and no archive when the message carries no array)

Only JSON scalars, lists, dicts, arrays (``{"$a": key}``) and opaque object
references (``{"$r": int}``) travel.  Arrays are written with ``numpy.savez``
and read with ``allow_pickle=False``; the reader validates every value, so a
response can carry data but never an object or code.

The sender of an answer is untrusted: it controls every byte, its timing and
how much it claims to send.  So the reader bounds everything before it
spends memory or time on it:

* :func:`receive` takes a deadline for the whole message (not per ``recv``),
  and :func:`send` one for the whole request;
* the declared lengths are checked against :data:`MAX_JSON_BYTES` and
  :data:`MAX_NPZ_BYTES` before the message is read;
* the JSON's bracket depth is measured (outside strings, by regular
  expressions and numpy, so in C) before :func:`json.loads` sees it, and
  integers beyond 64 bits are refused while parsing;
* the npz archive's directory and each ``.npy`` header are read first: only
  uncompressed members, at most :data:`MAX_ARRAYS` of them, numeric dtypes,
  and shapes whose total size fits :data:`MAX_ELEMENTS` values and
  :data:`MAX_ARRAY_BYTES` bytes; only then is array data read.

Anything else raises :class:`ProtocolError` (or ``TimeoutError`` when the
deadline passes), never another exception.
"""
from __future__ import annotations

import io
import json
import math
import re
import struct
import time
import zipfile

import numpy as np
from numpy.lib import format as npy_format

from .student import MAX_ELEMENTS

__all__ = ["Ref", "ProtocolError", "encode", "decode", "loads", "read_arrays", "pack", "unpack", "send", "receive",
           "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_DEPTH", "MAX_LIST", "MAX_ARRAYS", "MAX_ARRAY_BYTES",
           "MAX_NPZ_BYTES", "MAX_MESSAGE_BYTES"]

NUMERIC_KINDS = "biuf"
# --------------------------------------------------------------------- limits of one message (either direction)
# Requests and answers are small: the arrays checks read are layer parameters and activations of
# test-sized inputs (under 100,000 values in the course's assignments), the largest the grader sends
# is an upstream gradient shaped like a forward output, and one message carries one array.
# MAX_ELEMENTS (student.py) allows more than ten times that; the byte budgets below follow from it,
# so a legitimate answer is far inside every limit.
MAX_ARRAYS = 8                           # arrays in one message (np.savez writes one member per array)
MAX_ARRAY_BYTES = 8 * MAX_ELEMENTS       # data of all arrays of a message: MAX_ELEMENTS float64 values
MAX_NPY_HEADER = 1024                    # one .npy header (a numeric array's is 128 bytes)
MAX_NDIM = 32                            # the most dimensions every supported numpy can build
_ZIP_ENTRY = 30 + 46 + 2 * 64 + 32       # local + central zip header, name twice, zip64 extra field
MAX_NPZ_BYTES = MAX_ARRAY_BYTES + MAX_ARRAYS * (MAX_NPY_HEADER + _ZIP_ENTRY) + 22
MAX_JSON_BYTES = 1_000_000
MAX_JSON_DEPTH = 64                      # brackets; encode() nests 3 per level of a dict, 1 per list
MAX_DEPTH = 20                           # levels of values in decode()
MAX_LIST = 10_000                        # items of one list or mapping
MAX_FLOAT_TEXT = 64                      # characters of one {"$f": ...} float
INT_RANGE = (-2 ** 63, 2 ** 63)          # integers outside int64 are refused
MAX_MESSAGE_BYTES = 4 + MAX_JSON_BYTES + 8 + MAX_NPZ_BYTES


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


def _in_int_range(value: int) -> bool:
    return INT_RANGE[0] <= value < INT_RANGE[1]


def decode(data, arrays, from_ref=None, depth: int = 0):
    """Inverse of :func:`encode`, validating every node (depth, list lengths, integer range)."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"message nested too deeply (more than {MAX_DEPTH} levels)")
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, int):
        if not _in_int_range(data):
            raise ProtocolError("integer outside the 64-bit range")
        return data
    if isinstance(data, list):
        if len(data) > MAX_LIST:
            raise ProtocolError(f"list too long ({len(data)} items, at most {MAX_LIST})")
        return [decode(v, arrays, from_ref, depth + 1) for v in data]
    if isinstance(data, dict) and len(data) == 1:
        (tag, payload), = data.items()
        if tag == "$f" and isinstance(payload, str):
            if len(payload) > MAX_FLOAT_TEXT:
                raise ProtocolError(f"float written with {len(payload)} characters (at most {MAX_FLOAT_TEXT})")
            try:
                return float(payload)
            except ValueError:
                raise ProtocolError(f"bad float {payload[:40]!r}") from None
        if tag == "$a" and isinstance(payload, str):
            if payload not in arrays:
                raise ProtocolError(f"array {payload[:40]!r} missing from the message")
            return arrays[payload]
        if tag == "$r" and isinstance(payload, int) and not isinstance(payload, bool):
            if not _in_int_range(payload):
                raise ProtocolError("reference outside the 64-bit range")
            return from_ref(payload) if from_ref is not None else Ref(payload)
        if tag == "$d" and isinstance(payload, list):
            if len(payload) > MAX_LIST:
                raise ProtocolError(f"mapping too long ({len(payload)} items, at most {MAX_LIST})")
            out = {}
            for item in payload:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise ProtocolError("malformed mapping")
                out[item[0]] = decode(item[1], arrays, from_ref, depth + 1)
            return out
    raise ProtocolError(f"unexpected value in message: {_preview(data)}")


def _preview(data) -> str:
    """The start of a value's text, without rendering all of a large one."""
    if isinstance(data, (list, dict)):
        return f"a {type(data).__name__} of {len(data)} items"
    if isinstance(data, float):
        return repr(data)
    return type(data).__name__


# --------------------------------------------------------------------- JSON with bounded depth and integers
_JSON_ESCAPE = re.compile(r"\\.", re.DOTALL)   # removed first, so no string holds a quote or backslash
_JSON_STRING = re.compile(r'"[^"]*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """The deepest nesting of brackets in ``text``, not counting brackets inside strings.

    Linear and free of recursion: the regular expressions drop escapes,
    strings and every other character (none of them backtracks further than
    one string), numpy's cumulative sum follows the depth.
    """
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", _JSON_ESCAPE.sub("", text)))
    steps = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    opening = (steps == ord("[")) | (steps == ord("{"))
    return int(np.cumsum(np.where(opening, 1, -1)).max(initial=0))


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # more digits than any int64 has; refused before converting
        raise ProtocolError(f"integer with {len(text.lstrip('-'))} digits (at most 64-bit integers travel)")
    value = int(text)
    if not _in_int_range(value):
        raise ProtocolError("integer outside the 64-bit range")
    return value


def _refuse_constant(name: str):
    raise ProtocolError(f"{name} is not a value this protocol sends (floats travel as {{\"$f\": text}})")


def loads(body: bytes):
    """Parse the JSON part of a message: UTF-8, at most MAX_JSON_DEPTH brackets deep, int64 integers."""
    if len(body) > MAX_JSON_BYTES:
        raise ProtocolError(f"JSON part of {len(body)} bytes, larger than {MAX_JSON_BYTES} bytes")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"JSON part is not UTF-8: {exc}") from None
    # no deeper than its opening brackets are many: most messages are measured by two counts in C
    depth = 0 if text.count("[") + text.count("{") <= MAX_JSON_DEPTH else json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ProtocolError(f"JSON nested {depth} levels deep (at most {MAX_JSON_DEPTH})")
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_refuse_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError(f"malformed JSON: {exc}") from None


# --------------------------------------------------------------------- npz read with every size checked first
_END_RECORD = struct.Struct("<4s4H2LH")   # zip end of central directory: signature, disks, entries, size, offset
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"


def read_arrays(blob: bytes) -> dict:
    """The numeric arrays of an npz archive written by ``numpy.savez`` (none for an empty array part).

    Sizes are checked before anything is decompressed or allocated: the
    archive's directory (entry count, stored members only, declared sizes),
    then each ``.npy`` header (numeric dtype, shape x itemsize within what is
    left of the byte and element budgets, and exactly that much data).
    """
    if len(blob) > MAX_NPZ_BYTES:
        raise ProtocolError(f"array part of {len(blob)} bytes, larger than {MAX_NPZ_BYTES} bytes")
    if not blob:
        return {}            # a message without arrays carries no archive
    if len(blob) < _END_RECORD.size:
        raise ProtocolError(f"array part of {len(blob)} bytes is not an npz archive")
    signature, disk, cd_disk, here, entries, cd_size, _, comment = _END_RECORD.unpack_from(blob, len(blob) - 22)
    if signature != _END_SIGNATURE or comment or disk or cd_disk or here != entries:
        raise ProtocolError("array part is not an npz archive as numpy.savez writes it (no plain end record)")
    if blob[-42:-38] == _ZIP64_LOCATOR:
        raise ProtocolError("array part has a zip64 end record; numpy.savez writes none for answers this small")
    if entries > MAX_ARRAYS or cd_size > MAX_ARRAYS * _ZIP_ENTRY:
        raise ProtocolError(f"array part lists {entries} arrays in {cd_size} bytes (at most {MAX_ARRAYS} arrays)")
    arrays: dict = {}
    budget = {"bytes": MAX_ARRAY_BYTES, "elements": MAX_ELEMENTS}
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARRAYS:
                raise ProtocolError(f"array part holds {len(members)} arrays (at most {MAX_ARRAYS})")
            for info in members:
                key = _member_key(info, arrays)
                raw = archive.read(info)  # stored, so exactly file_size bytes, all of them inside blob
                arrays[key] = _read_npy(key, raw, budget)
    except ProtocolError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable archive is a protocol error
        raise ProtocolError(f"unreadable arrays: {type(exc).__name__}: {exc}"[:300]) from None
    return arrays


def _member_key(info: zipfile.ZipInfo, seen: dict) -> str:
    """The array name of one archive member, after checking how it is stored."""
    if not info.filename.endswith(".npy"):
        raise ProtocolError(f"archive member {info.filename[:40]!r} is not a .npy array")
    key = info.filename[:-4]
    if key in seen:
        raise ProtocolError(f"array {key[:40]!r} appears twice in the archive")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ProtocolError(f"array {key[:40]!r} is compressed (zip method {info.compress_type}); "
                            "answers travel uncompressed, as numpy.savez writes them")
    if info.file_size != info.compress_size:
        raise ProtocolError(f"array {key[:40]!r} declares {info.file_size} bytes but stores {info.compress_size}")
    if info.file_size > MAX_ARRAY_BYTES + MAX_NPY_HEADER:
        raise ProtocolError(f"array {key[:40]!r} of {info.file_size} bytes is larger than {MAX_ARRAY_BYTES} bytes")
    return key


def _read_npy(key: str, raw: bytes, budget: dict) -> np.ndarray:
    """One .npy member: header checked against the budgets, then its data read without pickle."""
    name = repr(key[:40])
    fp = io.BytesIO(raw)
    version = npy_format.read_magic(fp)
    if version == (1, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_1_0(fp, max_header_size=MAX_NPY_HEADER)
    elif version == (2, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_2_0(fp, max_header_size=MAX_NPY_HEADER)
    else:
        raise ProtocolError(f"array {name} uses .npy format {version}; numeric arrays use 1.0 or 2.0")
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ProtocolError(f"array {name} has non-numeric dtype {dtype}")
    if len(shape) > MAX_NDIM or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ProtocolError(f"array {name} has an invalid shape {str(shape)[:80]}")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if count > budget["elements"] or nbytes > budget["bytes"]:
        raise ProtocolError(f"array {name} of shape {shape} and dtype {dtype} ({count} values, {nbytes} bytes) "
                            f"exceeds what is left of the limits of one message ({budget['elements']} values, "
                            f"{budget['bytes']} bytes)")
    carried = len(raw) - fp.tell()
    if carried != nbytes:
        raise ProtocolError(f"array {name} declares shape {shape} of dtype {dtype} ({nbytes} bytes) "
                            f"but carries {carried} bytes")
    fp.seek(0)
    array = npy_format.read_array(fp, allow_pickle=False, max_header_size=MAX_NPY_HEADER)
    budget["elements"] -= count
    budget["bytes"] -= nbytes
    return array


# --------------------------------------------------------------------- messages
def pack(payload: dict, arrays: dict) -> bytes:
    """One message: [u32 JSON length][JSON][u64 npz length][npz]; no npz (length 0) when there are no arrays."""
    body = json.dumps(payload).encode()
    blob = b""
    if arrays:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        blob = buf.getvalue()
    return struct.pack("<I", len(body)) + body + struct.pack("<Q", len(blob)) + blob


def unpack(data: bytes) -> tuple[dict, dict]:
    """Inverse of :func:`pack`; sizes first, then bounded JSON, then numeric arrays loaded without pickle."""
    if len(data) < 4:
        raise ProtocolError(f"malformed message: {len(data)} bytes")
    (json_len,) = struct.unpack_from("<I", data, 0)
    if json_len > MAX_JSON_BYTES:
        raise ProtocolError(f"JSON part larger than {MAX_JSON_BYTES} bytes ({json_len})")
    if len(data) < 12 + json_len:
        raise ProtocolError(f"malformed message: {len(data)} bytes cannot hold a JSON part of {json_len}")
    (npz_len,) = struct.unpack_from("<Q", data, 4 + json_len)
    if npz_len > MAX_NPZ_BYTES:
        raise ProtocolError(f"array part of {npz_len} bytes, larger than {MAX_NPZ_BYTES} bytes")
    if len(data) - 12 - json_len != npz_len:
        raise ProtocolError(f"array part has the wrong length ({len(data) - 12 - json_len} bytes, "
                            f"{npz_len} declared)")
    payload = loads(data[4:4 + json_len])
    if not isinstance(payload, dict):
        raise ProtocolError("message is not a JSON object")
    return payload, read_arrays(data[12 + json_len:])


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the message did not get through before the deadline")
    return left


def send(sock, payload: dict, arrays: dict, deadline: float | None = None) -> None:
    """Send one message; with a ``deadline`` (time.monotonic()), all of it must be taken by then."""
    data = pack(payload, arrays)
    message = memoryview(struct.pack("<Q", len(data)) + data)
    if deadline is None:
        sock.sendall(message)
        return
    sent = 0
    while sent < len(message):
        sock.settimeout(_time_left(deadline))
        sent += sock.send(message[sent:])


def _recv_exact(sock, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            sock.settimeout(_time_left(deadline))  # what is left of the whole message's time, per recv
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive(sock, deadline: float | None = None) -> tuple[dict, dict]:
    """Read one message; with a ``deadline`` (time.monotonic()), all of it must arrive by then.

    Raises TimeoutError when the deadline passes, however the bytes trickle
    in, and ProtocolError for a declared length beyond the limits (before
    reading it) or a malformed message.
    """
    (length,) = struct.unpack("<Q", _recv_exact(sock, 8, deadline))
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {length} bytes is larger than {MAX_MESSAGE_BYTES} bytes")
    return unpack(_recv_exact(sock, length, deadline))
