# ---
# jupyter:
#   jupytext:
#     formats: ipynb,.pct.py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Module 09 — Spatial Operations: convolution and pooling from scratch
#
# Images are not just long vectors: neighbouring pixels belong together, and a pattern (an edge, a
# corner, an eye) means the same thing wherever it appears. Convolutional layers build both facts
# into the network. In this assignment you add them to your framework:
#
# | Part | You implement | Graded cells |
# |---|---|---|
# | 1 | `conv_output_size`, `receptive_field` | 2 |
# | 2 | `Conv2dOp` (forward + backward) and the `Conv2d` layer | 3 |
# | 3 | `MaxPool2d` and `AvgPool2d` (forward + backward) | 4 |
# | 4 | `Flatten` | 1 |
# | 5 | `SimpleCNN` and `count_parameters` | 3 |
# | 6 | Two written answers about cost and parameter sharing | 2 (graded by hand) |
#
# **How you are graded.** Every graded cell runs a few *visible* checks you can read and run now.
# At grading time the same cells also run *hidden* checks: more shapes, strides and paddings, random
# inputs compared value by value with a reference implementation, and gradients with random
# upstream gradients. Passing the visible checks is necessary, not sufficient: test your code on
# your own cases too. Feedback after grading tells you which behaviour broke and by how much.
#
# **Conventions** (the same as PyTorch): tensors are `(batch, channels, height, width)` ("NCHW");
# a convolution weight is `(out_channels, in_channels, kernel_h, kernel_w)`; convolution means
# cross-correlation (the kernel is *not* flipped); `kernel_size`, `stride` and `padding` accept an
# int or an `(h, w)` pair.
#
# Write your code only where it says `YOUR CODE HERE`. Do not rename the classes and functions,
# do not change the signatures, and do not delete or copy cells.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import time

import numpy as np

# The framework you built in modules 01-08 (Tensor with autograd, layers, loss, optimizers).
from tinytorch import Tensor, Function, Module, Linear, ReLU
from spatial_checks import run


def _pair(value):
    """An int or an (h, w) pair -> (h, w)."""
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


np.random.seed(0)

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 1 — Shape arithmetic
#
# A window of size `k` slides over an axis of length `size` that has been padded with `p` cells on
# each side, moving `s` cells at a time. It fits at positions `0, s, 2s, …` as long as the window's
# end stays inside `size + 2p`, so the number of positions is
#
# $$\text{out} = \left\lfloor \frac{\text{size} + 2p - k}{s} \right\rfloor + 1 .$$
#
# Example: a 7-wide axis, kernel 3, stride 2, no padding: windows start at 0, 2 and 4 (starting at 6
# would run past the end), so `out = (7 - 3) // 2 + 1 = 3`.
#
# The **receptive field** of a unit is the patch of the input it can see. One 3×3 convolution sees
# 3×3 pixels; a second one on top sees 3×3 *first-layer* units, which together cover 5×5 pixels. Each
# further stride-1 layer with kernel `k` widens the view by `k - 1`.

# %% nbgrader={"grade": false, "grade_id": "conv_output_size", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_output_size(size, kernel, stride=1, padding=0):
    """Number of positions of a `kernel`-wide window along an axis of length `size`.

    Returns (size + 2*padding - kernel) // stride + 1 as an int.
    """
    ### BEGIN SOLUTION
    return (size + 2 * padding - kernel) // stride + 1
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_conv_output_size", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
run("test_conv_output_size")
### BEGIN HIDDEN TESTS
run("test_conv_output_size", hidden=True)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "receptive_field", "locked": false, "schema_version": 3, "solution": true, "task": false}
def receptive_field(num_layers, kernel=3):
    """Side length of the input patch seen by one unit after `num_layers` stacked
    stride-1 convolutions with a `kernel`-wide kernel (0 layers: a single pixel)."""
    ### BEGIN SOLUTION
    return 1 + num_layers * (kernel - 1)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_receptive_field", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
