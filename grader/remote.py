"""RemoteStudent: the Student adapter whose operations run in the sandboxed kernel.

Each operation is one round trip: the request (JSON + arrays) is written to
the sandbox's I/O directory, the kernel is asked to run the agent on it, and
the response is read back and validated.  What comes back is only data:
numbers, numeric arrays and opaque references, never an object.
"""
from __future__ import annotations

import os

import numpy as np

from .public import protocol
from .public.protocol import ProtocolError, Ref
from .public.student import MAX_ELEMENTS, StudentError

__all__ = ["RemoteStudent", "KernelLost", "CallTimedOut"]


class KernelLost(Exception):
    """The kernel died (or stopped responding) during a call into student code."""


class CallTimedOut(Exception):
    """A call into student code did not finish in time."""


class RemoteStudent:
    """Student adapter over a running kernel.

    ``run_in_kernel(code, timeout) -> str`` executes agent code in the kernel and
    returns "ok", "timeout" or "dead" (the executor owns the kernel).
    """

    def __init__(self, io_dir: str, run_in_kernel, timeout: float):
        self.io_dir, self.run_in_kernel, self.timeout = io_dir, run_in_kernel, timeout
        self.calls = 0

    def _roundtrip(self, op: str, *args, **kwargs):
        self.calls += 1
        n = self.calls
        arrays: dict = {}
        payload = {"op": op, "args": protocol.encode(list(args), arrays),
                   "kwargs": protocol.encode(kwargs, arrays)}
        for suffix in (".json", ".npz"):
            path = os.path.join(self.io_dir, f"resp-{n}{suffix}")
            if os.path.lexists(path):
                os.remove(path)
        protocol.write_message(self.io_dir, f"req-{n}", payload, arrays)
        code = f"__import__('spatial_checks.agent').agent.serve({self.io_dir!r}, {n})"
        status = self.run_in_kernel(code, self.timeout)
        if status == "timeout":
            raise CallTimedOut(f"{op} did not finish within {self.timeout:g} s")
        if status == "dead":
            raise KernelLost(f"the kernel died during {op}")
        try:
            response, arrays_in = protocol.read_message(self.io_dir, f"resp-{n}")
            if response.get("ok") is True:
                return protocol.decode(response.get("result"), arrays_in)
            error = response.get("error")
            if not isinstance(error, dict):
                raise ProtocolError("malformed error")
        except ProtocolError as exc:
            raise StudentError(f"answering the grader ({op})", "ProtocolError",
                               f"the kernel's answer was unusable: {exc}") from None
        finally:
            for stem in (f"req-{n}", f"resp-{n}"):
                for suffix in (".json", ".npz"):
                    path = os.path.join(self.io_dir, stem + suffix)
                    if os.path.lexists(path):
                        os.remove(path)
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
        return bool(self._roundtrip("has", name))

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
