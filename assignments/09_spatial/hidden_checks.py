"""Hidden checks: seeded random cases compared with the reference implementation.

Trusted side only.  This module is never shipped to students and never
loaded inside a student's kernel: at grading time it runs in the grader's
own process, and the student's code is reached only through the Student
adapter, which returns plain arrays.

Inputs are small on purpose (explicit-loop solutions must grade quickly).
Every random input comes from ``case_rng`` (gradekit.checking): seeded by
the case's name (or a fixed integer) and the submission's salt, so each
submission gets inputs of its own and a re-grade the same ones.
Tolerances admit float32 internals (rtol 1e-4) but no real bug.  Every
answer is validated (public/checking.py: ``answer_array``, ``expect_close``,
``expect_equal``, ``expect_shape``) before a check indexes, subtracts or
compares it, so an answer of the wrong shape, size or kind fails the check
with a reason instead of raising inside the grader.
"""
from __future__ import annotations

import numpy as np

from gradekit.checking import Registry, answer_array, case_rng, expect, expect_close, expect_equal, expect_shape
from tinytorch_ref.spatial import fast as ref
from tinytorch_ref.spatial.shapes import conv_output_size as ref_output_size
from tinytorch_ref.spatial.shapes import receptive_field as ref_receptive_field

from .spatial_checks.drivers import build, describe_layer, forward, forward_backward, load_params, param_grads

REGISTRY = Registry()
check = REGISTRY.check
RTOL, ATOL = 1e-4, 1e-6


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def close(got, expected, what, hint=""):
    scale = max(1.0, float(np.max(np.abs(expected)))) if np.size(expected) else 1.0
    expect_close(got, expected, what, hint=hint, rtol=RTOL, atol=ATOL * scale)


def diagnose(got: np.ndarray, candidates: dict) -> str:
    """Name the known mistake whose output ``got`` (validated by answer_array) reproduces, if any."""
    for hint, candidate in candidates.items():
        if candidate is not None and got.shape == candidate.shape and np.allclose(got, candidate, rtol=RTOL, atol=1e-6):
            return hint
    return ""


# ------------------------------------------------------------ shape helpers
OUTPUT_SIZE_CASES = [(5, 3, 1, 0), (5, 3, 2, 0), (6, 3, 2, 0), (7, 2, 3, 1), (10, 4, 3, 2),
                     (11, 5, 2, 2), (4, 4, 1, 0), (3, 5, 1, 1), (9, 3, 3, 0), (8, 1, 2, 0)]


@check("test_conv_output_size", "conv_output_size over a grid of sizes, kernels, strides and paddings")
def output_size_grid(s):
    for size, k, st, p in OUTPUT_SIZE_CASES:
        expect_equal(s.call("conv_output_size", size, k, st, p), ref_output_size(size, k, st, p),
                     f"conv_output_size(size={size}, kernel={k}, stride={st}, padding={p})",
                     hint="Use floor division: (size + 2*padding - kernel) // stride + 1.")


@check("test_conv_output_size", "conv_output_size with stride and padding left at their defaults (1 and 0)")
def output_size_defaults(s):
    for args in [(7, 3), (6, 1), (9, 4, 2)]:
        expect_equal(s.call("conv_output_size", *args), ref_output_size(*args),
                     f"conv_output_size{args} (defaults: stride=1, padding=0)",
                     hint="Keep the signature's defaults: stride=1, padding=0.")


@check("test_receptive_field", "receptive_field for 0-6 layers and kernels 1, 3, 5, 7")
def receptive_field_grid(s):
    for n in range(0, 7):
        for k in (1, 3, 5, 7):
            expect_equal(s.call("receptive_field", n, k), ref_receptive_field(n, k), f"receptive_field({n}, {k})",
                         hint="Each stride-1 layer adds kernel - 1 to the receptive field.")


@check("test_receptive_field", "receptive_field with the kernel left at its default (3)")
def receptive_field_defaults(s):
    for n in range(0, 4):
        expect_equal(s.call("receptive_field", n), ref_receptive_field(n), f"receptive_field({n}) (default kernel=3)",
                     hint="Keep the signature's default: kernel=3.")


