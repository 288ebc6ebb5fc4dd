"""Spatial layers: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d`` and ``Flatten``.

Each layer is a :class:`~tinytorch_ref.core.nn.Module` (callable, with
``parameters()``) that checks its settings when it is built, checks the
input when it is called, and runs one autograd Function from
:mod:`~tinytorch_ref.spatial.functions`.  ``impl`` picks the backend:
``"fast"`` (default, vectorised) or ``"naive"`` (explicit loops).

Semantics follow ``torch.nn``: NCHW layout, cross-correlation, zero padding
for the convolution, ``-inf`` padding for max pooling, ``count_include_pad=True``
for average pooling, output sizes rounded down.
"""
from __future__ import annotations

import numpy as np

from ..core.nn import Module
from ..core.tensor import Tensor
from .functions import AvgPool2dFunction, Conv2dFunction, MaxPool2dFunction, get_backend
from .shapes import check_nchw, check_pool_padding, nonnegative_pair, positive_int, positive_pair, window_output_shape

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "Flatten"]


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


class Conv2d(Module):
    """2-D convolution over an (N, C_in, H, W) batch.

    Args:
        in_channels, out_channels: C_in and C_out.
        kernel_size, stride, padding: an int or an ``(h, w)`` pair.
        bias: add a learned bias per output channel.
        impl: ``"fast"`` or ``"naive"``.

    Shapes::

        x (N, C_in, H, W) -> y (N, C_out, H_out, W_out)
        H_out = floor((H + 2 * padding[0] - kernel_size[0]) / stride[0]) + 1     (W_out alike)

    Formula (cross-correlation, as in PyTorch; the kernel is not flipped)::

        y[n, f, i, j] = bias[f] + sum_{c, u, v} x_pad[n, c, i*stride[0] + u, j*stride[1] + v] * weight[f, c, u, v]

    Attributes:
        weight: Tensor (C_out, C_in, kh, kw), He-normal: std = sqrt(2 / (C_in * kh * kw)),
            drawn with ``np.random.normal`` (``np.random.seed`` makes it reproducible).
        bias: Tensor (C_out,) of zeros, or None when ``bias=False``.

    Parameters: ``C_out * C_in * kh * kw + C_out`` (with bias); Conv2d(3, 32, 3) has
    32 * 3 * 3 * 3 + 32 = 896.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, impl: str = "fast"):
        self.in_channels = positive_int(in_channels, "in_channels", "Conv2d")
        self.out_channels = positive_int(out_channels, "out_channels", "Conv2d")
        self.kernel_size = positive_pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = positive_pair(stride, "stride", "Conv2d")
        self.padding = nonnegative_pair(padding, "padding", "Conv2d")
        get_backend(impl)
        self.impl = impl
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        self.weight = Tensor(np.random.normal(0.0, np.sqrt(2.0 / fan_in),
                                              (self.out_channels, self.in_channels, kh, kw)),
                             requires_grad=True)
        self.bias = Tensor(np.zeros(self.out_channels), requires_grad=True) if bias else None

    def forward(self, x) -> Tensor:
        x = _as_tensor(x)
        check_nchw(x.data, "Conv2d", channels=self.in_channels)
        window_output_shape(x.shape, self.kernel_size, self.stride, self.padding, "Conv2d")
        return Conv2dFunction(self.stride, self.padding, self.impl)(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None})")


class _Pool2d(Module):
    """Shared set-up: kernel, stride (default: the kernel), padding (at most half the kernel)."""

    function = None   # set by subclasses

    def __init__(self, kernel_size, stride=None, padding=0, impl: str = "fast"):
        name = type(self).__name__
        self.kernel_size = positive_pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else positive_pair(stride, "stride", name)
        self.padding = nonnegative_pair(padding, "padding", name)
        check_pool_padding(self.kernel_size, self.padding, name)
        get_backend(impl)
        self.impl = impl

    def forward(self, x) -> Tensor:
        x = _as_tensor(x)
        name = type(self).__name__
        check_nchw(x.data, name)
        window_output_shape(x.shape, self.kernel_size, self.stride, self.padding, name)
        return type(self).function(self.kernel_size, self.stride, self.padding, self.impl)(x)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding})")


class MaxPool2d(_Pool2d):
    """Max over each ``kernel_size`` window, channel by channel.

    Shapes: x (N, C, H, W) -> y (N, C, H_out, W_out), H_out as for :class:`Conv2d`.
    Formula: ``y[n, c, i, j] = max_{u, v} x_pad[n, c, i*stride[0] + u, j*stride[1] + v]``,
    where the padding is ``-inf`` (it never wins).  ``stride`` defaults to
    ``kernel_size``; ``padding`` may be at most half the kernel (as in PyTorch).
    Gradient: each output's gradient goes to its window's first maximum in
    row-major order (ties: the first); overlapping windows add up.
    No parameters.
    """

    function = MaxPool2dFunction


class AvgPool2d(_Pool2d):
    """Mean over each ``kernel_size`` window (PyTorch defaults: ``count_include_pad=True``, ``ceil_mode=False``).

    Shapes: x (N, C, H, W) -> y (N, C, H_out, W_out), H_out as for :class:`Conv2d`.
    Formula: ``y[n, c, i, j] = sum_{u, v} x_pad[n, c, i*stride[0] + u, j*stride[1] + v] / (kh * kw)``,
    with zero padding, so the divisor is always ``kh * kw``.  ``stride``
    defaults to ``kernel_size``; ``padding`` may be at most half the kernel.
    No parameters.
    """

    function = AvgPool2dFunction


class Flatten(Module):
    """Merge the dimensions from ``start_dim`` on: (N, C, H, W) -> (N, C*H*W) for ``start_dim=1``.

    Row-major (C) order, the same as ``torch.flatten(x, start_dim)``; the
    gradient is reshaped back by autograd (``Tensor.reshape``).
    """

    def __init__(self, start_dim: int = 1):
        if isinstance(start_dim, (bool, np.bool_)) or not isinstance(start_dim, (int, np.integer)):
            raise ValueError(f"Flatten: start_dim must be an int, got {start_dim!r}")
        self.start_dim = int(start_dim)

    def forward(self, x) -> Tensor:
        x = _as_tensor(x)
        start = self.start_dim + x.ndim if self.start_dim < 0 else self.start_dim
        if not 0 <= start < x.ndim:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}) needs an input with more than {start} dimensions, "
                f"got shape {x.shape}")
        return x.reshape(x.shape[:start] + (int(np.prod(x.shape[start:])),))

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim})"
