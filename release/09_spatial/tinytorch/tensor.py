"""Tensor with reverse-mode automatic differentiation.

This is the foundation students are assumed to have built in modules 01-08.

A ``Tensor`` wraps a numpy array (``.data``).  Operations on tensors that
require gradients record a graph of :class:`Function` nodes; ``backward()``
walks that graph in reverse topological order and accumulates gradients into
the ``.grad`` of every leaf tensor that has ``requires_grad=True``.

Defining a new differentiable op
--------------------------------
Subclass :class:`Function`, implement ``forward`` on numpy arrays and
``backward`` returning one gradient per input, then call the instance on
tensors::

    class Square(Function):
        def forward(self, x):
            self.x = x                 # save what backward needs
            return x * x

        def backward(self, grad_out):
            return (2 * self.x * grad_out,)

    y = Square()(t)                    # y is a Tensor wired into the graph

A new instance is created for every application, so saved state never leaks
between calls.  ``backward`` may return ``None`` for an input that needs no
gradient.  An input passed as ``None`` (an optional bias, say) reaches
``forward`` as ``None`` and its gradient is ignored.  Non-tensor settings (stride, padding, ...) go to ``__init__``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Tensor", "Function", "no_grad", "is_grad_enabled"]

_grad_enabled = True


class no_grad:
    """Context manager that disables graph recording (e.g. for evaluation)."""

    def __enter__(self):
        global _grad_enabled
        self._previous, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False


def is_grad_enabled() -> bool:
    return _grad_enabled


def _as_array(data) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    array = np.asarray(data)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return array


class Tensor:
    """An n-dimensional array that can take part in automatic differentiation.

    Args:
        data: anything ``numpy.asarray`` accepts; integer and boolean data is
            converted to float64, floating data keeps its dtype.
        requires_grad: if True, ``backward()`` accumulates into ``.grad``.

    Attributes:
        data (np.ndarray): the values.
        grad (np.ndarray | None): accumulated gradient, same shape as data.
        requires_grad (bool)
    """

    __array_priority__ = 1000  # make ndarray + Tensor dispatch to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False):
        self.data = _as_array(data)
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._fn: Function | None = None  # the op that produced this tensor
        self._parents: tuple[Tensor, ...] = ()

    # ------------------------------------------------------------------ info
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{grad})"

    # -------------------------------------------------------------- autograd
    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def backward(self, grad=None) -> None:
        """Back-propagate ``grad`` (default: ones for a scalar) through the graph.

        Gradients accumulate into ``.grad`` of every leaf with requires_grad.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without an argument needs a scalar tensor; this one has shape {self.shape}. "
                    "Pass the upstream gradient explicitly: t.backward(grad)")
            grad = np.ones_like(self.data)
        grad = _as_array(grad)
        if grad.shape != self.shape:
            raise ValueError(f"backward(): gradient has shape {grad.shape}, expected {self.shape}")

        order: list[Tensor] = []
        seen: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:  # iterative DFS post-order: deep graphs do not hit the recursion limit
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for parent in node._parents:
                if parent is not None and parent.requires_grad and id(parent) not in seen:
                    stack.append((parent, False))

        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._fn is None:  # leaf
                node.grad = g.copy() if node.grad is None else node.grad + g
                continue
            parent_grads = node._fn.backward(g)
            if not isinstance(parent_grads, (tuple, list)):
                parent_grads = (parent_grads,)
            extra = parent_grads[len(node._parents):]
            if all(e is None for e in extra):  # e.g. (dx, dw, None) for an op called without its bias
                parent_grads = parent_grads[:len(node._parents)]
            if len(parent_grads) != len(node._parents):
                raise RuntimeError(
                    f"{type(node._fn).__name__}.backward returned {len(parent_grads)} gradients "
                    f"for {len(node._parents)} inputs")
            for parent, pg in zip(node._parents, parent_grads):
                if pg is None or parent is None or not parent.requires_grad:
                    continue
                pg = np.asarray(pg)
                if pg.shape != parent.shape:
                    raise RuntimeError(
                        f"{type(node._fn).__name__}.backward returned a gradient of shape {pg.shape} "
                        f"for an input of shape {parent.shape}")
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return Add()(self, _lift(other))

    __radd__ = __add__

    def __sub__(self, other):
        return Add()(self, Neg()(_lift(other)))

    def __rsub__(self, other):
        return Add()(_lift(other), Neg()(self))

    def __neg__(self):
        return Neg()(self)

    def __mul__(self, other):
        return Mul()(self, _lift(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return Mul()(self, Reciprocal()(_lift(other)))

    def __rtruediv__(self, other):
        return Mul()(_lift(other), Reciprocal()(self))

    def __pow__(self, exponent: float):
        return Pow(exponent)(self)

    def __matmul__(self, other):
        return MatMul()(self, _lift(other))

    def __rmatmul__(self, other):
        return MatMul()(_lift(other), self)

    def sum(self, axis=None, keepdims: bool = False):
        return Sum(axis, keepdims)(self)

    def mean(self, axis=None, keepdims: bool = False):
        count = self.data.size if axis is None else np.prod([self.shape[a] for a in np.atleast_1d(axis)])
        return self.sum(axis, keepdims) * (1.0 / count)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape(shape)(self)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return Transpose(axes or None)(self)

    def relu(self):
        return ReLUFn()(self)


def _lift(value) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)


class Function:
    """A differentiable operation: ``forward`` on arrays, ``backward`` on gradients.

    Subclasses implement:
        forward(self, *arrays) -> np.ndarray
        backward(self, grad_out: np.ndarray) -> tuple of (np.ndarray | None), one per input

    Calling an instance on Tensors runs ``forward`` and, when any input
    requires a gradient (and grad mode is on), records the node in the graph.
    """

    def forward(self, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, grad_out: np.ndarray):
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def __call__(self, *inputs) -> Tensor:
        # None stays None (an optional input such as a missing bias); its gradient is ignored.
        tensors = tuple(None if t is None else _lift(t) for t in inputs)
        out = Tensor(self.forward(*(None if t is None else t.data for t in tensors)))
        if _grad_enabled and any(t is not None and t.requires_grad for t in tensors):
            out.requires_grad = True
            out._fn = self
            out._parents = tensors
        return out


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting expanded to reach ``shape``."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        return _unbroadcast(g, self.shapes[0]), _unbroadcast(g, self.shapes[1])


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return _unbroadcast(g * self.b, self.a.shape), _unbroadcast(g * self.a, self.b.shape)


class Reciprocal(Function):
    def forward(self, a):
        self.out = 1.0 / a
        return self.out

    def backward(self, g):
        return (-g * self.out * self.out,)


class Pow(Function):
    def __init__(self, exponent: float):
        self.exponent = exponent

    def forward(self, a):
        self.a = a
        return a ** self.exponent

    def backward(self, g):
        return (g * self.exponent * self.a ** (self.exponent - 1),)


class MatMul(Function):
    """(..., n, k) @ (k, m) -> (..., n, m); both operands may carry batch axes."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        # As numpy does in the forward pass: a 1-D ``a`` is a (1, k) row, a 1-D ``b`` a (k, 1) column,
        # and the axis of size 1 they add is missing from ``g``; put it back, then drop it again.
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = np.expand_dims(g, -1) if b.ndim == 1 else g
        g2 = np.expand_dims(g2, -2) if a.ndim == 1 else g2
        ga = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape)
        gb = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape)
        return ga.reshape(a.shape), gb.reshape(b.shape)


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.shape = a.shape
        return np.asarray(a.sum(axis=self.axis, keepdims=self.keepdims))

    def backward(self, g):
        if self.axis is not None and not self.keepdims:
            g = np.expand_dims(g, tuple(np.atleast_1d(self.axis) % len(self.shape)))
        return (np.broadcast_to(g, self.shape).copy(),)


class Reshape(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, a):
        self.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, g):
        return (g.reshape(self.in_shape),)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, a):
        self.inverse = None if self.axes is None else tuple(np.argsort(self.axes))
        return a.transpose(self.axes)

    def backward(self, g):
        return (g.transpose(self.inverse),)


class ReLUFn(Function):
    def forward(self, a):
        self.mask = a > 0
        return np.where(self.mask, a, 0).astype(a.dtype, copy=False)  # not a * mask: -inf * 0 is nan

    def backward(self, g):
        return (g * self.mask,)