# ------------------------------------------------------------------- Conv2d
@check("test_conv2d_init", "parameter shapes, counts, bias=False and He initialisation")
def conv_init(s):
    for args, kwargs in [((3, 5, (2, 3)), {}), ((16, 32, 5), {}), ((2, 7, 3), {"bias": False}),
                         ((4, 6, (3, 1)), {"stride": 2, "padding": (1, 0)})]:
        what = describe_layer("Conv2d", args, kwargs)
        conv = build(s, "Conv2d", *args, **kwargs)
        cin, cout, k = args
        kh, kw = pair(k)
        expect_shape(s.data(s.attr(conv, "weight")), (cout, cin, kh, kw), f"{what}.weight",
                     hint="The weight layout is (out_channels, in_channels, kernel_h, kernel_w).")
        has_bias = kwargs.get("bias", True)
        bias = s.attr(conv, "bias")
        if has_bias:
            expect(bias is not None, f"{what}.bias is None but bias=True")
            close(s.data(bias), np.zeros(cout), f"{what}.bias (should start at zero)")
        else:
            expect(bias is None, f"{what}.bias should be None when bias=False")
        total = sum(s.data(p).size for p in s.parameters(conv))
        expect_equal(total, cout * cin * kh * kw + (cout if has_bias else 0),
                     f"number of parameters of {what}")
    conv = build(s, "Conv2d", 64, 128, 3)
    w = answer_array(s.data(s.attr(conv, "weight")), (128, 64, 3, 3), "Conv2d(64, 128, 3).weight", finite=True)
    target = np.sqrt(2.0 / (64 * 9))
    expect(abs(float(w.std()) / target - 1) < 0.05 and abs(float(w.mean())) < 0.1 * target,
           f"Conv2d(64, 128, 3) initial weights should have mean 0 and std sqrt(2 / fan_in) = {target:.4f} "
           f"(He initialisation, fan_in = 64*3*3); got mean {float(w.mean()):.4f}, std {float(w.std()):.4f}")
    other = answer_array(s.data(s.attr(build(s, "Conv2d", 64, 128, 3), "weight")), (128, 64, 3, 3),
                         "a second Conv2d(64, 128, 3).weight")
    expect(not np.array_equal(w, other), "two new Conv2d layers got identical weights: initialise them randomly")


CONV_CASES = [  # (N, C_in, H, W, C_out, kernel, stride, padding, bias)
    (2, 3, 5, 6, 4, 3, 1, 0, True),
    (2, 3, 7, 5, 2, 3, 2, 1, True),
    (1, 2, 8, 7, 3, (2, 3), (2, 1), (1, 2), True),
    (2, 1, 9, 9, 2, 3, 3, 2, False),
    (3, 2, 6, 4, 2, (3, 2), 1, (2, 1), True),
    (2, 4, 5, 5, 3, 1, 2, 0, True),
    (1, 2, 7, 6, 1, 2, 3, 0, True),               # one filter; gaps; last rows/columns in no window
    (2, 1, 4, 3, 2, (6, 5), 1, 1, True),          # kernel = padded input; asymmetric kernel alone
    (1, 2, 6, 7, 2, 3, (1, 2), 1, True),          # asymmetric stride alone
    (1, 2, 5, 6, 2, 3, 1, (0, 1), False),         # asymmetric padding alone
    (1, 1, 11, 5, 2, 3, 4, 1, True),              # last rows in no window although padded
]


def conv_case(s, case, name):
    n, cin, h, w_, cout, k, st, p, has_bias = case
    rng = case_rng(f"{name}:{case}")
    kh, kw = pair(k)
    x = rng.normal(size=(n, cin, h, w_))
    w = rng.normal(size=(cout, cin, kh, kw))
    b = rng.normal(size=cout) if has_bias else None
    kwargs = {"stride": st, "padding": p}
    if not has_bias:
        kwargs["bias"] = False
    what = describe_layer("Conv2d", (cin, cout, k), kwargs) + f" on input {x.shape}"
    conv = build(s, "Conv2d", cin, cout, k, **kwargs)
    load_params(s, conv, what, weight=w, bias=b)
    return conv, x, w, b, pair(st), pair(p), what


