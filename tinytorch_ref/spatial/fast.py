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

and ``dx`` is ``dcol`` added back onto the windows it came from (col2im):
one vectorised add per kernel offset ``(u, v)``, where overlapping windows
accumulate.  The columns are channel-major (the ``(c, u, v)`` axis first):
that makes the backward products single large BLAS calls and keeps each
offset's block contiguous for col2im.  These layouts were chosen by timing
against ``torch.nn.functional.conv2d`` (see ``python -m tinytorch_ref.bench``).

Pooling: a loop over the ``KH * KW`` offsets, each a strided view of all
windows at once (``_offset_view``): running max / sum forward, scatter back.

Cache blocking over channels
----------------------------
The passes over offsets re-read the same input (or re-write the same
gradient) ``KH * KW`` times.  Done on the whole batch at once, every pass
streams megabytes from main memory; done a few channels at a time
(``_channel_blocks``, about ``BLOCK_BYTES`` of padded input per block) the
block stays in the CPU cache between passes.  This loop runs over groups of
channels, with every step still vectorised over the batch and all output
positions; it only changes the order of the work, never the result.
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
BLOCK_BYTES = 512 * 1024   # padded input per channel block; tests shrink it to force many blocks


def _channel_blocks(n_batch: int, channels: int, plane: int, itemsize: int) -> list[slice]:
    """Split the channel axis into blocks of about BLOCK_BYTES (at least one channel each)."""
    step = max(1, BLOCK_BYTES // max(1, n_batch * plane * itemsize))
    return [slice(c, min(channels, c + step)) for c in range(0, channels, step)]


def _pad(x: np.ndarray, padding, value: float = 0.0) -> np.ndarray:
    """``x`` with its spatial axes padded by ``value``: a new array, or ``x`` itself without padding."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + 2 * ph, w + 2 * pw)
    xp = np.zeros(shape, dtype=x.dtype) if value == 0 else np.full(shape, value, dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _crop(xp: np.ndarray, padding, height: int, width: int) -> np.ndarray:
    """View of the unpadded interior of a padded (.., .., H + 2PH, W + 2PW) array."""
    ph, pw = padding
    return xp[:, :, ph:ph + height, pw:pw + width]


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
    n_batch, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    k = channels * kh * kw
    w2 = w.reshape(n_filters, k)

    # cols[(c, u, v), (n, i, j)] = xp[n, c, i*sh + u, j*sw + v], copied from a strided view of
    # each channel block (padded block by block, while it is in cache).  With a bias, an extra
    # row of ones (and the bias as an extra weight column) makes the GEMM add the bias, and
    # later gives db as a by-product of the dw GEMM.
    cols = np.empty((k + (b is not None), n_batch * out_h * out_w), dtype=x.dtype)
    cols6 = cols[:k].reshape(channels, kh, kw, n_batch, out_h, out_w)
    plane = (height + 2 * ph) * (width + 2 * pw)
    for block in _channel_blocks(n_batch, channels, plane, x.itemsize):
        xp = _pad(x[:, block], padding)
        s_n, s_c, s_h, s_w = xp.strides
        cols6[block] = as_strided(xp, (xp.shape[1], kh, kw, n_batch, out_h, out_w),
                                  (s_c, s_h, s_w, s_n, sh * s_h, sw * s_w))
    if b is not None:
        cols[k] = 1
        w2 = np.concatenate([w2, b.reshape(n_filters, 1).astype(w2.dtype, copy=False)], axis=1)

    # one GEMM per image, batched by matmul: w2 @ cols[:, n] -> out[n], already in NCHW order
    cols_per_image = cols.reshape(-1, n_batch, out_h * out_w).transpose(1, 0, 2)   # a view, no copy
    out = np.matmul(w2, cols_per_image).reshape(n_batch, n_filters, out_h, out_w)
    cache = (x.shape, x.dtype, cols, w, None if b is None else b.dtype, (sh, sw), (ph, pw))
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients ``(dx, dw, db)`` of :func:`conv2d_forward`; ``db`` is None without a bias."""
    x_shape, x_dtype, cols, w, b_dtype, stride, padding = cache
    n_batch, channels, height, width = x_shape
    n_filters, _, kh, kw = w.shape
    _, _, out_h, out_w = dout.shape
    ph, pw = padding
    k = channels * kh * kw

    # upstream gradient with the filter axis first, matching the columns: (F, N*OH*OW)
    dout_fn = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(n_filters, -1)
    # dw = dout_fn @ cols.T, computed as (cols @ dout_fn.T).T (the faster operand order here);
    # the row of ones in cols (bias only) yields db = dout summed over batch and positions
    dw_db = np.ascontiguousarray((cols @ dout_fn.T).T)
    dw = dw_db[:, :k].reshape(w.shape).astype(w.dtype, copy=False)
    db = None if b_dtype is None else dw_db[:, k].astype(b_dtype, copy=False)
    dcols = w.reshape(n_filters, k).T @ dout_fn    # (C*KH*KW, N*OH*OW)

    # col2im, one channel block at a time: add each kernel offset's block of columns back onto
    # the (padded) positions it was read from, then keep the interior
    dx = np.empty(x_shape, dtype=np.result_type(dcols.dtype, x_dtype))
    d6 = dcols.reshape(channels, kh, kw, n_batch, out_h, out_w)
    plane = (height + 2 * ph) * (width + 2 * pw)
    for block in _channel_blocks(n_batch, channels, plane, dx.itemsize):
        dxp = np.zeros((d6[block].shape[0], n_batch, height + 2 * ph, width + 2 * pw), dtype=dx.dtype)
        for u in range(kh):
            for v in range(kw):
                _offset_view(dxp, u, v, (out_h, out_w), stride)[...] += d6[block, u, v]
        dx[:, block] = _crop(dxp, padding, height, width).transpose(1, 0, 2, 3)
    return dx.astype(x_dtype, copy=False), dw, db


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
    n_batch, channels, height, width = x.shape
    (kh, kw), (ph, pw) = kernel, padding
    index_type = np.uint8 if kh * kw <= 256 else np.intp
    out = np.empty((n_batch, channels) + tuple(out_hw), dtype=x.dtype)
    argmax = np.zeros(out.shape, dtype=index_type)
    plane = (height + 2 * ph) * (width + 2 * pw)
    for block in _channel_blocks(n_batch, channels, plane, x.itemsize):
        xp = _pad(x[:, block], padding, -np.inf)
        best, arg = out[:, block], argmax[:, block]
        best[...] = _offset_view(xp, 0, 0, out_hw, stride)
        better = np.empty(best.shape, dtype=bool)
        step = np.empty(best.shape, dtype=index_type)
        for k in range(1, kh * kw):
            window = _offset_view(xp, *divmod(k, kw), out_hw, stride)
            np.greater(window, best, out=better)
            # k exceeds every index stored so far, so "arg = k where better" is a maximum
            np.multiply(better, index_type(k), out=step)
            np.maximum(arg, step, out=arg)
            np.maximum(best, window, out=best)     # propagates NaN, as torch does
        if np.isnan(best).any():                   # rare: send NaN outputs' gradient to the first NaN
            first = _offset_view(xp, 0, 0, out_hw, stride).copy()
            arg[...] = 0
            for k in range(1, kh * kw):
                window = _offset_view(xp, *divmod(k, kw), out_hw, stride)
                better = (window > first) | (np.isnan(window) & ~np.isnan(first))
                np.copyto(arg, k, where=better, casting="unsafe")
                np.copyto(first, window, where=better)
    cache = (x.shape, tuple(kernel), tuple(stride), tuple(padding), argmax)
    return out, cache


def maxpool2d_backward(dout, cache):
    """Gradient of :func:`maxpool2d_forward`: ``dout`` goes to each window's recorded maximum.

    (The scatter multiplies ``dout`` by a 0/1 mask, so an infinite or NaN
    upstream value also reaches the non-maximal elements of its window.)
    """
    x_shape, (kh, kw), stride, padding, argmax = cache
    n_batch, channels, height, width = x_shape
    ph, pw = padding
    out_hw = dout.shape[2:]
    overlap = stride[0] < kh or stride[1] < kw
    dx = np.zeros(x_shape, dtype=dout.dtype)
    plane = (height + 2 * ph) * (width + 2 * pw)
    for block in _channel_blocks(n_batch, channels, plane, dx.itemsize):
        # without padding, scatter straight into dx; otherwise into a padded block, then crop
        dxp = dx[:, block] if ph == pw == 0 else \
            np.zeros((n_batch, dx[:, block].shape[1], height + 2 * ph, width + 2 * pw), dtype=dx.dtype)
        g, arg = dout[:, block], argmax[:, block]
        for k in range(kh * kw):
            view = _offset_view(dxp, *divmod(k, kw), out_hw, stride)
            if overlap:   # windows share elements: accumulate
                view += g * (arg == k)
            else:         # the offset views are disjoint: write straight into place
                np.multiply(g, arg == k, out=view)
        if ph or pw:
            dx[:, block] = _crop(dxp, padding, height, width)
    return dx


# ------------------------------------------------------------- AvgPool2d
def avgpool2d_forward(x, kernel, stride, padding):
    """Average pooling (``count_include_pad=True``), vectorised: sum of ``KH * KW`` shifted views.

    Shapes and formula: :func:`naive.avgpool2d_forward`.
    """
    out_hw = check_pool_args(x, kernel, stride, padding, "avgpool2d")
    n_batch, channels, height, width = x.shape
    (kh, kw), (ph, pw) = kernel, padding
    out = np.empty((n_batch, channels) + tuple(out_hw), dtype=x.dtype)
    plane = (height + 2 * ph) * (width + 2 * pw)
    for block in _channel_blocks(n_batch, channels, plane, x.itemsize):
        xp = _pad(x[:, block], padding)
        total = out[:, block]
        total[...] = _offset_view(xp, 0, 0, out_hw, stride)
        for k in range(1, kh * kw):
            np.add(total, _offset_view(xp, *divmod(k, kw), out_hw, stride), out=total)
        np.divide(total, kh * kw, out=total)
    cache = (x.shape, tuple(kernel), tuple(stride), tuple(padding))
    return out, cache


def avgpool2d_backward(dout, cache):
    """Gradient of :func:`avgpool2d_forward`: every window element receives ``dout / (KH * KW)``."""
    x_shape, (kh, kw), stride, padding = cache
    n_batch, channels, height, width = x_shape
    ph, pw = padding
    out_hw = dout.shape[2:]
    overlap = stride[0] < kh or stride[1] < kw
    share = dout / (kh * kw)
    dx = np.zeros(x_shape, dtype=share.dtype)
    plane = (height + 2 * ph) * (width + 2 * pw)
    for block in _channel_blocks(n_batch, channels, plane, dx.itemsize):
        dxp = dx[:, block] if ph == pw == 0 else \
            np.zeros((n_batch, dx[:, block].shape[1], height + 2 * ph, width + 2 * pw), dtype=dx.dtype)
        g = share[:, block]
        for k in range(kh * kw):
            view = _offset_view(dxp, *divmod(k, kw), out_hw, stride)
            if overlap:
                view += g
            else:
                view[...] = g
        if ph or pw:
            dx[:, block] = _crop(dxp, padding, height, width)
    return dx