run("test_receptive_field")
### BEGIN HIDDEN TESTS
run("test_receptive_field", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part2", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 2 — Conv2d
#
# For an input `x` of shape `(N, C, H, W)`, a weight `w` of shape `(F, C, KH, KW)` and a bias `b` of
# shape `(F,)`, with `x_pad` the input zero-padded by `(PH, PW)`:
#
# $$\text{out}[n, f, i, j] = b[f] + \sum_{c=0}^{C-1} \sum_{u=0}^{KH-1} \sum_{v=0}^{KW-1}
#   w[f, c, u, v]\; x_{pad}[n, c,\; i \cdot SH + u,\; j \cdot SW + v]$$
#
# The output has shape `(N, F, OH, OW)` with `OH = conv_output_size(H, KH, SH, PH)` (same for W).
#
# **Weight sharing.** The same `F × C × KH × KW` weights are used at every output position. A
# `Conv2d(3, 32, 3)` has 32·3·3·3 + 32 = **896** parameters whatever the image size. A dense layer
# that maps a 32×32 RGB image (3,072 values) to 32 full-resolution feature maps (32,768 values) would
# need 3,072 · 32,768 + 32,768 = 100,696,064 parameters.
#
# **Backward.** Given the upstream gradient `g = ∂L/∂out` (same shape as `out`):
#
# * `∂L/∂b[f] = Σ_{n,i,j} g[n, f, i, j]`
# * `∂L/∂w[f, c, u, v] = Σ_{n,i,j} g[n, f, i, j] · x_pad[n, c, i·SH + u, j·SW + v]`
# * `∂L/∂x_pad[n, c, i·SH + u, j·SW + v] += Σ_f g[n, f, i, j] · w[f, c, u, v]` — windows overlap, so
#   contributions **add up**; finally cut the padding off to get `∂L/∂x`.
#
# **The op API.** Your framework records operations for autograd through `Function` subclasses:
# `forward` receives numpy arrays and returns a numpy array, `backward` receives the upstream
# gradient and returns one gradient per input (or `None`). Save on `self` what backward needs.
# Calling an instance on tensors, `Conv2dOp(stride, padding)(x, weight, bias)`, runs forward and
# wires the result into the graph. An input given as `None` (no bias) reaches `forward` as `None`.
#
# Start with explicit loops over output positions: it is the clearest way to get it right. The
# vectorised version (Part 6) can come later.

# %% nbgrader={"grade": false, "grade_id": "conv2d_op", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Conv2dOp(Function):
    """2-D cross-correlation as a differentiable op.

    forward(x (N, C, H, W), w (F, C, KH, KW), b (F,) or None) -> (N, F, OH, OW)
    backward(g (N, F, OH, OW)) -> (dx, dw, db)   (db is None when there is no bias)
    """

    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride)
        self.padding = _pair(padding)

    def forward(self, x, w, b=None):
        ### BEGIN SOLUTION
        (sh, sw), (ph, pw) = self.stride, self.padding
        n, c, h, width = x.shape
        f, _, kh, kw = w.shape
        oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(width, kw, sw, pw)
        x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        out = np.zeros((n, f, oh, ow), dtype=np.result_type(x, w))
        for i in range(oh):
            for j in range(ow):
                window = x_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]   # (N, C, KH, KW)
                out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
        if b is not None:
            out += b.reshape(1, f, 1, 1)
        self.x_pad, self.w, self.x_shape, self.has_bias = x_pad, w, x.shape, b is not None
        return out
        ### END SOLUTION

    def backward(self, grad_out):
        ### BEGIN SOLUTION
        (sh, sw), (ph, pw) = self.stride, self.padding
        x_pad, w = self.x_pad, self.w
        _, _, h, width = self.x_shape
        _, _, kh, kw = w.shape
        dx_pad = np.zeros_like(x_pad)
        dw = np.zeros_like(w)
        for i in range(grad_out.shape[2]):
            for j in range(grad_out.shape[3]):
                g = grad_out[:, :, i, j]                                           # (N, F)
                window = x_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]       # (N, C, KH, KW)
                dx_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.tensordot(g, w, axes=(1, 0))
                dw += np.tensordot(g, window, axes=(0, 0))
        dx = dx_pad[:, :, ph:ph + h, pw:pw + width]
        db = grad_out.sum(axis=(0, 2, 3)) if self.has_bias else None
        return dx, dw, db
        ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "conv2d_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Conv2d(Module):
    """Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True)

    weight: Tensor (out_channels, in_channels, KH, KW), requires_grad, He initialisation:
            normal with mean 0 and std sqrt(2 / (in_channels * KH * KW)).
    bias:   Tensor (out_channels,) of zeros with requires_grad, or None when bias=False.
    forward(x (N, in_channels, H, W)) -> Tensor (N, out_channels, OH, OW), built with Conv2dOp.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        ### BEGIN SOLUTION
        kh, kw = self.kernel_size
        std = np.sqrt(2.0 / (in_channels * kh * kw))
        self.weight = Tensor(np.random.normal(0.0, std, (out_channels, in_channels, kh, kw)), requires_grad=True)
        self.bias = Tensor(np.zeros(out_channels), requires_grad=True) if bias else None
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return Conv2dOp(self.stride, self.padding)(x, self.weight, self.bias)
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_conv2d_init", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_conv2d_init")
### BEGIN HIDDEN TESTS
run("test_conv2d_init", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_conv2d_forward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
run("test_conv2d_forward")
### BEGIN HIDDEN TESTS
run("test_conv2d_forward", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_conv2d_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
run("test_conv2d_backward")
### BEGIN HIDDEN TESTS
run("test_conv2d_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "feature_maps_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### See it work: edge detectors
#
# Before learning anything, a convolution with hand-picked weights is already a feature detector.
# The next cell builds a `Conv2d(1, 2, 3, padding=1, bias=False)`, loads a vertical-edge and a
# horizontal-edge (Sobel) kernel into it and applies it to a small synthetic image. The figure is for
# you: the cell is not run when your work is graded, unless your own code uses a name it defines.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "feature_maps", "locked": true, "schema_version": 3, "solution": false, "task": false} tags=["skip-when-grading"]
import matplotlib.pyplot as plt

image = np.zeros((1, 1, 24, 24))
image[0, 0, 6:18, 6:18] = 1.0            # a bright square
image[0, 0, 9:15, 9:15] = 0.0            # with a dark hole
sobel_x = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
edges = Conv2d(1, 2, 3, padding=1, bias=False)
edges.weight.data = np.stack([sobel_x, sobel_x.T])[:, None]   # (2, 1, 3, 3)
feature_maps = edges(Tensor(image)).data

fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, picture, title in zip(axes, [image[0, 0], feature_maps[0, 0], feature_maps[0, 1]],
                              ["input", "vertical edges", "horizontal edges"]):
    ax.imshow(picture, cmap="RdBu_r" if title != "input" else "gray")
    ax.set_title(title)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 3 — Pooling
#
# Pooling shrinks each feature map by summarising windows, channel by channel (no weights).
# Use the same window arithmetic as convolution; **the stride defaults to the kernel size**
# (`stride=None`), so `MaxPool2d(2)` halves height and width.
#
# * **MaxPool2d** keeps each window's largest value. Pad with `-inf`, so padding can never be the
#   maximum (an all-negative input must not produce 0). In backward, each window's gradient flows
#   to the one position that held its maximum (with ties, pick one, e.g. the first — `argmax`); when
#   windows overlap (`stride < kernel`), a position can receive gradient from several windows: add.
# * **AvgPool2d** takes each window's mean, dividing by the window area `KH·KW` — padded zeros
#   count as part of the window (PyTorch's default). In backward, each window spreads its gradient
#   evenly, `g / (KH·KW)`, over its cells.

# %% nbgrader={"grade": false, "grade_id": "maxpool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MaxPool2dOp(Function):
    """forward(x (N, C, H, W)) -> (N, C, OH, OW); backward(g) -> (dx,)"""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        ### BEGIN SOLUTION
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, width = x.shape
        oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(width, kw, sw, pw)
        x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        out = np.empty((n, c, oh, ow), dtype=x.dtype)
        self.argmax = np.empty((n, c, oh, ow), dtype=np.int64)
        for i in range(oh):
            for j in range(ow):
                window = x_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(n, c, -1)
                self.argmax[:, :, i, j] = window.argmax(axis=2)
                out[:, :, i, j] = window.max(axis=2)
        self.x_shape = x.shape
        return out
        ### END SOLUTION

    def backward(self, grad_out):
        ### BEGIN SOLUTION
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, width = self.x_shape
        dx_pad = np.zeros((n, c, h + 2 * ph, width + 2 * pw), dtype=grad_out.dtype)
        nn, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
        for i in range(grad_out.shape[2]):
            for j in range(grad_out.shape[3]):
                u, v = np.divmod(self.argmax[:, :, i, j], kw)
                np.add.at(dx_pad, (nn, cc, i * sh + u, j * sw + v), grad_out[:, :, i, j])
        return (dx_pad[:, :, ph:ph + h, pw:pw + width],)
        ### END SOLUTION


class MaxPool2d(Module):
    """MaxPool2d(kernel_size, stride=None, padding=0); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        ### BEGIN SOLUTION
        return MaxPool2dOp(self.kernel_size, self.stride, self.padding)(x)
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_maxpool2d_forward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
run("test_maxpool2d_forward")
### BEGIN HIDDEN TESTS
run("test_maxpool2d_forward", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_maxpool2d_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
run("test_maxpool2d_backward")
### BEGIN HIDDEN TESTS
run("test_maxpool2d_backward", hidden=True)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "avgpool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
class AvgPool2dOp(Function):
    """forward(x (N, C, H, W)) -> (N, C, OH, OW), mean over KH*KW cells (padding counts)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        ### BEGIN SOLUTION
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, width = x.shape
        oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(width, kw, sw, pw)
        x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        out = np.empty((n, c, oh, ow), dtype=x.dtype)
        for i in range(oh):
            for j in range(ow):
                out[:, :, i, j] = x_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].sum(axis=(2, 3)) / (kh * kw)
        self.x_shape = x.shape
        return out
        ### END SOLUTION

    def backward(self, grad_out):
        ### BEGIN SOLUTION
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, width = self.x_shape
        dx_pad = np.zeros((n, c, h + 2 * ph, width + 2 * pw), dtype=grad_out.dtype)
        for i in range(grad_out.shape[2]):
            for j in range(grad_out.shape[3]):
                share = grad_out[:, :, i, j][:, :, None, None] / (kh * kw)
                dx_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += share
        return (dx_pad[:, :, ph:ph + h, pw:pw + width],)
        ### END SOLUTION


class AvgPool2d(Module):
    """AvgPool2d(kernel_size, stride=None, padding=0); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        ### BEGIN SOLUTION
        return AvgPool2dOp(self.kernel_size, self.stride, self.padding)(x)
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_avgpool2d_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_avgpool2d_forward")
### BEGIN HIDDEN TESTS
run("test_avgpool2d_forward", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_avgpool2d_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_avgpool2d_backward")
### BEGIN HIDDEN TESTS
run("test_avgpool2d_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part4", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 4 — Flatten
#
# A classifier (`Linear`) wants one vector per example. `Flatten(start_dim=1)` keeps the batch axis
# and lays `(C, H, W)` out in C order: `(N, C, H, W) -> (N, C·H·W)`, exactly like
# `x.reshape(N, -1)`. Its gradient is the upstream gradient reshaped back. Your `Tensor.reshape`
# already records the op for autograd, so no new `Function` is needed.

# %% nbgrader={"grade": false, "grade_id": "flatten", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Flatten(Module):
    """Flatten(start_dim=1): (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim=1):
        self.start_dim = start_dim

    def forward(self, x):
        ### BEGIN SOLUTION
        return x.reshape(tuple(x.shape[:self.start_dim]) + (-1,))
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_flatten", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
run("test_flatten")
### BEGIN HIDDEN TESTS
run("test_flatten", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part5", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 5 — SimpleCNN
#
# Put the pieces together (names matter: the checks read them):
#
# ```
# conv1 = Conv2d(in_channels, 32, 3, padding=1) -> ReLU -> pool1 = MaxPool2d(2)
# conv2 = Conv2d(32, 64, 3, padding=1)          -> ReLU -> pool2 = MaxPool2d(2)
# flatten = Flatten() -> fc = Linear(64 * (image_size // 4) ** 2, num_classes)
# ```
#
# `parameters()` must return, in this order: conv1 weight, conv1 bias, conv2 weight, conv2 bias,
# fc weight, fc bias (assigning the layers in the order above gives exactly that). Note that your
# `Linear` stores its weight as `(in_features, out_features)`.
#
# For 32×32 RGB images the parameter count is 896 (conv1) + 18,496 (conv2) + 40,970 (fc) =
# **60,362** — roughly 60 thousand, not the half a million sometimes quoted for this network.
# Check it with `count_parameters`.

# %% nbgrader={"grade": false, "grade_id": "simplecnn", "locked": false, "schema_version": 3, "solution": true, "task": false}
class SimpleCNN(Module):
    """Two conv/ReLU/max-pool blocks and a linear classifier."""

    def __init__(self, num_classes=10, in_channels=3, image_size=32):
        ### BEGIN SOLUTION
        self.conv1 = Conv2d(in_channels, 32, 3, padding=1)
        self.relu = ReLU()
        self.pool1 = MaxPool2d(2)
        self.conv2 = Conv2d(32, 64, 3, padding=1)
        self.pool2 = MaxPool2d(2)
        self.flatten = Flatten()
        self.fc = Linear(64 * (image_size // 4) ** 2, num_classes)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = self.pool1(self.relu(self.conv1(x)))
        x = self.pool2(self.relu(self.conv2(x)))
        return self.fc(self.flatten(x))
        ### END SOLUTION


def count_parameters(model):
    """Total number of values in model.parameters()."""
    ### BEGIN SOLUTION
    return int(sum(p.data.size for p in model.parameters()))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_simplecnn_structure", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_simplecnn_structure")
### BEGIN HIDDEN TESTS
run("test_simplecnn_structure", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_simplecnn_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_simplecnn_forward")
### BEGIN HIDDEN TESTS
run("test_simplecnn_forward", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_simplecnn_training", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_simplecnn_training")
### BEGIN HIDDEN TESTS
run("test_simplecnn_training", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part6", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 6 — What convolution costs
#
# Each output value of a convolution is a dot product of length `C·KH·KW`, so one layer performs
# `N · F · OH · OW · C · KH · KW` multiply-adds. For one 32×32 RGB image through `SimpleCNN`:
#
# | layer | output | multiply-adds |
# |---|---|---|
# | conv1 (3→32, 3×3) | 32×32×32 | 32·32 · 32 · 27 = 884,736 |
# | conv2 (32→64, 3×3) | 64×16×16 | 16·16 · 64 · 288 = 4,718,592 |
# | fc (4,096→10) | 10 | 40,960 |
#
# Your loop version performs these multiply-adds in small pieces driven by Python. **im2col** turns
# the whole layer into one matrix product: copy every receptive-field window into a row of a matrix
# of shape `(N·OH·OW, C·KH·KW)`, reshape the weights to `(C·KH·KW, F)`, and multiply. The product runs
# in an optimised BLAS kernel, typically orders of magnitude faster than Python loops. The price is
# memory: with stride 1, every input value is copied into up to `KH·KW` rows. For conv2 on a batch of
# 64 the matrix holds 16,384 × 288 = 4,718,592 values (18 MiB in float32), nine times the 524,288
# values of the input it was built from.
#
# The next cell times your `Conv2d` forward pass on growing inputs. Doubling the height and width
# should roughly quadruple the time: the work grows with the number of output positions. It is for
# you: like the edge detectors above, it is not run when your work is graded.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "timing", "locked": true, "schema_version": 3, "solution": false, "task": false} tags=["skip-when-grading"]
timing_layer = Conv2d(8, 16, 3, padding=1)
for side in (8, 16, 32):
    batch = Tensor(np.random.normal(size=(4, 8, side, side)))
    start = time.perf_counter()
    timing_layer(batch)
    elapsed = time.perf_counter() - start
    print(f"input 4x8x{side}x{side}: {elapsed * 1000:8.2f} ms "
          f"({4 * 16 * side * side * 8 * 9:,} multiply-adds)")

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "question_sharing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Question 1 (4 points, graded by hand)
#
# A `Conv2d(3, 32, 3, padding=1)` on a 32×32 RGB image has 896 parameters; a dense layer producing the
# same 32×32×32 output from the same input needs about 100.7 million. Explain where the difference
# comes from (name both properties of convolution that contribute), and give one kind of input or task
# for which convolution's built-in assumption would be a poor fit.

# %% [markdown] nbgrader={"grade": true, "grade_id": "answer_sharing", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE
#
# ### BEGIN SOLUTION
# Two properties. *Local connectivity*: each output value depends on a 3×3×3 = 27-value neighbourhood,
# not on all 3,072 inputs. *Weight sharing*: the same 27 weights (plus a bias) per filter are reused at
# all 1,024 positions, so the count is 32 · (27 + 1) = 896 regardless of image size, while the dense
# layer has a separate weight for every (input, output) pair: 3,072 · 32,768 + 32,768. The built-in
# assumption is that useful patterns are local and mean the same everywhere. It fits poorly when
# position itself carries meaning or when distant parts must be related directly: tabular data laid
# out as an image, a form whose fields are recognised by where they are, or relations between
# objects far apart in a scene (a motivation for attention).
# ### END SOLUTION

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "question_im2col", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Question 2 (4 points, graded by hand)
#
# For `conv1` of `SimpleCNN` on a batch of 64 RGB 32×32 images (3→32 channels, 3×3 kernel, padding 1),
# give the shape of the im2col matrix and its size in MiB for float32, compare it with the input's size,
# and explain why frameworks accept this extra memory.

# %% [markdown] nbgrader={"grade": true, "grade_id": "answer_im2col", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE
#
# ### BEGIN SOLUTION
# The output is 32×32 per image, so there are 64 · 32 · 32 = 65,536 rows, each holding a 3·3·3 = 27-value
# window: a 65,536 × 27 matrix of 1,769,472 floats = 6.75 MiB. The input is 64 · 3 · 32 · 32 = 196,608
# floats = 0.75 MiB, so im2col costs nine times the input (every value is copied into up to 9
# windows). Frameworks accept it because the convolution becomes one large matrix multiplication
# (65,536 × 27 by 27 × 32) that runs in a cache-blocked, vectorised, multi-threaded BLAS kernel; the
# memory is temporary (freed after the layer, or built tile by tile) and the speed-up over
# position-by-position loops is large.
# ### END SOLUTION

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "outro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Before you submit
#
# 1. *Kernel → Restart Kernel and Run All Cells*: every visible check should print `PASS`.
# 2. Press **Validate** in the notebook toolbar.
# 3. Submit from the Assignments tab.
