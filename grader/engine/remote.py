"""RemoteStudent: the Student adapter whose operations run in the sandboxed kernel.

Each operation is one round trip over the agent's Unix socket (see
public/agent.py): the request goes out as JSON + arrays, the response is read
back and validated.  What comes back is only data:
numbers, numeric arrays and opaque references, never an object.

The kernel is untrusted, so each round trip is bounded by the grader: the
request must be taken and the whole answer must arrive within the call's
timeout (one deadline over every send and recv, so an answer that trickles in
byte by byte still ends as :class:`CallTimedOut`), and an answer that breaks
the protocol's limits (public/protocol.py) is refused with
:class:`AnswerRefused`, which fails the check that asked and says why.
"""
from __future__ import annotations

import time

import numpy as np

from gradekit import protocol
from gradekit.protocol import ProtocolError, Ref
from gradekit.student import MAX_ELEMENTS, StudentError

__all__ = ["RemoteStudent", "KernelLost", "CallTimedOut", "AnswerRefused"]


class KernelLost(Exception):
    """The kernel died (or stopped responding) during a call into student code."""


class CallTimedOut(Exception):
    """A call into student code did not finish in time."""


class AnswerRefused(StudentError):
    """The kernel's answer broke the protocol or its limits; the check that asked fails with this reason.

    A StudentError (so an AssertionError): it fails that check like a wrong
    value, never as an error of the grader.
    """

    def __init__(self, op: str, reason: str):
        super().__init__(f"answering the grader ({op})", "ProtocolError", reason)
        self.op, self.reason = op, reason
        self.args = (f"your kernel's answer was refused ({op}): {reason}",)

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):
        return (type(self), (self.op, self.reason))


class RemoteStudent:
    """Student adapter over the agent socket of a running kernel.

    ``connect() -> socket`` opens a connection to the agent (the executor owns
    the kernel and knows where the socket is).
    """

    def __init__(self, connect, timeout: float):
        self.connect, self.timeout = connect, timeout
        self.sock = None
        self.calls = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def reset(self) -> None:
        """Let the agent forget every object handed out so far."""
        self._roundtrip("reset")

    def _roundtrip(self, op: str, *args, **kwargs):
        self.calls += 1
        arrays: dict = {}
        payload = {"op": op, "args": protocol.encode(list(args), arrays),
                   "kwargs": protocol.encode(kwargs, arrays)}
        deadline = time.monotonic() + self.timeout  # for the request and the whole answer together
        try:
            if self.sock is None:
                self.sock = self.connect()
            protocol.send(self.sock, payload, arrays, deadline=deadline)
            response, arrays_in = protocol.receive(self.sock, deadline=deadline)
        except TimeoutError:  # TimeoutError: the deadline passed, however the bytes trickled
            self.close()
            raise CallTimedOut(f"{op} did not finish within {self.timeout:g} s") from None
        except (EOFError, OSError) as exc:
            self.close()
            raise KernelLost(f"lost the kernel during {op}: {exc}") from None
        except ProtocolError as exc:
            self.close()
            raise AnswerRefused(op, str(exc)) from None
        try:
            if response.get("ok") is True:
                return protocol.decode(response.get("result"), arrays_in)
            error = response.get("error")
            if not isinstance(error, dict):
                raise ProtocolError("malformed error")
        except ProtocolError as exc:
            raise AnswerRefused(op, str(exc)) from None
        text = {k: str(error.get(k, ""))[:600] for k in ("action", "type", "detail", "where")}
        if error.get("kind") == "protocol":
            raise StudentError(f"answering the grader ({op})", "ProtocolError", text["detail"])
        raise StudentError(text["action"] or op, text["type"] or "Error", text["detail"], text["where"])

    # -- validated operations -------------------------------------------
    def _ref(self, value, op: str):
        if value is None or isinstance(value, Ref):
            return value
        raise StudentError(op, "ProtocolError", f"expected an object reference, got {type(value).__name__}")

    def _array(self, value, op: str, allow_none: bool = False):
        if value is None and allow_none:
            return None
        if not isinstance(value, np.ndarray):
            raise StudentError(op, "TypeError", f"expected an array, got {type(value).__name__}")
        if value.size > MAX_ELEMENTS:
            raise StudentError(op, "ValueError", f"array with {value.size} elements is too large")
        return value

    def has(self, name: str) -> bool:
        result = self._roundtrip("has", name)
        if not isinstance(result, bool):
            raise StudentError("looking up a name", "ProtocolError", "the agent did not answer with True/False")
        return result

    def call(self, name: str, *args, **kwargs):
        result = self._roundtrip("call", name, *args, **kwargs)
        if result is None or isinstance(result, (bool, int, float, np.ndarray)):
            return result
        raise StudentError(f"calling {name}", "TypeError", "returned something that is not a number")

    def new(self, class_name: str, *args, **kwargs):
        return self._ref(self._roundtrip("new", class_name, *args, **kwargs), f"creating {class_name}")

    def tensor(self, array, requires_grad: bool = False):
        return self._ref(self._roundtrip("tensor", np.asarray(array), requires_grad=requires_grad), "Tensor")

    def apply(self, obj, *inputs):
        return self._ref(self._roundtrip("apply", obj, *inputs), "forward")

    def backward(self, tensor, grad) -> None:
        self._roundtrip("backward", tensor, np.asarray(grad))

    def data(self, tensor) -> np.ndarray:
        return self._array(self._roundtrip("data", tensor), "reading .data")

    def grad(self, tensor):
        return self._array(self._roundtrip("grad", tensor), "reading .grad", allow_none=True)

    def attr(self, obj, name: str):
        return self._ref(self._roundtrip("attr", obj, name), f"reading .{name}")

    def parameters(self, obj) -> list:
        result = self._roundtrip("parameters", obj)
        if not isinstance(result, list) or not all(isinstance(r, Ref) for r in result):
            raise StudentError("calling parameters()", "TypeError", "did not return a list of tensors")
        return result

    def set_data(self, tensor, array) -> None:
        self._roundtrip("set_data", tensor, np.asarray(array))

    def zero_grad(self, tensor) -> None:
        self._roundtrip("zero_grad", tensor)
