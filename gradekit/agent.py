"""The grading agent: a thread inside the student's (sandboxed) kernel.

The trusted grader starts it before any student cell runs::

    __import__("gradekit.agent").agent.listen("/…/io/agent.sock")

and then, between cells, sends it requests over that Unix socket.  Each
request is one :class:`~.student.LocalStudent` operation on the notebook's
namespace (or ``reset``, or ``forbidden_imports``: what the import guard of
``imports.py`` saw since the last request); the answer is plain data
(numbers, strings, numeric arrays, opaque references).  The agent decides nothing: every verdict is computed by the
grader from the returned arrays.  While an operation runs, anything the
student's code prints is discarded (it never reaches the notebook).
"""
from __future__ import annotations

import io
import os
import socket
import sys
import threading

from . import imports, protocol
from .student import LocalStudent, StudentError

OPERATIONS = {"has", "call", "new", "tensor", "apply", "backward", "data", "grad",
              "attr", "parameters", "set_data", "zero_grad"}

_handles: dict[int, object] = {}


def _to_ref(obj) -> int:
    key = len(_handles) + 1
    _handles[key] = obj
    return key


def _from_ref(key: int):
    if key not in _handles:
        raise protocol.ProtocolError(f"unknown reference {key}")
    return _handles[key]


class _Discard(io.TextIOBase):
    def write(self, text):
        return len(text)


def handle(payload: dict, arrays: dict, student: LocalStudent) -> tuple[dict, dict]:
    """Perform one request; never raises."""
    arrays_out: dict = {}
    op = payload.get("op")
    try:
        if op == "reset":
            _handles.clear()
            return {"ok": True, "result": None}, {}
        if op == imports.GUARD_OP:  # what the import guard saw since the last request (public/imports.py)
            return {"ok": True, "result": protocol.encode(imports.take_attempts(), arrays_out)}, {}
        if op not in OPERATIONS:
            raise protocol.ProtocolError(f"unknown operation {op!r}")
        args = protocol.decode(payload.get("args", []), arrays, _from_ref)
        kwargs = protocol.decode(payload.get("kwargs", {"$d": []}), arrays, _from_ref)
        result = getattr(student, op)(*args, **kwargs)
        return {"ok": True, "result": protocol.encode(result, arrays_out, _to_ref)}, arrays_out
    except StudentError as exc:
        return {"ok": False, "error": {"kind": "student", "action": exc.action, "type": exc.exc_type,
                                       "detail": exc.detail, "where": exc.where}}, {}
    except protocol.ProtocolError as exc:
        return {"ok": False, "error": {"kind": "protocol", "detail": str(exc)}}, {}


def _serve(server: socket.socket) -> None:
    student = LocalStudent()
    while True:
        conn, _ = server.accept()
        with conn:
            while True:
                try:
                    payload, arrays = protocol.receive(conn)
                except (EOFError, OSError, protocol.ProtocolError):
                    break
                saved = sys.stdout, sys.stderr
                sys.stdout = sys.stderr = _Discard()
                try:
                    response, arrays_out = handle(payload, arrays, student)
                finally:
                    sys.stdout, sys.stderr = saved
                protocol.send(conn, response, arrays_out)


def listen(path: str) -> None:
    """Start the agent thread, listening on the Unix socket ``path``."""
    if os.path.exists(path):
        os.remove(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    threading.Thread(target=_serve, args=(server,), name="grading-agent", daemon=True).start()


__all__ = ["listen", "handle", "OPERATIONS"]