@check("test_conv2d_forward", "values match the reference over strides, paddings, non-square inputs and kernels")
def conv_forward_grid(s):
    for case in CONV_CASES:
        conv, x, w, b, st, p, what = conv_case(s, case, "conv_forward")
        expected, _ = ref.conv2d_forward(x, w, b, st, p)
        got = answer_array(forward(s, conv, x, what), expected.shape, what,
                           hint="Output size per axis is (size + 2*padding - kernel) // stride + 1.")
        hint = diagnose(got, {
            "Your output equals a true convolution (kernel flipped); CNN layers compute cross-correlation, "
            "so do not flip the kernel.": ref.conv2d_forward(x, w[:, :, ::-1, ::-1].copy(), b, st, p)[0],
            "Your output is missing the bias.": ref.conv2d_forward(x, w, None, st, p)[0] if b is not None else None,
        })
        close(got, expected, f"{what}: output values", hint)


@check("test_conv2d_forward", "weight sharing: one filter weight moves its channel's output at every position")
def conv_weight_sharing(s):
    rng = case_rng("weight_sharing")
    x = rng.uniform(0.5, 1.5, size=(1, 2, 6, 5))
    w = rng.normal(size=(3, 2, 3, 3))
    conv = build(s, "Conv2d", 2, 3, 3, bias=False)
    load_params(s, conv, "Conv2d(2, 3, 3, bias=False)", weight=w)
    shape = (1, 3, 4, 3)  # (6 - 3 + 1, 5 - 3 + 1)
    before = answer_array(forward(s, conv, x, "Conv2d(2, 3, 3)"), shape, "Conv2d(2, 3, 3) output", finite=True)
    w2 = w.copy()
    w2[1, 0, 1, 1] += 1.0
    load_params(s, conv, "Conv2d(2, 3, 3, bias=False)", weight=w2)
    after = answer_array(forward(s, conv, x, "Conv2d(2, 3, 3)"), shape,
                         "Conv2d(2, 3, 3) output after changing a weight", finite=True)
    delta = after - before
    close(delta[0, 1], x[0, 0, 1:-1, 1:-1],
          "Conv2d(2, 3, 3): change of output channel 1 after adding 1 to weight[1, 0, 1, 1]",
          hint="The same filter weight must be applied at every output position, to input channel 0 only.")
    close(delta[0, [0, 2]], np.zeros_like(delta[0, [0, 2]]),
          "Conv2d(2, 3, 3): output channels 0 and 2 after changing a weight of filter 1 (should not change)")


def expect_weights_matter(s, conv, x, w, b, out, what):
    """The output is a non-zero linear function of the weights: doubling them doubles out - bias.

    The property checks (shift, side effects) hold for functions that ignore the weights too (a
    crop of the input, a constant); this makes them hold only for a layer that computes with them.
    """
    bias = np.zeros((1, len(w), 1, 1)) if b is None else np.reshape(b, (1, -1, 1, 1))
    load_params(s, conv, what, weight=2 * w, bias=b)
    doubled = answer_array(forward(s, conv, x, what), out.shape, f"{what} output with the weights doubled")
    expect(float(np.max(np.abs(out - bias))) > 1e-6, f"{what}: the output does not depend on the weights")
    close(doubled - bias, 2 * (out - bias), f"{what}: output minus bias with the weights doubled, compared with "
          "twice the output minus bias", hint="Each output is a weighted sum of inputs: it scales with the weights.")
    load_params(s, conv, what, weight=w, bias=b)


