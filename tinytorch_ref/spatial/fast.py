"""Vectorised spatial ops: im2col with stride tricks + BLAS matrix products.

Same functions, signatures, conventions and results as
:mod:`tinytorch_ref.spatial.naive` (read that module first); only the speed
differs.  There is no Python loop over output positions: the loops run over
the ``KH * KW`` offsets inside a window and, for the convolution, over
chunks of a few images.  Arrays keep their floating dtype (float32 in,
float32 out).

Convolution as a matrix product (im2col)
----------------------------------------
Copy every window of the zero-padded input ``xp`` into a column::

    cols[(u, v, c), (n, i, j)] = xp[n, c, i*SH + u, j*SW + v]      shape (KH*KW*C, N*OH*OW)

Then, with ``w2[f, (u, v, c)] = w[f, c, u, v]`` and ``dout`` laid out as
``(F, N*OH*OW)``, the layer is three matrix products (BLAS calls)::

    out  = w2 @ cols          (F, N*OH*OW)
    dw2  = dout @ cols.T      (F, KH*KW*C): dw, its columns reordered
    dcol = w2.T @ dout        (KH*KW*C, N*OH*OW)

and ``dx`` is ``dcol`` added back onto the windows it came from (col2im),
overlapping windows accumulating.  With a bias, ``cols`` gets an extra row
of ones and ``w2`` the bias as an extra column (the "bias trick"): the
forward product then adds the bias and the ``dw2`` product returns ``db``
as its last column.

The products are fast; building ``cols`` and scattering ``dcol`` back are
what costs, when numpy has to do them in short pieces (one window row, ``OW``
values, at a time).  Three layout choices turn them into long runs:

1. *Flat planes, padded on the top and left only.*  Each (image, channel)
   plane is stored as ``PH`` rows of zeros, then the ``H`` image rows, each
   row being ``PW`` zeros then the ``W`` values; the planes follow one
   another in one flat array, which ends with a few zeros.  The zeros that
   start the next row (plane) are this row's right padding (this plane's
   bottom padding): element ``(r, s)`` of a padded image is element
   ``r * PLANE_W + s`` counted from the start of its plane, even where ``s``
   runs past the row or ``r`` past the plane.
2. *Stride 1: a window at every element of a plane.*  Window ``q`` of a
   plane then reads elements ``q + u*PLANE_W + v``, so for one kernel offset
   ``(u, v)`` the windows of all the planes read ONE contiguous run of the
   flat array.  Windows with ``i >= OH`` or ``j >= OW`` overhang the image
   ("junk"): the forward pass computes and drops them, the backward pass
   gives them a zero gradient.  The price is ``PLANE_H * PLANE_W / (OH * OW)``
   times the arithmetic: +13% for 16x16 images and a 3x3 kernel with
   padding 1, +6% for 32x32.  With a stride > 1 the windows are just the
   ``OH x OW`` real ones (no junk, shorter runs).
3. *Offset-major columns.*  The rows of ``cols`` run over ``(u, v, c)`` and
   the gradient planes over ``(c, n)``, so one offset's block of ``dcol`` goes
   back onto the gradient planes as ONE addition of contiguous arrays.

The images are processed in chunks of about ``CHUNK_BYTES`` of columns, so
that a chunk's columns and their gradient stay in the CPU cache from being
built to being used; the backward pass rebuilds each chunk's columns from
the padded input rather than keep the columns of the whole batch.  These
choices were made by timing against ``torch.nn.functional.conv2d`` (see
``python -m tinytorch_ref.bench``).

A junk window's zero gradient is multiplied by input values (``dw``), and
the weights by that zero gradient (``dx``).  That adds exact zeros unless a
value is inf or NaN (``0 * inf = nan``); with a non-finite input or weight,
the junk entries are set to zero before they are used.

Pooling: a loop over the ``KH * KW`` offsets, each a strided view of all
windows at once (``_offset_view``): running max / sum forward, scatter back.
"""
from __future__ import annotations

from typing import NamedTuple

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
CHUNK_BYTES = 768 * 1024   # columns built per chunk of images: part of a typical L2 cache (1-2 MiB)


