"""Shape arithmetic and input validation shared by every spatial op.

Output size of a sliding window (convolution or pooling) along one axis::

    out = floor((size + 2 * padding - kernel) / stride) + 1

Receptive field of ``n`` stacked stride-1 convolutions with a ``k``-wide
kernel::

    rf = n * (k - 1) + 1        (3x3: 1 layer -> 3, 2 -> 5, 3 -> 7)
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "pair", "conv_output_size", "receptive_field", "check_nchw", "window_output_shape",
    "positive_int", "positive_pair", "nonnegative_pair", "check_pool_padding", "check_conv_args", "check_pool_args",
]


def pair(value, name: str) -> tuple[int, int]:
    """Normalise an int or a 2-sequence to ``(h, w)`` ints; reject anything else."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Number of window positions along one axis: ``(size + 2p - k) // s + 1``.

    >>> conv_output_size(32, 3, 1, 1)
    32
    >>> conv_output_size(7, 3, 2, 0)
    3
    """
    if size <= 0 or kernel <= 0 or stride <= 0:
        raise ValueError(
            f"size, kernel and stride must be positive, got size={size}, kernel={kernel}, stride={stride}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if kernel > size + 2 * padding:
        raise ValueError(
            f"kernel {kernel} is larger than the padded input {size} + 2*{padding} = {size + 2 * padding}")
    return (size + 2 * padding - kernel) // stride + 1


def receptive_field(num_layers: int, kernel: int = 3) -> int:
    """Receptive field of ``num_layers`` stacked stride-1 ``kernel``x``kernel`` convolutions."""
    if num_layers < 0 or kernel <= 0:
        raise ValueError(f"need num_layers >= 0 and kernel > 0, got num_layers={num_layers}, kernel={kernel}")
    return num_layers * (kernel - 1) + 1


def check_nchw(x: np.ndarray, op: str, channels: int | None = None) -> None:
    """Raise ValueError unless ``x`` is a 4-D (N, C, H, W) array (with ``channels`` channels)."""
    if x.ndim != 4:
        raise ValueError(f"{op} expects a 4-D input (batch, channels, height, width), got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{op} expects {channels} input channels, got input of shape {x.shape} with {x.shape[1]} channels")
    if 0 in x.shape:
        raise ValueError(f"{op} got an empty input of shape {x.shape}")


def window_output_shape(x_shape, kernel, stride, padding, op: str) -> tuple[int, int]:
    """(out_h, out_w) for an (N, C, H, W) input; errors name the op and the shapes."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h, w = x_shape[2], x_shape[3]
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"{op}: kernel {kh}x{kw} is larger than the padded input {h + 2 * ph}x{w + 2 * pw} "
            f"(input shape {tuple(x_shape)}, padding {ph}x{pw})")
    return conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)


# --------------------------------------------------------------------------
# Argument validation used by the layers, the autograd Functions and both
# backends.  Every message names the value (or shape) that was expected and
# the one that was received.
# --------------------------------------------------------------------------
def positive_int(value, name: str, op: str) -> int:
    """``value`` as an int, or ValueError unless it is an integer >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{op}: {name} must be a positive integer, got {value!r}")
    return int(value)


def positive_pair(value, name: str, op: str) -> tuple[int, int]:
    """``pair(value)`` with both entries >= 1 (kernel sizes, strides)."""
    result = pair(value, f"{op}: {name}")
    if min(result) <= 0:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return result


def nonnegative_pair(value, name: str, op: str) -> tuple[int, int]:
    """``pair(value)`` with both entries >= 0 (paddings)."""
    result = pair(value, f"{op}: {name}")
    if min(result) < 0:
        raise ValueError(f"{op}: {name} must be >= 0, got {value!r}")
    return result


def check_pool_padding(kernel, padding, op: str) -> None:
    """PyTorch's rule for pooling: padding at most half the kernel on each axis (2p <= k).

    With more padding a window could lie entirely in the padding.
    """
    for axis, k, p in zip(("height", "width"), kernel, padding):
        if 2 * p > k:
            raise ValueError(
                f"{op}: padding must be at most half the kernel size, got padding {p} for kernel {k} "
                f"along the {axis} (expected padding <= {k // 2})")


def check_conv_args(x, w, b, stride, padding, op: str = "conv2d") -> tuple[int, int]:
    """Validate arrays for a 2-D convolution and return ``(out_h, out_w)``.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None; stride/padding: (h, w) pairs.
    """
    w = np.asarray(w)
    if w.ndim != 4:
        raise ValueError(f"{op} expects a 4-D weight (out_channels, in_channels, kh, kw), got shape {w.shape}")
    check_nchw(x, op, channels=w.shape[1])
    if b is not None and np.shape(b) != (w.shape[0],):
        raise ValueError(f"{op} expects a bias of shape ({w.shape[0]},), got shape {np.shape(b)}")
    positive_pair(stride, "stride", op)
    nonnegative_pair(padding, "padding", op)
    positive_pair(w.shape[2:], "kernel size", op)
    return window_output_shape(x.shape, w.shape[2:], stride, padding, op)


def check_pool_args(x, kernel, stride, padding, op: str) -> tuple[int, int]:
    """Validate a pooling call and return ``(out_h, out_w)``."""
    check_nchw(x, op)
    positive_pair(kernel, "kernel size", op)
    positive_pair(stride, "stride", op)
    nonnegative_pair(padding, "padding", op)
    check_pool_padding(kernel, padding, op)
    return window_output_shape(x.shape, kernel, stride, padding, op)
