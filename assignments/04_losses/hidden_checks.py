"""Hidden checks: seeded random cases compared with the reference implementation.

Trusted side only.  This module is never shipped to students and never loaded inside a student's
kernel: at grading time it runs in the grader's own process, and the student's code is reached
only through the Student adapter, which returns plain arrays.

Every graded cell has several checks, each about one behaviour (values over a grid of shapes,
axes and reductions; the default argument; logits in the thousands; gradients for an upstream
gradient of 1 and for random upstream gradients), so partial credit follows what works.  Inputs
come from ``case_rng`` (gradekit.checking): seeded by the case's name and the submission's salt, so
each submission gets inputs of its own and a re-grade the same ones.  Tolerances admit float32
internals (rtol 1e-4) but no real bug.  Every answer is validated (``answer_array``,
``expect_close``) before a check compares or computes with it.
"""
from __future__ import annotations

import numpy as np

from gradekit.checking import Registry, answer_array, case_rng, expect_close
from tinytorch_ref.core import losses as ref
from tinytorch_ref.core.tensor import Tensor as RefTensor

from .losses_checks.drivers import describe, describe_array, loss_forward, loss_forward_backward, normalise

REGISTRY = Registry()
check = REGISTRY.check
RTOL, ATOL = 1e-4, 1e-6


def close(got, expected, what: str, hint: str = "", mistakes: dict | None = None) -> None:
    """Values within RTOL (absolute tolerance scaled by the expected magnitude); on a mismatch, the
    message names the first known mistake in ``mistakes`` (hint -> its value) that ``got`` reproduces."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    got = answer_array(got, expected.shape, what, hint)
    atol = ATOL * scale
    if got.size and np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=RTOL, atol=atol):
        return
    for message, value in (mistakes or {}).items():
        value = np.asarray(value, dtype=np.float64)
        if value.shape == got.shape and np.all(np.isfinite(got)) and np.allclose(got, value, rtol=RTOL, atol=atol):
            hint = message
            break
    expect_close(got, expected, what, hint=hint, rtol=RTOL, atol=atol)


def upstream_for(rng: np.random.Generator) -> float:
    """A random upstream gradient away from 0 and 1, of either sign."""
    return float(rng.uniform(0.5, 2.5) * rng.choice([-1.0, 1.0]))


def reference_grads(fn, inputs: list[np.ndarray], upstream: float, **kwargs) -> tuple[float, list[np.ndarray]]:
    """The reference loss ``fn(*tensors, **kwargs)`` and the gradient of each input for ``upstream``."""
    tensors = [RefTensor(np.array(x, dtype=np.float64), requires_grad=True) for x in inputs]
    out = fn(*tensors, **kwargs)
    out.backward(np.asarray(upstream))
    return out.item(), [t.grad for t in tensors]


UPSTREAM_HINT = ("backward receives the upstream gradient grad_out: multiply your local gradient by it "
                 "(the loss may be scaled or be part of a larger expression).")


# ------------------------------------------------------------- softmax, log-softmax
# (shape, axis); axis None leaves it at its default (the last axis)
SHAPE_AXES = [((5,), 0), ((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), 2),
              ((2, 3, 4), -2), ((4, 1), 1), ((1, 6), 0), ((2, 2, 3, 2), 2), ((3, 3), 0)]
DEFAULT_SHAPES = [(6,), (3, 5), (2, 4, 3), (4, 4)]
AXIS_HINT = "Reduce along `axis` (max and sum, with keepdims=True), whatever the number of dimensions."


def describe_call(name: str, x: np.ndarray, axis) -> str:
    suffix = "" if axis is None else f", axis={axis}"
    return f"{name}(x{suffix}) for x of shape {x.shape}"


STABLE_HINT = ("Subtract each slice's own maximum along `axis` (keepdims=True) before np.exp: with one maximum "
               "for the whole array, or a mean, slices far from it overflow or underflow to 0 / 0.")


def normalise_case(s, name: str, x: np.ndarray, axis, scale_note: str = "", hint: str = AXIS_HINT) -> None:
    reference = ref.softmax if name == "softmax" else ref.log_softmax
    expected = reference(x) if axis is None else reference(x, axis=axis)
    what = describe_call(name, x, axis) + scale_note
    last = reference(x)
    mistakes = {}
    if axis is not None and x.ndim > 1 and expected.shape == last.shape:
        mistakes["You normalised along the last axis, not along `axis`."] = last
    if name == "log_softmax":
        mistakes["This is softmax, not its logarithm."] = ref.softmax(x, axis=-1 if axis is None else axis)
    close(normalise(s, name, x, axis), expected, what, hint, mistakes)


def on_float32_grid(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to multiples of 1/64: exact in float32 up to 262,144 in size, so a solution that
    computes in float32 sees the same logits (otherwise float32 could not even store 3000.123 to the
    1e-4 these checks ask of the probabilities)."""
    return np.round(x * 64.0) / 64.0