class _ConvLayout(NamedTuple):
    """Where the windows lie in the flat padded planes (module docstring, points 1 and 2)."""

    out_h: int
    out_w: int
    plane_h: int    # PH zero rows + H image rows (more when the padding exceeds the kernel)
    plane_w: int    # PW zeros + W values per row (likewise)
    grid: tuple     # windows per plane (rows, columns): the whole plane at stride 1
    step: tuple     # flat distance from one window to the next along (rows, columns)
    tail: int       # zeros after the last plane, read by the windows that overhang it

    @property
    def plane(self) -> int:
        return self.plane_h * self.plane_w

    @property
    def windows(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def junk(self) -> bool:
        return self.grid != (self.out_h, self.out_w)


def _conv_layout(x_shape, w_shape, stride, padding) -> _ConvLayout:
    _, _, height, width = x_shape
    _, _, kh, kw = w_shape
    (sh, sw), (ph, pw) = stride, padding
    out_h = (height + 2 * ph - kh) // sh + 1
    out_w = (width + 2 * pw - kw) // sw + 1
    # the top/left padding and the image; more only if the padding exceeds the kernel (at stride 1
    # there must be an element per output position, and the output may be larger than H + PH)
    plane_h, plane_w = max(height + ph, out_h), max(width + pw, out_w)
    if (sh, sw) == (1, 1):
        grid, step = (plane_h, plane_w), (plane_w, 1)
    else:
        grid, step = (out_h, out_w), (sh * plane_w, sw)
    last = (grid[0] - 1) * step[0] + (grid[1] - 1) * step[1] + (kh - 1) * plane_w + kw - 1
    return _ConvLayout(out_h, out_w, plane_h, plane_w, grid, step, max(0, last + 1 - plane_h * plane_w))


def _planes(x: np.ndarray, lay: _ConvLayout, padding) -> np.ndarray:
    """``x`` as flat zero-padded planes (one per image and channel, in NCHW order) plus the zero tail."""
    n_batch, channels, height, width = x.shape
    ph, pw = padding
    flat = np.zeros(n_batch * channels * lay.plane + lay.tail, dtype=x.dtype)
    planes = flat[:n_batch * channels * lay.plane].reshape(n_batch, channels, lay.plane_h, lay.plane_w)
    planes[:, :, ph:ph + height, pw:pw + width] = x
    return flat


def _windows(flat: np.ndarray, lay: _ConvLayout, kernel, planes, plane_steps) -> np.ndarray:
    """View of every window of flat planes, shape (KH, KW, C, N, GRID_H, GRID_W); no copy.

    Element ``[u, v, c, n, i, j]`` is element ``(i*SH + u, j*SW + v)`` of the padded
    plane of channel c of image n.  ``planes = (C, N)``; ``plane_steps`` are the flat
    distances from one channel's plane to the next and from one image's to the next.
    """
    kh, kw = kernel
    shape = (kh, kw) + tuple(planes) + lay.grid
    steps = (lay.plane_w, 1) + tuple(plane_steps) + lay.step
    return as_strided(flat, shape, tuple(step * flat.itemsize for step in steps))


def _images_per_chunk(n_batch: int, bytes_per_image: int) -> int:
    return max(1, min(n_batch, CHUNK_BYTES // max(1, bytes_per_image)))


def _im2col(windows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Copy the windows of a chunk of images (a slice of :func:`_windows`) into the top rows of ``cols``.

    Returns the chunk's columns, ``cols[:, :images * windows per image]``; rows below
    ``KH*KW*C`` (the bias row of ones) are left as they are.
    """
    kh, kw, channels, images, grid_h, grid_w = windows.shape
    k = kh * kw * channels
    np.copyto(cols[:k].reshape(kh, kw, channels, -1, grid_h, grid_w)[:, :, :, :images], windows)
    return cols[:, :images * grid_h * grid_w]


def _zero_junk(a: np.ndarray, lay: _ConvLayout) -> None:
    """Set the junk windows' entries of ``a`` (any shape ending in GRID_H, GRID_W) to 0, in place."""
    a[..., lay.out_h:, :] = 0
    a[..., :, lay.out_w:] = 0


def conv2d_forward(x, w, b, stride, padding):
    """2-D convolution, vectorised.  Shapes and formula: :func:`naive.conv2d_forward`.

    Returns ``(out, cache)``; ``cache`` holds the padded input and the view of its
    windows, from which the backward pass rebuilds the columns.
    """
    out_h, out_w = check_conv_args(x, w, b, stride, padding, "conv2d")
    n_batch, channels, _, _ = x.shape
    n_filters, _, kh, kw = w.shape
    lay = _conv_layout(x.shape, w.shape, stride, padding)
    flat = _planes(x, lay, padding)
    windows = _windows(flat, lay, (kh, kw), (channels, n_batch), (lay.plane, channels * lay.plane))

    w2 = w.transpose(0, 2, 3, 1).reshape(n_filters, -1)       # w2[f, (u, v, c)]
    if b is not None:   # the bias trick: a column of biases here, a row of ones in cols
        w2 = np.concatenate([w2, b.reshape(n_filters, 1).astype(w2.dtype, copy=False)], axis=1)
    per_chunk = _images_per_chunk(n_batch, w2.shape[1] * lay.windows * x.itemsize)
    cols = np.empty((w2.shape[1], per_chunk * lay.windows), dtype=x.dtype)
    cols[kh * kw * channels:] = 1
    out = np.empty((n_batch, n_filters, out_h, out_w), dtype=np.result_type(x, w2))
    for start in range(0, n_batch, per_chunk):
        stop = min(start + per_chunk, n_batch)
        chunk = _im2col(windows[:, :, :, start:stop], cols)
        # one GEMM per image, batched by matmul: (F, K) @ (K, windows) -> image's output plane and its junk
        per_image = chunk.reshape(w2.shape[1], stop - start, lay.windows).transpose(1, 0, 2)   # a view
        result = np.matmul(w2, per_image).reshape(stop - start, n_filters, *lay.grid)
        out[start:stop] = result[:, :, :out_h, :out_w]
    cache = (x.shape, x.dtype, lay, flat, windows, w, None if b is None else b.dtype, tuple(padding))
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients ``(dx, dw, db)`` of :func:`conv2d_forward`; ``db`` is None without a bias."""
    x_shape, x_dtype, lay, flat, windows, w, b_dtype, (ph, pw) = cache
    n_batch, channels, height, width = x_shape
    n_filters, _, kh, kw = w.shape
    k = kh * kw * channels
    w2 = w.transpose(0, 2, 3, 1).reshape(n_filters, k)       # as in the forward pass, without the bias

    per_chunk = _images_per_chunk(n_batch, (k + 1) * lay.windows * flat.itemsize)
    cols = np.empty((k + (b_dtype is not None), per_chunk * lay.windows), dtype=flat.dtype)
    cols[k:] = 1
    # upstream gradient of a chunk on the window grid, filter axis first: (F, images * windows);
    # the entries of junk windows are never written, so they stay 0
    dgrid = np.zeros((n_filters, per_chunk) + lay.grid, dtype=dout.dtype)
    dgrid_2d = dgrid.reshape(n_filters, -1)
    # gradient of a chunk's padded planes, ordered (c, n) like the rows of dcol within one offset block
    dflat = np.empty(channels * per_chunk * lay.plane + lay.tail, dtype=np.result_type(w, dout))
    dwindows = _windows(dflat, lay, (kh, kw), (channels, per_chunk), (per_chunk * lay.plane, lay.plane))
    dplanes = dflat[:channels * per_chunk * lay.plane].reshape(channels, per_chunk, lay.plane_h, lay.plane_w)
    dw2_t = np.zeros((cols.shape[0], n_filters), dtype=np.result_type(flat, dout))   # dw2.T; db is the last row
    dx = np.empty(x_shape, dtype=dflat.dtype)
    zero_junk = lay.junk and not (np.isfinite(w).all() and np.isfinite(flat).all())   # see the module docstring

    for start in range(0, n_batch, per_chunk):
        stop = min(start + per_chunk, n_batch)
        images = stop - start
        chunk = _im2col(windows[:, :, :, start:stop], cols)
        dgrid[:, :images, :lay.out_h, :lay.out_w] = dout[start:stop].transpose(1, 0, 2, 3)
        d = dgrid_2d[:, :images * lay.windows]
        if zero_junk:
            _zero_junk(chunk[:k].reshape(k, images, *lay.grid), lay)
        dw2_t += chunk @ d.T                                # (K[+1], F)
        dcol = w2.T @ d                                     # (K, images * windows)
        if zero_junk:
            _zero_junk(dcol.reshape(k, images, *lay.grid), lay)

        # col2im: add each offset's block back onto the windows it was read from
        dflat.fill(0)
        dcol6 = dcol.reshape(kh, kw, channels, images, *lay.grid)
        for u in range(kh):
            for v in range(kw):
                dwindows[u, v, :, :images] += dcol6[u, v]
        dx[start:stop] = dplanes[:, :images, ph:ph + height, pw:pw + width].transpose(1, 0, 2, 3)

    dw = np.ascontiguousarray(dw2_t[:k].T.reshape(n_filters, kh, kw, channels).transpose(0, 3, 1, 2))
    db = None if b_dtype is None else dw2_t[k].astype(b_dtype, copy=False)
    return dx.astype(x_dtype, copy=False), dw.astype(w.dtype, copy=False), db


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
