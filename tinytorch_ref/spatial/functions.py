"""Autograd ops for the spatial layers: the "op API" behind Conv2d and the pools.

Each class wraps a forward/backward pair from a backend module
(:mod:`~tinytorch_ref.spatial.naive` or :mod:`~tinytorch_ref.spatial.fast`)
as a :class:`~tinytorch_ref.core.tensor.Function`: settings go to
``__init__``, tensors to the call, and the backward pass simply hands the
upstream gradient and the forward's cache to the backend::

    y = Conv2dFunction(stride=1, padding=1)(x, weight, bias)   # bias may be omitted or None
    y = MaxPool2dFunction(kernel=2)(x)                           # stride defaults to kernel
    y.backward(grad)                                             # fills x.grad, weight.grad, ...

Create a new instance for every call (the cache lives on the instance).
"""
from __future__ import annotations

from types import ModuleType

from ..core.tensor import Function
from . import fast, naive
from .shapes import check_pool_padding, nonnegative_pair, positive_pair

__all__ = ["Conv2dFunction", "MaxPool2dFunction", "AvgPool2dFunction", "get_backend", "BACKENDS"]

BACKENDS: dict[str, ModuleType] = {"naive": naive, "fast": fast}


def get_backend(impl: str) -> ModuleType:
    """The backend module called ``impl``; ValueError listing the valid names otherwise."""
    if isinstance(impl, str) and impl in BACKENDS:
        return BACKENDS[impl]
    raise ValueError(f"impl must be one of {sorted(BACKENDS)}, got {impl!r}")


class Conv2dFunction(Function):
    """Differentiable 2-D convolution: ``(x, weight[, bias]) -> out``.

    Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,) or None
    -> out (N, F, OH, OW) with ``OH = (H + 2*padding_h - KH) // stride_h + 1``.
    Backward returns ``(dx, dweight[, dbias])``, one gradient per input given.
    """

    def __init__(self, stride=1, padding=0, impl: str = "fast"):
        self.stride = positive_pair(stride, "stride", "Conv2dFunction")
        self.padding = nonnegative_pair(padding, "padding", "Conv2dFunction")
        self.backend = get_backend(impl)

    def forward(self, x, weight, *bias):
        if len(bias) > 1:
            raise TypeError(f"Conv2dFunction takes (x, weight[, bias]), got {2 + len(bias)} inputs")
        self.n_inputs = 2 + len(bias)      # backward returns one gradient per input, even a None bias
        out, self.cache = self.backend.conv2d_forward(
            x, weight, bias[0] if bias else None, self.stride, self.padding)
        return out

    def backward(self, grad_out):
        dx, dweight, dbias = self.backend.conv2d_backward(grad_out, self.cache)
        return (dx, dweight, dbias)[:self.n_inputs]


class _Pool2dFunction(Function):
    """Shared set-up of the pooling ops: kernel, stride (default: kernel), padding, backend."""

    op = "pool2d"

    def __init__(self, kernel, stride=None, padding=0, impl: str = "fast"):
        name = type(self).__name__
        self.kernel = positive_pair(kernel, "kernel", name)
        self.stride = self.kernel if stride is None else positive_pair(stride, "stride", name)
        self.padding = nonnegative_pair(padding, "padding", name)
        check_pool_padding(self.kernel, self.padding, name)
        self.backend = get_backend(impl)

    def forward(self, x):
        out, self.cache = getattr(self.backend, self.op + "_forward")(x, self.kernel, self.stride, self.padding)
        return out

    def backward(self, grad_out):
        return (getattr(self.backend, self.op + "_backward")(grad_out, self.cache),)


class MaxPool2dFunction(_Pool2dFunction):
    """Differentiable max pooling ``x (N, C, H, W) -> (N, C, OH, OW)``; padding counts as -inf.

    The gradient of each output goes to the first maximum of its window
    (row-major order); overlapping windows add up.
    """

    op = "maxpool2d"


class AvgPool2dFunction(_Pool2dFunction):
    """Differentiable average pooling; zero padding counted in the average (divisor KH*KW)."""

    op = "avgpool2d"