def offset_rows(rng, shape, axis) -> np.ndarray:
    """Random values plus a different large offset for every slice along ``axis``: one global maximum
    would underflow the low slices to exp(-thousands) = 0 and give 0 / 0."""
    x = rng.normal(size=shape)
    moved = np.moveaxis(x, axis, -1)
    offsets = rng.choice([-8000.0, -1500.0, 0.0, 900.0, 3000.0], size=moved.shape[:-1])
    return on_float32_grid(np.moveaxis(moved + offsets[..., None], -1, axis))


def register_normalise(name: str) -> None:
    """Register the hidden checks of ``softmax`` or ``log_softmax`` (the same behaviours for both)."""
    group = f"test_{name}"

    def grid(s):
        for i, (shape, axis) in enumerate(SHAPE_AXES):
            x = case_rng(f"{name}:grid:{i}").normal(size=shape) * 3
            normalise_case(s, name, x, axis)

    def default_axis(s):
        for shape in DEFAULT_SHAPES:
            x = case_rng(f"{name}:default:{shape}").normal(size=shape) * 2
            normalise_case(s, name, x, None)

    def large(s):
        for i, (shape, axis) in enumerate([((4, 5), None), ((3, 4), 0), ((2, 3, 4), 1), ((6,), 0)]):
            rng = case_rng(f"{name}:large:{i}")
            x = rng.normal(size=shape) * 1000
            normalise_case(s, name, x, axis, " (values of size ~1000)", STABLE_HINT)
            x = offset_rows(rng, shape, -1 if axis is None else axis)
            normalise_case(s, name, x, axis, " (slices along the axis thousands apart)", STABLE_HINT)

    for func, title in [(grid, f"{name} matches the reference over shapes (1-D to 4-D) and axes"),
                        (default_axis, f"{name} without an axis works along the last axis"),
                        (large, f"{name} of logits in the thousands, and of slices thousands apart, is finite "
                                "and exact")]:
        func.__name__ = func.__qualname__ = f"{name}_{func.__name__}"
        check(group, title)(func)


register_normalise("softmax")
register_normalise("log_softmax")


# ------------------------------------------------------------------------ MSE
LOSS_SHAPES = [(1,), (7,), (4, 3), (2, 3, 4), (5, 1), (1, 6), (2, 1, 3, 2)]   # any rank: 1-D to 4-D
REDUCTIONS = [{}, {"reduction": "mean"}, {"reduction": "sum"}]   # {}: the default, mean


def reduction_of(kwargs: dict) -> str:
    return kwargs.get("reduction", "mean")


def mse_case(s, rng, shape, kwargs, scale, upstream=None):
    """One MSELoss application: forward only (upstream None) or forward and backward."""
    p, t = rng.normal(size=shape) * scale, rng.normal(size=shape) * scale
    reduction = reduction_of(kwargs)
    what = describe("MSELoss", (), kwargs) + f"(p, t) for p, t of shape {shape}"
    squared = (p - t) ** 2
    wrong_count = {"That is the sum of the squared errors: reduction='mean' divides by the number of elements.":
                   squared.sum(),
                   "You divided by the batch size (the first axis), not by the number of elements.":
                   squared.sum() / shape[0]} if reduction == "mean" else {
                   "That is the mean: with reduction='sum', do not divide.": squared.mean()}
    if upstream is None:
        expected = ref.mse_loss(RefTensor(p), RefTensor(t), reduction).item()
        close(loss_forward(s, "MSELoss", (), kwargs, [p, t], what), expected, what, mistakes=wrong_count)
        return
    expected, (rdp, rdt) = reference_grads(ref.mse_loss, [p, t], upstream, reduction=reduction)
    loss, (dp, dt) = loss_forward_backward(s, "MSELoss", (), kwargs, [p, t], ["the predictions", "the targets"],
                                           upstream, what)
    what = f"{what}, upstream gradient {upstream:.4g}"
    n = p.size
    close(dp, rdp, f"{what}: gradient of the predictions", mistakes={
        UPSTREAM_HINT: rdp / upstream,
        f"The gradient is {n} times too large: did you forget the mean's 1/N?": rdp * n,
        "You divided the gradient by the batch size (the first axis), not by the number of elements.":
            rdp * n / shape[0],
        "You divided the gradient by N although reduction='sum' does not average.": rdp / n,
        "The gradient is half the right size: d/dp (p - t)^2 = 2 (p - t).": rdp / 2,
        "The sign is wrong: the gradient of (p - t)^2 with respect to p is +2 (p - t).": -rdp,
    })
    close(dt, rdt, f"{what}: gradient of the targets", mistakes={
        "The targets' gradient is minus the predictions' gradient.": -rdt,
        UPSTREAM_HINT: rdt / upstream,
    })