@check("test_conv2d_forward", "shifting the input shifts the output (translation equivariance)")
def conv_shift(s):
    rng = case_rng("shift")
    x = rng.normal(size=(1, 2, 9, 8))
    w = rng.normal(size=(2, 2, 3, 2))
    conv = build(s, "Conv2d", 2, 2, (3, 2), bias=False)
    load_params(s, conv, "Conv2d(2, 2, (3, 2), bias=False)", weight=w)
    shape = (1, 2, 7, 7)  # (9 - 3 + 1, 8 - 2 + 1)
    out = answer_array(forward(s, conv, x, "Conv2d(2, 2, (3, 2))"), shape, "Conv2d(2, 2, (3, 2)) output",
                       finite=True)
    shifted = np.roll(x, shift=(1, 2), axis=(2, 3))
    out_shifted = answer_array(forward(s, conv, shifted, "Conv2d(2, 2, (3, 2))"), shape,
                               "Conv2d(2, 2, (3, 2)) output for the shifted input")
    close(out_shifted[:, :, 1:, 2:], out[:, :, :-1, :-2],
          "Conv2d(2, 2, (3, 2)): output for the input shifted down 1 and right 2, compared with the "
          "shifted original output (interior)",
          hint="Check the row/column indices of your windows (H is axis 2, W is axis 3).")
    expect_weights_matter(s, conv, x, w, None, out, "Conv2d(2, 2, (3, 2), bias=False)")


@check("test_conv2d_forward", "the forward pass leaves its input unchanged and batch items independent")
def conv_no_side_effects(s):
    rng = case_rng("side_effects")
    x = rng.normal(size=(3, 2, 5, 5))
    conv = build(s, "Conv2d", 2, 2, 3, padding=1)
    w = rng.normal(size=(2, 2, 3, 3))
    load_params(s, conv, "Conv2d(2, 2, 3, padding=1)", weight=w, bias=np.ones(2))
    xt = s.tensor(x)
    out = answer_array(s.data(s.apply(conv, xt)), x.shape, "Conv2d(2, 2, 3, padding=1) output on a batch of 3")
    close(s.data(xt), x, "the input tensor after Conv2d(2, 2, 3, padding=1) forward (must not be modified)")
    single = answer_array(forward(s, conv, x[1:2], "Conv2d(2, 2, 3, padding=1)"), (1, 2, 5, 5),
                          "Conv2d(2, 2, 3, padding=1) output on batch item 1 alone", finite=True)
    close(out[1:2], single, "output of batch item 1 computed alone vs inside a batch of 3",
          hint="Each batch item must only see its own input.")
    expect_weights_matter(s, conv, x, w, np.ones(2), out, "Conv2d(2, 2, 3, padding=1)")


@check("test_conv2d_backward", "input, weight and bias gradients match the reference for a random upstream gradient")
def conv_backward_grid(s):
    for case in CONV_CASES:
        conv, x, w, b, st, p, what = conv_case(s, case, "conv_backward")
        rng = case_rng(f"upstream:{case}")
        out, dx, g = forward_backward(s, conv, x, lambda shape, rng=rng: rng.normal(size=shape), what)
        expected, cache = ref.conv2d_forward(x, w, b, st, p)
        expect_shape(out, expected.shape, f"{what}: output")
        rdx, rdw, rdb = ref.conv2d_backward(g, cache)
        close(dx, rdx, f"{what}: input gradient", hint="Every input value gets the upstream gradient of each "
              "window that used it, times the weight it met; remember to drop the padding at the end.")
        grads = param_grads(s, conv, ["weight", "bias"] if b is not None else ["weight"], what)
        close(grads["weight"], rdw, f"{what}: weight gradient",
              hint="Sum over the batch and over every output position.")
        if b is not None:
            close(grads["bias"], rdb, f"{what}: bias gradient",
                  hint="The bias gradient sums the upstream gradient over batch, height and width.")


# ------------------------------------------------------------------ pooling
MAXPOOL_CASES = [  # (shape, kernel, stride, padding)
    ((2, 3, 6, 6), 2, None, 0),
    ((2, 2, 7, 5), 3, 2, 1),
    ((1, 2, 5, 8), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 9, 7), 3, 3, 0),
    ((1, 3, 5, 5), 2, 1, 0),
    ((1, 1, 8, 5), 2, 3, 1),              # gaps; last rows/columns in no window although padded
    ((2, 2, 5, 3), (5, 1), None, 0),      # kernel = input height; kernel width 1
    ((1, 2, 3, 4), (1, 4), "None", 0),    # kernel height 1; kernel = input width; stride=None given
    ((2, 1, 6, 6), (2, 3), 2, 1),         # asymmetric kernel alone
    ((1, 2, 6, 7), 3, (2, 1), 1),         # asymmetric stride alone
    ((1, 2, 5, 6), 3, 2, (1, 0)),         # asymmetric padding alone; last column in no window
]


