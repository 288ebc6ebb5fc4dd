"""Teaching versions of the spatial ops: explicit loops over output positions.

These are the functions a course text shows.  Each output value is computed
by one visit of one window, so the code reads like the formula.  They are
slow (pure Python loops) and exist to be *read*, and to check the fast
backend against.  :mod:`tinytorch_ref.spatial.fast` has the same functions,
vectorised.

Conventions (the same as ``torch.nn``):

* layout NCHW: ``x`` is (N, C, H, W), a conv weight ``w`` is (F, C, KH, KW);
* cross-correlation, the kernel is NOT flipped;
* ``kernel``, ``stride`` and ``padding`` are ``(h, w)`` int pairs;
* output size per axis ``floor((size + 2 * padding - kernel) / stride) + 1``;
* padding is zeros for convolution and average pooling (the padded zeros
  count in the average: ``count_include_pad=True``), ``-inf`` for max pooling.

Every ``*_forward`` returns ``(out, cache)``; the matching ``*_backward``
takes the upstream gradient ``dout`` (the shape of ``out``) and that cache.
"""
from __future__ import annotations

import numpy as np

from .shapes import check_conv_args, check_pool_args

__all__ = [
    "conv2d_forward", "conv2d_backward",
    "maxpool2d_forward", "maxpool2d_backward",
    "avgpool2d_forward", "avgpool2d_backward",
]