@check("test_mse_forward", "MSELoss over shapes (1-D to 4-D) and reductions")
def mse_forward_grid(s):
    for shape in LOSS_SHAPES:
        for kwargs in REDUCTIONS:
            mse_case(s, case_rng(f"mse_forward:{shape}:{kwargs}"), shape, kwargs, 1.0)


@check("test_mse_forward", "MSELoss of values in the thousands")
def mse_forward_large(s):
    for shape in [(5,), (3, 4)]:
        for kwargs in REDUCTIONS:
            mse_case(s, case_rng(f"mse_forward_large:{shape}:{kwargs}"), shape, kwargs, 1000.0)


@check("test_mse_backward", "MSELoss gradients of both inputs for an upstream gradient of 1")
def mse_backward_grid(s):
    for shape in LOSS_SHAPES:
        for kwargs in REDUCTIONS:
            mse_case(s, case_rng(f"mse_backward:{shape}:{kwargs}"), shape, kwargs, 1.0, upstream=1.0)


@check("test_mse_backward", "MSELoss gradients scale with a random upstream gradient")
def mse_backward_upstream(s):
    for shape in [(4,), (3, 2), (2, 2, 3)]:
        for kwargs in REDUCTIONS:
            rng = case_rng(f"mse_backward_upstream:{shape}:{kwargs}")
            mse_case(s, rng, shape, kwargs, 2.0, upstream=upstream_for(rng))


# ------------------------------------------------------------- cross-entropy
CE_CASES = [(1, 2), (4, 3), (8, 10), (3, 1), (5, 5), (6, 4), (2, 7)]   # (N, C)


def ce_inputs(rng, n, c, scale, mixed=False):
    z = rng.normal(size=(n, c)) * scale
    if mixed:   # every row at its own level, thousands apart
        z = on_float32_grid(z + rng.choice([-5000.0, -800.0, 0.0, 1200.0, 4000.0], size=(n, 1)))
    return z, rng.integers(0, c, size=n)


CE_STABLE_HINT = ("Use a log-softmax that subtracts each row's own maximum (axis=1, keepdims=True): a shared "
                  "maximum, or np.log of a softmax, gives log(0) = -inf for rows far below it.")


def ce_case(s, z, y, upstream=None, note="", hint=""):
    n, c = z.shape
    what = f"SoftmaxCrossEntropy(targets {describe_array(y)})(z) for z of shape {z.shape}{note}"
    log_probs = ref.log_softmax(z, axis=1)
    picked = -log_probs[np.arange(n), y]
    if upstream is None:
        expected = ref.cross_entropy(RefTensor(z), y).item()
        got = loss_forward(s, "SoftmaxCrossEntropy", (y,), {}, [z], what)
        close(got, expected, what, hint=hint or "loss = -mean over n of log_softmax(z)[n, y_n].", mistakes={
            "That is the sum over the batch: the loss is the mean over the N examples.": picked.sum(),
            "The sign is wrong: the loss is MINUS the mean log-probability of the right class.": -picked.mean(),
            "You took log_probs[:, targets] (an N x N block) instead of log_probs[np.arange(N), targets].":
                -log_probs[:, y].mean(),
            "You averaged over all N * C logits: average over the N examples only.": picked.sum() / (n * c),
        })
        return
    expected, (rdz,) = reference_grads(lambda t: ref.cross_entropy(t, y), [z], upstream)
    _, (dz,) = loss_forward_backward(s, "SoftmaxCrossEntropy", (y,), {}, [z], ["the logits"], upstream, what)
    probs = np.exp(log_probs)
    column_hit = probs.copy()
    column_hit[:, y] -= 1.0
    close(dz, rdz, f"{what}, upstream gradient {upstream:.4g}: gradient of the logits",
          hint=hint or "The gradient is grad_out * (softmax(z) - one_hot(y)) / N.", mistakes={
              UPSTREAM_HINT: rdz / upstream,
              f"The gradient is {n} times too large: divide by N, the batch size (the loss is a mean).": rdz * n,
              "You divided by N * C (the number of logits); the loss averages over the N examples only.": rdz / c,
              "You did not subtract the one-hot labels: the gradient is (softmax - one_hot) / N.":
                  probs * upstream / n,
              "The sign is wrong: the gradient is (softmax - one_hot) / N, not (one_hot - softmax) / N.": -rdz,
              "You subtracted 1 in every row at every target's column (grad[:, targets] -= 1); use "
              "grad[np.arange(N), targets] -= 1.": column_hit * upstream / n,
          })