def pool_layer(s, cls, shape, k, st, p):
    """The pooling layer of a case; ``st`` None leaves stride at its default, "None" passes stride=None."""
    kwargs = {}
    if st is not None:
        kwargs["stride"] = None if st == "None" else st
    if p:
        kwargs["padding"] = p
    what = describe_layer(cls, (k,), kwargs) + f" on input {shape}"
    stride = kwargs.get("stride")
    return build(s, cls, k, **kwargs), what, pair(k), pair(stride if stride is not None else k), pair(p)


@check("test_maxpool2d_forward", "values match the reference (default stride, overlap, padding, non-square)")
def maxpool_forward_grid(s):
    for i, (shape, k, st, p) in enumerate(MAXPOOL_CASES):
        x = case_rng(f"maxpool:{i}").normal(size=shape)
        pool, what, kk, ss, pp = pool_layer(s, "MaxPool2d", shape, k, st, p)
        got = forward(s, pool, x, what)
        expected, _ = ref.maxpool2d_forward(x, kk, ss, pp)
        expect_shape(got, expected.shape, what, hint="MaxPool2d's stride defaults to its kernel size.")
        close(got, expected, f"{what}: output values")


@check("test_maxpool2d_forward", "padding never wins: all-negative inputs with padding")
def maxpool_negative_padding(s):
    x = -case_rng("maxpool_negative").uniform(1.0, 2.0, size=(1, 2, 4, 5))
    pool, what, kk, ss, pp = pool_layer(s, "MaxPool2d", x.shape, 3, 2, 1)
    got = forward(s, pool, x, what)
    expected, _ = ref.maxpool2d_forward(x, kk, ss, pp)
    close(got, expected, f"{what}: output values on an all-negative input",
          hint="Pad with -infinity (not 0) so that padding is never the maximum.")


@check("test_maxpool2d_backward", "input gradient matches the reference for a random upstream gradient")
def maxpool_backward_grid(s):
    for i, (shape, k, st, p) in enumerate(MAXPOOL_CASES):
        rng = case_rng(f"maxpool_bwd:{i}")
        x = rng.normal(size=shape)
        pool, what, kk, ss, pp = pool_layer(s, "MaxPool2d", shape, k, st, p)
        out, dx, g = forward_backward(s, pool, x, lambda sh, rng=rng: rng.normal(size=sh), what)
        expected, cache = ref.maxpool2d_forward(x, kk, ss, pp)
        expect_shape(out, expected.shape, f"{what}: output")
        close(dx, ref.maxpool2d_backward(g, cache), f"{what}: input gradient",
              hint="Each window's gradient goes to the position of its maximum; with overlapping windows, "
                   "add up (do not overwrite) the contributions.")


@check("test_maxpool2d_backward", "with tied maxima, each window's gradient goes to exactly one maximal position")
def maxpool_ties(s):
    x = case_rng("ties").integers(0, 3, size=(2, 2, 6, 6)).astype(float)
    pool = build(s, "MaxPool2d", 2)
    rng = case_rng("ties_upstream")
    out, dx, g = forward_backward(s, pool, x, lambda sh: rng.uniform(1.0, 2.0, size=sh), "MaxPool2d(2)")
    expect_shape(out, (2, 2, 3, 3), "MaxPool2d(2) output on a (2, 2, 6, 6) input")
    dx = answer_array(dx, x.shape, "MaxPool2d(2) input gradient")
    windows_x = x.reshape(2, 2, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 2, 3, 3, 4)
    windows_dx = dx.reshape(2, 2, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 2, 3, 3, 4)
    at_max = windows_x == windows_x.max(axis=-1, keepdims=True)
    nonzero = windows_dx != 0
    ok = (nonzero.sum(-1) == 1) & np.all(~nonzero | at_max, axis=-1) & np.isclose(windows_dx.sum(-1), g)
    bad = int((~ok).sum())
    expect(bad == 0, f"MaxPool2d(2) on an input with tied maxima: in {bad} of {ok.size} windows the gradient "
                     "was not sent, whole, to exactly one position holding the maximum "
                     "(splitting or copying it to every tied position is wrong).")


