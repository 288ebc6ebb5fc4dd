"""Vectorised spatial ops: im2col with stride tricks + BLAS matrix products.

Same functions, signatures, conventions and results as
:mod:`tinytorch_ref.spatial.naive` (read that module first); only the speed
differs.  There is no Python loop over output positions or over the batch;
the only loops run over the ``KH * KW`` offsets inside a window.  Arrays keep
their floating dtype (float32 in, float32 out).

Convolution as a matrix product (im2col)
----------------------------------------
Copy every window of the zero-padded input ``xp`` into a column, with one
strided copy (``as_strided`` view, then ``ascontiguousarray``)::

    cols[(c, u, v), (n, i, j)] = xp[n, c, i*SH + u, j*SW + v]      shape (C*KH*KW, N*OH*OW)

Then, with ``w2 = w.reshape(F, C*KH*KW)`` and ``dout`` laid out as
``(F, N*OH*OW)``, the layer is three matrix products::

    out[n] = w2 @ cols[:, n]         (F, OH*OW) per image: numpy's matmul runs the
                                     batch of GEMMs in C and writes NCHW directly
    dw     = dout @ cols.T           (F, C*KH*KW), one GEMM over the whole batch
    dcol   = w2.T @ dout             (C*KH*KW, N*OH*OW), one GEMM

With a bias, ``cols`` gets an extra row of ones and ``w2`` the bias as an
extra column (the "bias trick"): the forward product then adds the bias and
the ``dw`` product returns ``db`` as its last column.

``dx`` is ``dcol`` added back onto the windows it came from (col2im):
one vectorised add per kernel offset ``(u, v)``, where overlapping windows
accumulate.  The columns are channel-major (the ``(c, u, v)`` axis first):
that makes the backward products single large BLAS calls and keeps each
offset's block contiguous for col2im.  These layouts were chosen by timing
against ``torch.nn.functional.conv2d`` (see ``python -m tinytorch_ref.bench``).

Pooling: a loop over the ``KH * KW`` offsets, each a strided view of all
windows at once (``_offset_view``): running max / sum forward, scatter back.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .shapes import check_conv_args, check_pool_args

__all__ = [
    "conv2d_forward", "conv2d_backward",
    "maxpool2d_forward", "maxpool2d_backward",
    "avgpool2d_forward", "avgpool2d_backward",
]


# ---------------------------------------------------------------- helpers
def _pad(x: np.ndarray, padding, value: float = 0.0) -> np.ndarray:
    """C-contiguous copy of ``x`` with its spatial axes padded by ``value`` (no copy when unpadded)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(x)
    n, c, h, w = x.shape
    shape = (n, c, h + 2 * ph, w + 2 * pw)
    xp = np.zeros(shape, dtype=x.dtype) if value == 0 else np.full(shape, value, dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _unpad(xp: np.ndarray, padding, height: int, width: int) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return xp
    return np.ascontiguousarray(xp[:, :, ph:ph + height, pw:pw + width])


def _offset_view(xp: np.ndarray, u: int, v: int, out_hw, stride) -> np.ndarray:
    """View of the element at offset ``(u, v)`` of every window: shape (N, C, OH, OW)."""
    (out_h, out_w), (sh, sw) = out_hw, stride
    return xp[:, :, u:u + sh * (out_h - 1) + 1:sh, v:v + sw * (out_w - 1) + 1:sw]


# ---------------------------------------------------------------- Conv2d
def conv2d_forward(x, w, b, stride, padding):
    """2-D convolution, vectorised.  Shapes and formula: :func:`naive.conv2d_forward`.

    Returns ``(out, cache)``; ``cache`` holds the im2col columns for the backward pass.
    """
    out_h, out_w = check_conv_args(x, w, b, stride, padding, "conv2d")
    n_batch, channels, _, _ = x.shape
    n_filters, _, kh, kw = w.shape
    sh, sw = stride

    xp = _pad(x, padding)
    s_n, s_c, s_h, s_w = xp.strides
    k = channels * kh * kw
    positions = n_batch * out_h * out_w
    w2 = w.reshape(n_filters, k)
    # cols[(c, u, v), (n, i, j)] = xp[n, c, i*sh + u, j*sw + v]: one copy of a strided view.
    # With a bias, an extra row of ones (and the bias as an extra weight column) lets the
    # GEMM add the bias, and later gives db as a by-product of the dw GEMM.
    cols = np.empty((k + (b is not None), positions), dtype=x.dtype)
    windows = as_strided(xp, (channels, kh, kw, n_batch, out_h, out_w), (s_c, s_h, s_w, s_n, sh * s_h, sw * s_w))
    np.copyto(cols[:k].reshape(windows.shape), windows)
    if b is not None:
        cols[k] = 1
        w2 = np.concatenate([w2, b.reshape(n_filters, 1).astype(w2.dtype, copy=False)], axis=1)

    # one GEMM per image, batched by matmul: w2 @ cols[:, n] -> out[n], already in NCHW order
    cols_per_image = cols.reshape(-1, n_batch, out_h * out_w).transpose(1, 0, 2)   # a view, no copy
    out = np.matmul(w2, cols_per_image).reshape(n_batch, n_filters, out_h, out_w)
    cache = (x.shape, x.dtype, cols, w, None if b is None else b.dtype, tuple(stride), tuple(padding))
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients ``(dx, dw, db)`` of :func:`conv2d_forward`; ``db`` is None without a bias."""
    x_shape, x_dtype, cols, w, b_dtype, stride, padding = cache
    has_bias = b_dtype is not None
    n_batch, channels, height, width = x_shape
    n_filters, _, kh, kw = w.shape
    _, _, out_h, out_w = dout.shape
    (ph, pw) = padding

    # upstream gradient with the filter axis first, matching the columns: (F, N*OH*OW)
    dout_fn = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(n_filters, -1)
    # dw = dout_fn @ cols.T, computed as (cols @ dout_fn.T).T (the faster operand order here);
    # the row of ones in cols (bias only) yields db = dout summed over batch and positions
    dw_db = np.ascontiguousarray((cols @ dout_fn.T).T)
    k = channels * kh * kw
    dw = dw_db[:, :k].reshape(w.shape).astype(w.dtype, copy=False)
    db = dw_db[:, k].astype(b_dtype, copy=False) if has_bias else None
    dcols = w.reshape(n_filters, k).T @ dout_fn    # (C*KH*KW, N*OH*OW)

    # col2im: add each kernel offset's block of columns back onto its window positions
    dxp = np.zeros((n_batch, channels, height + 2 * ph, width + 2 * pw), dtype=dcols.dtype)
    dxp_cn = dxp.transpose(1, 0, 2, 3)           # (C, N, Hp, Wp) view, the columns' axis order
    d6 = dcols.reshape(channels, kh, kw, n_batch, out_h, out_w)
    for u in range(kh):
        for v in range(kw):
            _offset_view(dxp_cn, u, v, (out_h, out_w), stride)[...] += d6[:, u, v]
    dx = _unpad(dxp, padding, height, width).astype(x_dtype, copy=False)
    return dx, dw, db


# ------------------------------------------------------------- MaxPool2d
def maxpool2d_forward(x, kernel, stride, padding):
    """Max pooling, vectorised: a running maximum over the ``KH * KW`` window offsets.

    Shapes and formula: :func:`naive.maxpool2d_forward`.  The cache keeps,
    per output, the flat window index of the first maximum (the one
    ``np.argmax`` picks; a strict ``>`` keeps earlier ties).  NaN propagates
    to the output, and its gradient goes to the window's first NaN (PyTorch
    sends it to the last NaN instead; only the NaN case differs).
    """
    out_hw = check_pool_args(x, kernel, stride, padding, "maxpool2d")
    kh, kw = kernel
    xp = _pad(x, padding, -np.inf)

    out = _offset_view(xp, 0, 0, out_hw, stride).copy()
    index_type = np.uint8 if kh * kw <= 256 else np.intp
    argmax = np.zeros(out.shape, dtype=index_type)
    better = np.empty(out.shape, dtype=bool)
    step = np.empty(out.shape, dtype=index_type)
    for k in range(1, kh * kw):
        window = _offset_view(xp, *divmod(k, kw), out_hw, stride)
        np.greater(window, out, out=better)
        # k exceeds every index stored so far, so "argmax = k where better" is a maximum
        np.multiply(better, index_type(k), out=step)
        np.maximum(argmax, step, out=argmax)
        np.maximum(out, window, out=out)          # propagates NaN, as torch does
    if np.isnan(out).any():                        # rare: send NaN outputs' gradient to the first NaN
        best = _offset_view(xp, 0, 0, out_hw, stride).copy()
        argmax[...] = 0
        for k in range(1, kh * kw):
            window = _offset_view(xp, *divmod(k, kw), out_hw, stride)
            better = (window > best) | (np.isnan(window) & ~np.isnan(best))
            np.copyto(argmax, k, where=better, casting="unsafe")
            np.copyto(best, window, where=better)
    cache = (x.shape, xp.shape, tuple(kernel), tuple(stride), tuple(padding), argmax)
    return out, cache


def maxpool2d_backward(dout, cache):
    """Gradient of :func:`maxpool2d_forward`: ``dout`` goes to each window's recorded maximum."""
    x_shape, padded_shape, (kh, kw), stride, padding, argmax = cache
    out_hw = dout.shape[2:]
    overlap = stride[0] < kh or stride[1] < kw
    dxp = np.zeros(padded_shape, dtype=dout.dtype)
    for k in range(kh * kw):
        view = _offset_view(dxp, *divmod(k, kw), out_hw, stride)
        if overlap:   # windows share elements: accumulate
            view += dout * (argmax == k)
        else:         # the offset views are disjoint: write straight into place
            np.multiply(dout, argmax == k, out=view)
    return _unpad(dxp, padding, x_shape[2], x_shape[3])