@check("test_cross_entropy_forward", "SoftmaxCrossEntropy over batch sizes and class counts (one class too)")
def ce_forward_grid(s):
    for n, c in CE_CASES:
        z, y = ce_inputs(case_rng(f"ce_forward:{n}:{c}"), n, c, 3.0)
        ce_case(s, z, y)


@check("test_cross_entropy_forward", "SoftmaxCrossEntropy of logits in the thousands and rows thousands apart")
def ce_forward_large(s):
    for n, c in [(4, 3), (6, 5), (1, 4)]:
        rng = case_rng(f"ce_forward_large:{n}:{c}")
        ce_case(s, *ce_inputs(rng, n, c, 1000.0), note=" (logits of size ~1000)", hint=CE_STABLE_HINT)
        ce_case(s, *ce_inputs(rng, n, c, 1.0, mixed=True), note=" (rows thousands apart)", hint=CE_STABLE_HINT)


@check("test_cross_entropy_forward", "every row has the same target, or every class is a target once")
def ce_forward_targets(s):
    rng = case_rng("ce_forward_targets")
    z = rng.normal(size=(5, 5)) * 2
    for y in (np.full(5, 3), np.array([4, 2, 0, 1, 3]), np.zeros(5, dtype=np.int64)):
        ce_case(s, z, y)


@check("test_cross_entropy_backward", "SoftmaxCrossEntropy gradient for an upstream gradient of 1")
def ce_backward_grid(s):
    for n, c in CE_CASES:
        z, y = ce_inputs(case_rng(f"ce_backward:{n}:{c}"), n, c, 3.0)
        ce_case(s, z, y, upstream=1.0)


@check("test_cross_entropy_backward", "SoftmaxCrossEntropy gradient scales with a random upstream gradient")
def ce_backward_upstream(s):
    for n, c in [(4, 3), (2, 5), (6, 6)]:
        rng = case_rng(f"ce_backward_upstream:{n}:{c}")
        z, y = ce_inputs(rng, n, c, 2.0)
        ce_case(s, z, y, upstream=upstream_for(rng))


@check("test_cross_entropy_backward", "SoftmaxCrossEntropy gradient for logits in the thousands")
def ce_backward_large(s):
    for n, c in [(4, 3), (5, 6)]:
        rng = case_rng(f"ce_backward_large:{n}:{c}")
        ce_case(s, *ce_inputs(rng, n, c, 1000.0), upstream=1.0, note=" (logits of size ~1000)",
                hint=CE_STABLE_HINT)
        ce_case(s, *ce_inputs(rng, n, c, 1.0, mixed=True), upstream=1.0, note=" (rows thousands apart)",
                hint=CE_STABLE_HINT)


# ---------------------------------------------------------------------- BCE
BCE_STABLE_HINT = ("Per element: max(z, 0) - y * z + log(1 + exp(-|z|)); the exponent is never positive, so "
                   "nothing overflows or becomes log(0).")


def bce_inputs(rng, shape, scale, soft):
    z = rng.normal(size=shape) * scale
    y = rng.uniform(0.0, 1.0, size=shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)
    return z, y