AVGPOOL_CASES = [
    ((2, 3, 6, 6), 2, None, 0),
    ((2, 2, 7, 5), 3, 2, 1),
    ((1, 2, 6, 8), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 9, 9), 3, None, 0),
    ((1, 2, 5, 5), 3, 1, 1),
    ((1, 1, 8, 5), 2, 3, 1),              # gaps; last rows/columns in no window although padded
    ((2, 2, 5, 3), (5, 1), None, 0),      # kernel = input height; kernel width 1
    ((1, 2, 3, 4), (1, 4), "None", 0),    # kernel height 1; kernel = input width; stride=None given
    ((2, 1, 6, 6), (2, 3), 2, 1),         # asymmetric kernel alone
    ((1, 2, 6, 7), 3, (2, 1), 1),         # asymmetric stride alone; remainder within the padding
    ((1, 2, 5, 6), 3, 2, (1, 0)),         # asymmetric padding alone; last column in no window
]


@check("test_avgpool2d_forward", "values match the reference (window area, padding counted, default stride)")
def avgpool_forward_grid(s):
    for i, (shape, k, st, p) in enumerate(AVGPOOL_CASES):
        x = case_rng(f"avgpool:{i}").normal(size=shape)
        pool, what, kk, ss, pp = pool_layer(s, "AvgPool2d", shape, k, st, p)
        got = forward(s, pool, x, what)
        expected, _ = ref.avgpool2d_forward(x, kk, ss, pp)
        expect_shape(got, expected.shape, what, hint="AvgPool2d's stride defaults to its kernel size.")
        close(got, expected, f"{what}: output values",
              hint="Divide by the window area kernel_h * kernel_w (padded zeros count, as in PyTorch's default).")


@check("test_avgpool2d_backward", "input gradient matches the reference for a random upstream gradient")
def avgpool_backward_grid(s):
    for i, (shape, k, st, p) in enumerate(AVGPOOL_CASES):
        rng = case_rng(f"avgpool_bwd:{i}")
        x = rng.normal(size=shape)
        pool, what, kk, ss, pp = pool_layer(s, "AvgPool2d", shape, k, st, p)
        out, dx, g = forward_backward(s, pool, x, lambda sh, rng=rng: rng.normal(size=sh), what)
        expected, cache = ref.avgpool2d_forward(x, kk, ss, pp)
        expect_shape(out, expected.shape, f"{what}: output")
        close(dx, ref.avgpool2d_backward(g, cache), f"{what}: input gradient",
              hint="Each window spreads its gradient evenly (divided by the window area) over its cells.")


# ------------------------------------------------------------------ Flatten
@check("test_flatten", "flatten order and gradient reshape on random inputs")
def flatten_grid(s):
    for shape in [(3, 2, 4, 5), (1, 4, 3, 2), (2, 1, 1, 7)]:
        rng = case_rng(f"flatten:{shape}")
        x = rng.normal(size=shape)
        flat = build(s, "Flatten")
        out, dx, g = forward_backward(s, flat, x, lambda sh, rng=rng: rng.normal(size=sh), f"Flatten() on {shape}")
        close(out, x.reshape(shape[0], -1), f"Flatten() output on input {shape}",
              hint="Keep axis 0 (batch) and flatten (C, H, W) in C order, like x.reshape(N, -1).")
        close(dx, g.reshape(shape), f"Flatten() input gradient on input {shape}",
              hint="The gradient is the upstream gradient reshaped back to the input's shape.")