def _pad(x: np.ndarray, padding, value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of an (N, C, H, W) array with ``value``."""
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _unpad(xp: np.ndarray, padding, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`_pad`: the interior ``height`` x ``width`` block."""
    ph, pw = padding
    return np.ascontiguousarray(xp[:, :, ph:ph + height, pw:pw + width])


# ---------------------------------------------------------------- Conv2d
def conv2d_forward(x, w, b, stride, padding):
    """2-D convolution (cross-correlation) of ``x`` with ``w`` plus ``b``.

    Shapes:
        x (N, C, H, W), w (F, C, KH, KW), b (F,) or None
        -> out (N, F, OH, OW), OH = (H + 2*PH - KH) // SH + 1, likewise OW.

    Formula, with ``xp`` the zero-padded input::

        out[n, f, i, j] = b[f] + sum_{c, u, v} xp[n, c, i*SH + u, j*SW + v] * w[f, c, u, v]
    """
    out_h, out_w = check_conv_args(x, w, b, stride, padding, "conv2d")
    n_batch, _, _, _ = x.shape
    n_filters, _, kh, kw = w.shape
    sh, sw = stride

    xp = _pad(x, padding)
    out = np.zeros((n_batch, n_filters, out_h, out_w), dtype=np.result_type(x, w))
    for n in range(n_batch):                 # every image
        for f in range(n_filters):           # every filter
            for i in range(out_h):           # every output row
                for j in range(out_w):       # every output column
                    top, left = i * sh, j * sw
                    window = xp[n, :, top:top + kh, left:left + kw]   # (C, KH, KW)
                    out[n, f, i, j] = np.sum(window * w[f])
            if b is not None:
                out[n, f] += b[f]
    cache = (x, w, b, stride, padding)
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients of :func:`conv2d_forward` given ``dout = dL/dout``.

    Each output value ``out[n, f, i, j]`` used one window of ``xp`` and the
    whole filter ``w[f]``, so it sends ``dout[n, f, i, j] * w[f]`` back to
    that window and ``dout[n, f, i, j] * window`` to ``dw[f]``.  Windows that
    overlap add their contributions.

    Returns:
        dx (N, C, H, W), dw (F, C, KH, KW), db (F,) — db is None when b was None.
    """
    x, w, b, stride, padding = cache
    n_batch, _, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    sh, sw = stride
    _, _, out_h, out_w = dout.shape

    xp = _pad(x, padding)
    dxp = np.zeros(xp.shape, dtype=np.result_type(dout, w))
    dw = np.zeros(w.shape, dtype=np.result_type(dout, x))
    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * sh, j * sw
                    g = dout[n, f, i, j]
                    dw[f] += g * xp[n, :, top:top + kh, left:left + kw]
                    dxp[n, :, top:top + kh, left:left + kw] += g * w[f]
    dx = _unpad(dxp, padding, height, width)   # gradients that fell on the padding are dropped
    db = None if b is None else dout.sum(axis=(0, 2, 3))   # b[f] was added to every out[:, f]
    return dx, dw, db


# ------------------------------------------------------------- MaxPool2d
def maxpool2d_forward(x, kernel, stride, padding):
    """Max pooling over ``kernel`` windows, channel by channel.

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Formula, with ``xp`` padded with ``-inf`` (so padding never wins)::

        out[n, c, i, j] = max_{u, v} xp[n, c, i*SH + u, j*SW + v]

    The cache remembers which window element won (``np.argmax``: the first
    maximum in row-major window order, so ties go to the first one).
    """
    out_h, out_w = check_pool_args(x, kernel, stride, padding, "maxpool2d")
    n_batch, channels, _, _ = x.shape
    kh, kw = kernel
    sh, sw = stride

    xp = _pad(x, padding, -np.inf)
    out = np.zeros((n_batch, channels, out_h, out_w), dtype=x.dtype)
    argmax = np.zeros((n_batch, channels, out_h, out_w), dtype=np.intp)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * sh, j * sw
                    window = xp[n, c, top:top + kh, left:left + kw]   # (KH, KW)
                    k = np.argmax(window)            # flat index into the window
                    argmax[n, c, i, j] = k
                    out[n, c, i, j] = window.flat[k]
    cache = (x.shape, kernel, stride, padding, argmax)
    return out, cache


def maxpool2d_backward(dout, cache):
    """Gradient of :func:`maxpool2d_forward`: each ``dout`` value goes to its window's maximum.

    Every other element of the window gets nothing; overlapping windows
    (stride < kernel) can pick the same element and then add up.
    """
    x_shape, kernel, stride, padding, argmax = cache
    _, _, height, width = x_shape
    _, kw = kernel
    sh, sw = stride
    ph, pw = padding
    n_batch, channels, out_h, out_w = dout.shape

    dxp = np.zeros((n_batch, channels, height + 2 * ph, width + 2 * pw), dtype=dout.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    u, v = divmod(int(argmax[n, c, i, j]), kw)   # row, column inside the window
                    dxp[n, c, i * sh + u, j * sw + v] += dout[n, c, i, j]
    return _unpad(dxp, padding, height, width)


# ------------------------------------------------------------- AvgPool2d
def avgpool2d_forward(x, kernel, stride, padding):
    """Average pooling, PyTorch defaults (``count_include_pad=True``, ``ceil_mode=False``).

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Formula, with ``xp`` zero-padded: the divisor is always ``KH * KW``::

        out[n, c, i, j] = sum_{u, v} xp[n, c, i*SH + u, j*SW + v] / (KH * KW)
    """
    out_h, out_w = check_pool_args(x, kernel, stride, padding, "avgpool2d")
    n_batch, channels, _, _ = x.shape
    kh, kw = kernel
    sh, sw = stride

    xp = _pad(x, padding)
    out = np.zeros((n_batch, channels, out_h, out_w), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * sh, j * sw
                    out[n, c, i, j] = np.sum(xp[n, c, top:top + kh, left:left + kw]) / (kh * kw)
    cache = (x.shape, kernel, stride, padding)
    return out, cache


def avgpool2d_backward(dout, cache):
    """Gradient of :func:`avgpool2d_forward`: each window element gets ``dout / (KH * KW)``."""
    x_shape, kernel, stride, padding = cache
    _, _, height, width = x_shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    n_batch, channels, out_h, out_w = dout.shape

    dxp = np.zeros((n_batch, channels, height + 2 * ph, width + 2 * pw), dtype=dout.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * sh, j * sw
                    dxp[n, c, top:top + kh, left:left + kw] += dout[n, c, i, j] / (kh * kw)
    return _unpad(dxp, padding, height, width)