def bce_case(s, z, y, kwargs, upstream=None, note=""):
    reduction = reduction_of(kwargs)
    kind = "soft" if np.any((y > 0) & (y < 1)) else "0/1"
    what = describe("BCEWithLogitsLoss", (), kwargs) + f"(z, y) for z of shape {z.shape}, {kind} targets{note}"
    per = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
    if upstream is None:
        expected = ref.binary_cross_entropy_with_logits(RefTensor(z), RefTensor(y), reduction).item()
        wrong = {"That is the sum over the elements: reduction='mean' divides by their number.": per.sum(),
                 "That is the mean: with reduction='sum', do not divide.": per.mean(),
                 "The sign is wrong: the loss is MINUS the log-probability of the target.": -expected}
        got = loss_forward(s, "BCEWithLogitsLoss", (), kwargs, [z, y], what)
        close(got, expected, what, hint=BCE_STABLE_HINT, mistakes=wrong)
        return
    expected, (rdz, rdy) = reference_grads(ref.binary_cross_entropy_with_logits, [z, y], upstream,
                                           reduction=reduction)
    _, (dz, dy) = loss_forward_backward(s, "BCEWithLogitsLoss", (), kwargs, [z, y], ["the logits", "the targets"],
                                        upstream, what)
    n = z.size
    scale = upstream / n if reduction == "mean" else upstream
    what = f"{what}, upstream gradient {upstream:.4g}"
    close(dz, rdz, f"{what}: gradient of the logits", hint="d/dz = (sigmoid(z) - y), times grad_out (and / N "
          "for the mean); compute sigmoid without overflow, e.g. np.exp(-np.logaddexp(0, -z)).", mistakes={
              UPSTREAM_HINT: rdz / upstream,
              f"The gradient is {n} times too large: did you forget the mean's 1/N?": rdz * n,
              "You divided the gradient by N although reduction='sum' does not average.": rdz / n,
              "The sign is wrong: the gradient is (sigmoid(z) - y), not (y - sigmoid(z)).": -rdz,
          })
    close(dy, rdy, f"{what}: gradient of the targets", hint="d/dy (max(z, 0) - y z + log(1 + exp(-|z|))) = -z, "
          "times grad_out (and / N for the mean).", mistakes={
              UPSTREAM_HINT: rdy / upstream,
              "The targets' gradient has the wrong sign: it is -z.": -rdy,
              "The targets' gradient is -z, not -sigmoid(z).": -ref.sigmoid(z) * scale,
              f"The targets' gradient is {n} times too large: did you forget the mean's 1/N?": rdy * n,
          })


@check("test_bce_forward", "BCEWithLogitsLoss over shapes and reductions, with 0/1 and soft targets")
def bce_forward_grid(s):
    for shape in LOSS_SHAPES:
        for kwargs in REDUCTIONS:
            for soft in (False, True):
                z, y = bce_inputs(case_rng(f"bce_forward:{shape}:{kwargs}:{soft}"), shape, 2.0, soft)
                bce_case(s, z, y, kwargs)


@check("test_bce_forward", "BCEWithLogitsLoss of logits in the thousands (confidently right and wrong)")
def bce_forward_large(s):
    for shape in [(6,), (3, 4)]:
        for kwargs in REDUCTIONS:
            for soft in (False, True):
                z, y = bce_inputs(case_rng(f"bce_forward_large:{shape}:{kwargs}:{soft}"), shape, 1000.0, soft)
                bce_case(s, z, y, kwargs, note=" (logits of size ~1000)")


@check("test_bce_backward", "BCEWithLogitsLoss gradients of both inputs for an upstream gradient of 1")
def bce_backward_grid(s):
    for shape in LOSS_SHAPES:
        for kwargs in REDUCTIONS:
            for soft in (False, True):
                z, y = bce_inputs(case_rng(f"bce_backward:{shape}:{kwargs}:{soft}"), shape, 2.0, soft)
                bce_case(s, z, y, kwargs, upstream=1.0)


@check("test_bce_backward", "BCEWithLogitsLoss gradients scale with a random upstream gradient")
def bce_backward_upstream(s):
    for shape in [(5,), (2, 3)]:
        for kwargs in REDUCTIONS:
            rng = case_rng(f"bce_backward_upstream:{shape}:{kwargs}")
            z, y = bce_inputs(rng, shape, 2.0, True)
            bce_case(s, z, y, kwargs, upstream=upstream_for(rng))


@check("test_bce_backward", "BCEWithLogitsLoss gradients for logits in the thousands")
def bce_backward_large(s):
    for shape in [(6,), (3, 4)]:
        for kwargs in REDUCTIONS:
            z, y = bce_inputs(case_rng(f"bce_backward_large:{shape}:{kwargs}"), shape, 1000.0, True)
            bce_case(s, z, y, kwargs, upstream=1.0, note=" (logits of size ~1000)")