@check("test_flatten", "start_dim: Flatten(start_dim=d) keeps the axes before d, forward and backward")
def flatten_start_dim(s):
    shape = (2, 3, 2, 4)
    for start_dim in (1, 2, 0):
        rng = case_rng(f"flatten_start_dim:{start_dim}")
        x = rng.normal(size=shape)
        what = f"Flatten(start_dim={start_dim}) on input {shape}"
        flat = build(s, "Flatten", start_dim=start_dim)
        out, dx, g = forward_backward(s, flat, x, lambda sh, rng=rng: rng.normal(size=sh), what)
        close(out, x.reshape(shape[:start_dim] + (-1,)), f"{what}: output",
              hint="Keep the axes before start_dim and flatten the rest in C order.")
        close(dx, g.reshape(shape), f"{what}: input gradient",
              hint="The gradient is the upstream gradient reshaped back to the input's shape.")


# ---------------------------------------------------------------- SimpleCNN
def reference_cnn_params(num_classes, in_channels, image_size, seed):
    """Seeded parameters in SimpleCNN.parameters() order (Linear weight is (in, out))."""
    rng = case_rng(seed)
    flat = 64 * (image_size // 4) ** 2
    shapes = [(32, in_channels, 3, 3), (32,), (64, 32, 3, 3), (64,), (flat, num_classes), (num_classes,)]
    scales = [np.sqrt(2 / (in_channels * 9)), 0.1, np.sqrt(2 / (32 * 9)), 0.1, np.sqrt(1 / flat), 0.1]
    return [rng.normal(size=shape) * scale for shape, scale in zip(shapes, scales)]


def reference_cnn(x, params, upstream=None):
    """Reference SimpleCNN forward (and backward when ``upstream`` is given) on arrays."""
    w1, b1, w2, b2, wf, bf = params
    c1, cache1 = ref.conv2d_forward(x, w1, b1, (1, 1), (1, 1))
    r1 = np.maximum(c1, 0)
    p1, cachep1 = ref.maxpool2d_forward(r1, (2, 2), (2, 2), (0, 0))
    c2, cache2 = ref.conv2d_forward(p1, w2, b2, (1, 1), (1, 1))
    r2 = np.maximum(c2, 0)
    p2, cachep2 = ref.maxpool2d_forward(r2, (2, 2), (2, 2), (0, 0))
    flat = p2.reshape(len(x), -1)
    logits = flat @ wf + bf
    if upstream is None:
        return logits, None
    dflat = upstream @ wf.T
    dwf, dbf = flat.T @ upstream, upstream.sum(0)
    dp2 = dflat.reshape(p2.shape)
    dc2 = ref.maxpool2d_backward(dp2, cachep2) * (c2 > 0)
    dp1, dw2, db2 = ref.conv2d_backward(dc2, cache2)
    dc1 = ref.maxpool2d_backward(dp1, cachep1) * (c1 > 0)
    _, dw1, db1 = ref.conv2d_backward(dc1, cache1)
    return logits, [dw1, db1, dw2, db2, dwf, dbf]


PARAM_NAMES = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]


