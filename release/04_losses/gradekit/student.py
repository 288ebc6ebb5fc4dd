"""The adapter through which checks drive a student's implementation.

Checks never touch student objects directly.  They call the small set of
operations below, which only ever hand back *plain data* (numbers, numpy
arrays, opaque references).  ``LocalStudent`` performs them in-process on
the notebook's namespace; the trusted grader performs the very same
operations inside the sandboxed kernel (see ``agent.py``) and receives only
arrays, so no student object can reach the code that decides a verdict.
"""
from __future__ import annotations

import sys
import traceback

import numpy as np

__all__ = ["StudentError", "LocalStudent", "to_plain_array"]

# The most values one result may hold; a bigger one is rejected, not copied.  Checks read arrays of
# test-sized inputs (under 100,000 values in the course's assignments), so this leaves tenfold room;
# the protocol's byte budgets (protocol.MAX_ARRAY_BYTES, MAX_NPZ_BYTES) are derived from it.
MAX_ELEMENTS = 1_000_000


class StudentError(AssertionError):
    """The student's code raised (or misbehaved) while a check was calling it.

    It is an AssertionError so that, inside a check, it counts as that check
    failing (the same way as a wrong value).

    ``action`` says what the check was doing in words (``"calling Conv2d(3, 4, 3)"``),
    ``exc_type``/``detail`` describe the exception, ``where`` is the student's own
    line that raised, when known.
    """

    def __init__(self, action: str, exc_type: str, detail: str, where: str = ""):
        self.action, self.exc_type, self.detail, self.where = action, exc_type, detail, where
        text = f"{action} raised {exc_type}"
        if detail:
            text += f": {detail}"
        if where:
            text += f" ({where})"
        super().__init__(text)

    def __reduce__(self):  # keep it picklable across process pools
        return (type(self), (self.action, self.exc_type, self.detail, self.where))


def _student_frame(tb) -> str:
    """The innermost traceback frame that belongs to notebook code, as 'line N: source'."""
    where = ""
    for frame in traceback.extract_tb(tb):  # notebook cells are "<ipython-input-…>" or ".../ipykernel_<pid>/<n>.py"
        if frame.filename.startswith("<ipython") or "ipykernel_" in frame.filename:
            where = f"line {frame.lineno}: {(frame.line or '').strip()}"[:200]
    return where


def to_plain_array(value, what: str) -> np.ndarray:
    """Copy ``value`` (ndarray, Tensor-like with ``.data``, list) into a numeric ndarray.

    Raises StudentError when it is not numeric data.
    """
    if hasattr(value, "data") and not isinstance(value, np.ndarray):
        value = value.data
    try:
        array = np.array(value, copy=True)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the student's
        raise StudentError(what, type(exc).__name__, str(exc)[:300]) from None
    if array.dtype.kind not in "biuf":
        raise StudentError(what, "TypeError",
                           f"expected numeric data, got an array of dtype {array.dtype}")
    if array.size > MAX_ELEMENTS:
        raise StudentError(what, "ValueError", f"result has {array.size} elements, more than {MAX_ELEMENTS}")
    return array


def _describe_call(name: str, args, kwargs) -> str:
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    return repr(value)


class LocalStudent:
    """Performs check operations on objects defined in a namespace (the notebook's globals).

    References returned by ``new``/``tensor``/``apply``/``attr``/``parameters``
    are the objects themselves; callers treat them as opaque.
    """

    def __init__(self, namespace: dict | None = None):
        self.ns = namespace if namespace is not None else vars(sys.modules["__main__"])

    # -- helpers ------------------------------------------------------------
    def _lookup(self, name: str):
        if name not in self.ns:
            raise StudentError(f"looking up {name}", "NameError",
                               f"{name} is not defined; run the cell that defines it first")
        return self.ns[name]

    def _guard(self, action: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StudentError:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - report every failure of student code
            raise StudentError(action, type(exc).__name__, str(exc)[:500], _student_frame(exc.__traceback__)) from None

    # -- operations ---------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.ns

    def call(self, name: str, *args, **kwargs):
        """Call a plain function; the result must be a number (or array of numbers)."""
        fn = self._lookup(name)
        action = f"calling {_describe_call(name, args, kwargs)}"
        result = self._guard(action, fn, *args, **kwargs)
        if isinstance(result, (bool, np.bool_)):
            return bool(result)
        if isinstance(result, (int, np.integer)):
            return int(result)
        if isinstance(result, (float, np.floating)):
            return float(result)
        if result is None:
            return None
        return to_plain_array(result, action)

    def new(self, class_name: str, *args, **kwargs):
        cls = self._lookup(class_name)
        return self._guard(f"creating {_describe_call(class_name, args, kwargs)}", cls, *args, **kwargs)

    def tensor(self, array, requires_grad: bool = False):
        tensor_cls = self._lookup("Tensor")
        return self._guard("creating a Tensor", tensor_cls, np.array(array), requires_grad=requires_grad)

    def apply(self, obj, *inputs):
        name = type(obj).__name__
        return self._guard(f"calling {name}(...) (its forward pass)", obj, *inputs)

    def backward(self, tensor, grad) -> None:
        if not hasattr(tensor, "backward"):
            raise StudentError("calling .backward() on the output", "AttributeError",
                               f"the output is a {type(tensor).__name__}, not a Tensor")
        self._guard("calling .backward() on the output", tensor.backward, np.array(grad))

    def data(self, tensor) -> np.ndarray:
        if tensor is None:
            raise StudentError("reading the output", "TypeError", "got None instead of a Tensor")
        return to_plain_array(tensor, f"reading .data of a {type(tensor).__name__}")

    def grad(self, tensor):
        g = getattr(tensor, "grad", None)
        return None if g is None else to_plain_array(g, "reading .grad")

    def attr(self, obj, name: str):
        if not hasattr(obj, name):
            raise StudentError(f"reading {type(obj).__name__}.{name}", "AttributeError",
                               f"{type(obj).__name__} has no attribute {name!r}")
        return self._guard(f"reading {type(obj).__name__}.{name}", getattr, obj, name)

    def parameters(self, obj) -> list:
        params = self._guard(f"calling {type(obj).__name__}.parameters()", obj.parameters)
        return list(params)

    def set_data(self, tensor, array) -> None:
        if tensor is None:
            raise StudentError("setting parameter values", "TypeError", "the parameter is None")
        new = np.array(array, copy=True)
        old = getattr(tensor, "data", None)
        if isinstance(old, np.ndarray) and old.dtype.kind == "f":
            new = new.astype(old.dtype)
        self._guard("setting parameter values", setattr, tensor, "data", new)

    def zero_grad(self, tensor) -> None:
        self._guard("clearing .grad", setattr, tensor, "grad", None)