# ------------------------------------------------------------- AvgPool2d
def avgpool2d_forward(x, kernel, stride, padding):
    """Average pooling (``count_include_pad=True``), vectorised: sum of ``KH * KW`` shifted views.

    Shapes and formula: :func:`naive.avgpool2d_forward`.
    """
    out_hw = check_pool_args(x, kernel, stride, padding, "avgpool2d")
    kh, kw = kernel
    xp = _pad(x, padding)
    out = _offset_view(xp, 0, 0, out_hw, stride).copy()
    for k in range(1, kh * kw):
        np.add(out, _offset_view(xp, *divmod(k, kw), out_hw, stride), out=out)
    np.divide(out, kh * kw, out=out)
    cache = (x.shape, xp.shape, tuple(kernel), tuple(stride), tuple(padding))
    return out, cache


def avgpool2d_backward(dout, cache):
    """Gradient of :func:`avgpool2d_forward`: every window element receives ``dout / (KH * KW)``."""
    x_shape, padded_shape, (kh, kw), stride, padding = cache
    out_hw = dout.shape[2:]
    overlap = stride[0] < kh or stride[1] < kw
    share = dout / (kh * kw)
    dxp = np.zeros(padded_shape, dtype=share.dtype)
    for k in range(kh * kw):
        view = _offset_view(dxp, *divmod(k, kw), out_hw, stride)
        if overlap:
            view += share
        else:
            view[...] = share
    return _unpad(dxp, padding, x_shape[2], x_shape[3])
