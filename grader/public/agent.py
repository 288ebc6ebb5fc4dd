"""The grading agent: runs inside the student's (sandboxed) kernel.

The trusted grader writes a request file and executes
``__import__("spatial_checks.agent").agent.serve(directory, n)`` in the
kernel.  ``serve`` performs one :class:`~.student.LocalStudent` operation on
the notebook's namespace and writes back plain data.  It decides nothing:
every verdict is computed by the grader from the returned arrays.
"""
from __future__ import annotations

from . import protocol
from .student import LocalStudent, StudentError

OPERATIONS = {"has", "call", "new", "tensor", "apply", "backward", "data", "grad",
              "attr", "parameters", "set_data", "zero_grad"}

_handles: dict[int, object] = {}
_student: LocalStudent | None = None


def _to_ref(obj) -> int:
    key = len(_handles) + 1
    _handles[key] = obj
    return key


def _from_ref(key: int):
    if key not in _handles:
        raise protocol.ProtocolError(f"unknown reference {key}")
    return _handles[key]


def reset() -> None:
    """Forget every object handed out so far."""
    _handles.clear()


def serve(directory: str, n: int) -> None:
    global _student
    if _student is None:
        _student = LocalStudent()
    arrays_out: dict = {}
    try:
        payload, arrays = protocol.read_message(directory, f"req-{n}")
        op = payload.get("op")
        if op not in OPERATIONS:
            raise protocol.ProtocolError(f"unknown operation {op!r}")
        args = protocol.decode(payload.get("args", []), arrays, _from_ref)
        kwargs = protocol.decode(payload.get("kwargs", {"$d": []}), arrays, _from_ref)
        result = getattr(_student, op)(*args, **kwargs)
        response = {"ok": True, "result": protocol.encode(result, arrays_out, _to_ref)}
    except StudentError as exc:
        arrays_out = {}
        response = {"ok": False, "error": {"kind": "student", "action": exc.action, "type": exc.exc_type,
                                           "detail": exc.detail, "where": exc.where}}
    except protocol.ProtocolError as exc:
        arrays_out = {}
        response = {"ok": False, "error": {"kind": "protocol", "detail": str(exc)}}
    protocol.write_message(directory, f"resp-{n}", response, arrays_out)


__all__ = ["serve", "reset", "OPERATIONS"]