def student_cnn_with(s, num_classes, in_channels, image_size, params):
    what = f"SimpleCNN(num_classes={num_classes}, in_channels={in_channels}, image_size={image_size})"
    model = build(s, "SimpleCNN", num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    refs = s.parameters(model)
    expect(len(refs) == 6, f"{what}.parameters() should return 6 tensors in the order "
                           f"{', '.join(PARAM_NAMES)}; got {len(refs)}")
    for name, r, value in zip(PARAM_NAMES, refs, params):
        expect_shape(s.data(r), value.shape, f"{what}: {name}")
        s.set_data(r, value)
    return model, refs, what


@check("test_simplecnn_structure", "parameter shapes and counts for several configurations")
def cnn_structure(s):
    for num_classes, in_channels, image_size in [(7, 1, 16), (10, 3, 8), (4, 2, 12)]:
        expected = [p.shape for p in reference_cnn_params(num_classes, in_channels, image_size, 0)]
        what = f"SimpleCNN(num_classes={num_classes}, in_channels={in_channels}, image_size={image_size})"
        model = build(s, "SimpleCNN", num_classes=num_classes, in_channels=in_channels, image_size=image_size)
        shapes = [tuple(s.data(p).shape) for p in s.parameters(model)]
        expect_equal(shapes, expected, f"{what}: parameter shapes in parameters() order",
                     hint="Order: conv1 weight, conv1 bias, conv2 weight, conv2 bias, fc weight, fc bias; "
                          "fc takes 64 * (image_size // 4)**2 features.")
        expect_equal(s.call("count_parameters", model), int(sum(np.prod(sh) for sh in expected)),
                     f"count_parameters({what})")
        out = forward(s, model, np.zeros((2, in_channels, image_size, image_size)), what)
        expect_shape(out, (2, num_classes), f"{what}: logits for a batch of 2")


@check("test_simplecnn_structure", "SimpleCNN() with its defaults: 10 classes, 3 input channels, 32x32 images")
def cnn_defaults(s):
    expected = [p.shape for p in reference_cnn_params(10, 3, 32, 0)]
    model = build(s, "SimpleCNN")
    hint = "Keep the signature's defaults: num_classes=10, in_channels=3, image_size=32."
    params = s.parameters(model)
    expect_equal(len(params), 6, "number of tensors in SimpleCNN().parameters()", hint)
    for name, param, shape in zip(PARAM_NAMES, params, expected):
        expect_shape(s.data(param), shape, f"SimpleCNN(): {name}", hint)
    expect_equal(s.call("count_parameters", model), 60362, "count_parameters(SimpleCNN())")


@check("test_simplecnn_forward", "logits match the reference network with the same weights")
def cnn_forward(s):
    for cfg, seed in [((10, 3, 16), 1), ((5, 1, 8), 2)]:
        params = reference_cnn_params(*cfg, seed)
        model, _, what = student_cnn_with(s, *cfg, params)
        x = case_rng(seed + 10).normal(size=(3, cfg[1], cfg[2], cfg[2]))
        expected, _ = reference_cnn(x, params)
        close(forward(s, model, x, what), expected, f"{what}: logits with weights copied from the reference",
              hint="The order is conv1 -> ReLU -> pool -> conv2 -> ReLU -> pool -> flatten -> fc.")


@check("test_simplecnn_training", "three SGD steps: gradients of every parameter match and the loss falls")
def cnn_training(s):
    cfg = (10, 1, 8)
    params = reference_cnn_params(*cfg, 3)
    model, refs, what = student_cnn_with(s, *cfg, params)
    rng = case_rng("training")
    n = 4                    # samples in the batch; the loss and its gradients are averages over them
    x = rng.normal(size=(n, 1, 8, 8))
    y = rng.integers(0, 10, size=n)
    lr, losses = 0.001, []   # small enough that the loss falls at every step for any drawn case
    ref_params = [p.copy() for p in params]
    for step in range(3):
        for r in refs:
            s.zero_grad(r)
        out = s.apply(model, s.tensor(x))
        logits = answer_array(s.data(out), (n, 10), f"{what}: logits", finite=True)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        losses.append(float(-np.log(probs[np.arange(n), y] + 1e-300).mean()))
        upstream = probs.copy()
        upstream[np.arange(n), y] -= 1
        upstream /= n
        s.backward(out, upstream)
        _, expected_grads = reference_cnn(x, ref_params, upstream)
        for name, r, eg in zip(PARAM_NAMES, refs, expected_grads):
            g = s.grad(r)
            expect(g is not None, f"{what}, training step {step + 1}: {name}.grad is None after backward() — "
                                  "the gradient does not reach this parameter")
            close(g, eg, f"{what}, training step {step + 1}: gradient of {name}")
        for i, (r, eg) in enumerate(zip(refs, expected_grads)):
            ref_params[i] = ref_params[i] - lr * eg
            s.set_data(r, ref_params[i])
    expect(losses[2] < losses[1] < losses[0],
           f"{what}: the loss should fall at every one of 3 SGD steps (lr {lr}), got {[round(v, 4) for v in losses]}")
