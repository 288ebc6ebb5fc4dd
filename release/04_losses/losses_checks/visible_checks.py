"""Visible checks: small, hand-computed examples a student can run and read.

Every expected value here is worked out by hand in the comments (most inputs are logarithms of
small integers, so the exponentials are those integers); none comes from a reference
implementation.  A wrong answer that matches a known mistake gets a message naming it.  Every
answer is validated (``answer_array``, ``expect_close``) before it is compared or computed with.
"""
from __future__ import annotations

import numpy as np

from gradekit.checking import CheckFailure, Registry, answer_array, expect_close

from .drivers import describe_array, loss_forward, loss_forward_backward, normalise

REGISTRY = Registry()
check = REGISTRY.check

LN2, LN3 = float(np.log(2.0)), float(np.log(3.0))
RTOL, ATOL = 1e-5, 1e-7   # exact in float64; room for solutions that compute in float32


def close(got, expected, what: str, mistakes: dict | None = None, hint: str = "") -> None:
    """expect_close, with a message naming the first known mistake whose value ``got`` reproduces."""
    expected = np.asarray(expected, dtype=np.float64)
    got = answer_array(got, expected.shape, what, hint)
    for message, value in (mistakes or {}).items():
        if np.all(np.isfinite(got)) and np.allclose(got, value, rtol=RTOL, atol=ATOL) \
                and not np.allclose(got, expected, rtol=RTOL, atol=ATOL):
            raise CheckFailure(f"{what}: expected {describe_array(expected)}, got {describe_array(got)}. {message}")
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
        raise CheckFailure(f"{what}: expected {describe_array(expected)}, got {describe_array(got)}. {hint}".strip())
    expect_close(got, expected, what, hint, rtol=RTOL, atol=ATOL)


# -------------------------------------------------------------------- softmax
@check("test_softmax", "softmax(log([[1, 2, 5], [1, 1, 2]])) = [[1/8, 2/8, 5/8], [1/4, 1/4, 1/2]]")
def softmax_example(s):
    x = np.log([[1.0, 2.0, 5.0], [1.0, 1.0, 2.0]])
    expected = np.array([[1 / 8, 2 / 8, 5 / 8], [1 / 4, 1 / 4, 1 / 2]])   # exp(x) = the integers, normalised
    close(normalise(s, "softmax", x), expected, "softmax(log([[1, 2, 5], [1, 1, 2]]))", {
        "Every value is divided by the total of the whole array: normalise each row separately "
        "(sum along `axis` with keepdims=True).": np.exp(x) / np.exp(x).sum(),
    }, hint="softmax_i = exp(x_i) / sum_j exp(x_j), one row at a time.")


@check("test_softmax", "softmax(log([[1, 3], [3, 1]]), axis=0) normalises each column")
def softmax_axis_example(s):
    x = np.log([[1.0, 3.0], [3.0, 1.0]])
    expected = np.array([[1 / 4, 3 / 4], [3 / 4, 1 / 4]])   # columns [1, 3] and [3, 1], divided by 4
    close(normalise(s, "softmax", x, axis=0), expected, "softmax(log([[1, 3], [3, 1]]), axis=0)", {
        "This is the softmax along the last axis: use the `axis` argument for the max and the sum.": expected.T,
    })


@check("test_softmax", "softmax([[1000, 1000], [1000, 0]]) does not overflow")
def softmax_large_example(s):
    x = np.array([[1000.0, 1000.0], [1000.0, 0.0]])
    # row 0: two equal logits -> [1/2, 1/2]; row 1: [1, e^-1000] / (1 + e^-1000) = [1, 0] in float64
    close(normalise(s, "softmax", x), [[0.5, 0.5], [1.0, 0.0]], "softmax([[1000, 1000], [1000, 0]])",
          hint="Your softmax overflows for large inputs (np.exp(1000) is inf, and inf / inf is nan): subtract "
               "each row's maximum before np.exp; softmax(x - c) equals softmax(x).")


# ---------------------------------------------------------------- log-softmax
@check("test_log_softmax", "log_softmax(log([[1, 2, 5]])) = log([[1/8, 2/8, 5/8]])")
def log_softmax_example(s):
    x = np.log([[1.0, 2.0, 5.0]])
    expected = np.log([[1 / 8, 2 / 8, 5 / 8]])
    close(normalise(s, "log_softmax", x), expected, "log_softmax(log([[1, 2, 5]]))", {
        "This is softmax, not its logarithm.": np.exp(expected),
        "The log-sum-exp was not subtracted: log_softmax(x) = x - max - log(sum(exp(x - max))).": x - x.max(),
        "You shifted by the maximum inside exp but did not subtract it outside: "
        "log_softmax(x) = (x - m) - log(sum(exp(x - m))).": expected + x.max(),
    })


@check("test_log_softmax", "log_softmax(log([[1, 3], [3, 1]]), axis=0) works column by column")
def log_softmax_axis_example(s):
    x = np.log([[1.0, 3.0], [3.0, 1.0]])
    expected = np.log([[1 / 4, 3 / 4], [3 / 4, 1 / 4]])
    close(normalise(s, "log_softmax", x, axis=0), expected, "log_softmax(log([[1, 3], [3, 1]]), axis=0)", {
        "This is the log-softmax along the last axis: use the `axis` argument.": expected.T,
    })


@check("test_log_softmax", "log_softmax([[0, 1000], [-1000, 1000]]) is finite: [[-1000, 0], [-2000, 0]]")
def log_softmax_large_example(s):
    x = np.array([[0.0, 1000.0], [-1000.0, 1000.0]])
    # log(e^0 / (e^0 + e^1000)) = -1000 - log(1 + e^-1000) = -1000 in float64; the same for -2000
    close(normalise(s, "log_softmax", x), [[-1000.0, 0.0], [-2000.0, 0.0]], "log_softmax([[0, 1000], [-1000, 1000]])",
          hint="np.log(softmax(x)) is -inf where a probability underflows to 0, and np.exp(1000) overflows: "
               "compute (x - m) - log(sum(exp(x - m))) with m the maximum along the axis.")


# ------------------------------------------------------------------------ MSE
P3, T3 = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])   # squared errors [1, 0, 9]


@check("test_mse_forward", "MSELoss()([1, 2, 4], [0, 2, 1]) = (1 + 0 + 9) / 3")
def mse_forward_example(s):
    got = loss_forward(s, "MSELoss", (), {}, [P3, T3], "MSELoss()([1, 2, 4], [0, 2, 1])")
    close(got, 10 / 3, "MSELoss()([1, 2, 4], [0, 2, 1])", {
        "That is the sum of the squared errors: reduction='mean' divides by the number of elements.": 10.0,
        "The errors are not squared.": 4 / 3,
    })


@check("test_mse_forward", "reduction='sum' adds the squared errors: 10")
def mse_forward_sum_example(s):
    what = "MSELoss(reduction='sum')([1, 2, 4], [0, 2, 1])"
    got = loss_forward(s, "MSELoss", (), {"reduction": "sum"}, [P3, T3], what)
    close(got, 10.0, what, {"That is the mean: with reduction='sum', do not divide.": 10 / 3})


@check("test_mse_forward", "a (2, 2) batch: the mean is over all 4 elements")
def mse_forward_2d_example(s):
    p, t = np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2))
    what = "MSELoss()([[1, 2], [3, 4]], zeros((2, 2)))"
    got = loss_forward(s, "MSELoss", (), {}, [p, t], what)
    close(got, 7.5, what, {   # (1 + 4 + 9 + 16) / 4
        "You divided by the batch size (2), not by the number of elements (4): use .mean() over everything "
        "or divide by p.size.": 15.0,
        "That is the sum of the squared errors: reduction='mean' divides by the number of elements.": 30.0,
    })


@check("test_mse_backward", "gradients of MSELoss()([1, 2, 4], [0, 2, 1]): 2 (p - t) / 3 and its negative")
def mse_backward_example(s):
    what = "MSELoss()([1, 2, 4], [0, 2, 1])"
    _, (dp, dt) = loss_forward_backward(s, "MSELoss", (), {}, [P3, T3], ["the predictions", "the targets"], 1.0,
                                        what)
    expected = 2 * (P3 - T3) / 3   # [2/3, 0, 2]
    close(dp, expected, f"{what}: gradient of the predictions", {
        "The gradient is 3 times too large: did you forget the mean's 1/N?": 3 * expected,
        "The gradient is half the right size: d/dp (p - t)^2 = 2 (p - t).": expected / 2,
        "The sign is wrong: the gradient of (p - t)^2 with respect to p is +2 (p - t).": -expected,
    })
    close(dt, -expected, f"{what}: gradient of the targets", {
        "The targets' gradient has the wrong sign: d/dt (p - t)^2 = -2 (p - t), minus the predictions' gradient.":
            expected,
        "The targets' gradient is 3 times too large: did you forget the mean's 1/N?": -3 * expected,
    })


@check("test_mse_backward", "with reduction='sum' the gradient is 2 (p - t)")
def mse_backward_sum_example(s):
    what = "MSELoss(reduction='sum')([1, 2, 4], [0, 2, 1])"
    _, (dp, dt) = loss_forward_backward(s, "MSELoss", (), {"reduction": "sum"}, [P3, T3],
                                        ["the predictions", "the targets"], 1.0, what)
    close(dp, [2.0, 0.0, 6.0], f"{what}: gradient of the predictions", {
        "You divided by N although reduction='sum' does not average.": [2 / 3, 0.0, 2.0],
    })
    close(dt, [-2.0, 0.0, -6.0], f"{what}: gradient of the targets")


# ------------------------------------------------------------- cross-entropy
Z2 = np.log([[1.0, 1.0, 2.0], [1.0, 3.0, 4.0]])   # softmax rows [1/4, 1/4, 1/2] and [1/8, 3/8, 4/8]
Y2 = np.array([2, 0])
Z2_TEXT = "SoftmaxCrossEntropy([2, 0])(log([[1, 1, 2], [1, 3, 4]]))"


@check("test_cross_entropy_forward", f"{Z2_TEXT} = (log 2 + log 8) / 2 = 2 log 2")
def ce_forward_example(s):
    got = loss_forward(s, "SoftmaxCrossEntropy", (Y2,), {}, [Z2], Z2_TEXT)
    close(got, 2 * LN2, Z2_TEXT, {
        "That is the sum over the batch: the loss is the mean over the N examples.": 4 * LN2,
        "The sign is wrong: the loss is MINUS the mean log-probability of the right class.": -2 * LN2,
        "You took log_probs[:, targets] (an N x N block) instead of log_probs[np.arange(N), targets] "
        "(one entry per row).": (LN2 + np.log(8) + np.log(4) + np.log(2)) / 4,
    }, hint="loss = -mean over n of log_softmax(z)[n, y_n].")


@check("test_cross_entropy_forward", "confidently wrong: SoftmaxCrossEntropy([2])([[1000, 0, -1000]]) = 2000")
def ce_forward_large_example(s):
    what = "SoftmaxCrossEntropy([2])([[1000, 0, -1000]])"
    got = loss_forward(s, "SoftmaxCrossEntropy", (np.array([2]),), {}, [np.array([[1000.0, 0.0, -1000.0]])], what)
    # -log softmax(z)[2] = log(e^1000 + 1 + e^-1000) - (-1000) = 2000 in float64
    close(got, 2000.0, what, hint="Use log_softmax: np.log(softmax(z)) is log(0) = -inf for the target class, and "
                                  "np.exp(1000) overflows. The exact loss, 2000, is an ordinary number.")
    what = "SoftmaxCrossEntropy([0])([[1000, 1000]])"
    got = loss_forward(s, "SoftmaxCrossEntropy", (np.array([0]),), {}, [np.array([[1000.0, 1000.0]])], what)
    close(got, LN2, what, hint="Two equal logits give probability 1/2 whatever their size: subtract the row's maximum.")


@check("test_cross_entropy_backward", f"gradient of {Z2_TEXT}: (softmax - one_hot) / 2")
def ce_backward_example(s):
    _, (dz,) = loss_forward_backward(s, "SoftmaxCrossEntropy", (Y2,), {}, [Z2], ["the logits"], 1.0, Z2_TEXT)
    probs = np.array([[1 / 4, 1 / 4, 1 / 2], [1 / 8, 3 / 8, 4 / 8]])
    one_hot = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    expected = (probs - one_hot) / 2   # [[1/8, 1/8, -1/4], [-7/16, 3/16, 1/4]]
    close(dz, expected, f"{Z2_TEXT}: gradient of the logits", {
        "The gradient is 2 times too large: divide by N, the batch size (the loss is a mean).": 2 * expected,
        "You divided by N * C (the number of logits); the loss averages over the N examples only.": expected * 2 / 6,
        "You did not subtract the one-hot labels: the gradient is (softmax - one_hot) / N.": probs / 2,
        "The sign is wrong: the gradient is (softmax - one_hot) / N, not (one_hot - softmax) / N.": -expected,
        "You subtracted 1 in every row at every target's column (grad[:, targets] -= 1); subtract it once per "
        "row, at that row's target: grad[np.arange(N), targets] -= 1.": (probs - one_hot[[0, 0]] - one_hot[[1, 1]]) / 2,
    })


@check("test_cross_entropy_backward", "gradient of SoftmaxCrossEntropy([2])([[1000, 0, -1000]]) is [1, 0, -1]")
def ce_backward_large_example(s):
    what = "SoftmaxCrossEntropy([2])([[1000, 0, -1000]])"
    _, (dz,) = loss_forward_backward(s, "SoftmaxCrossEntropy", (np.array([2]),), {},
                                     [np.array([[1000.0, 0.0, -1000.0]])], ["the logits"], 1.0, what)
    # softmax = [1, 0, 0] in float64, one-hot [0, 0, 1], N = 1
    close(dz, [[1.0, 0.0, -1.0]], f"{what}: gradient of the logits",
          hint="Save the (stable) softmax in forward and use it in backward: (softmax - one_hot) / N is "
               "bounded by 1 whatever the logits.")


# ---------------------------------------------------------------------- BCE
ZB, YB = np.array([0.0, LN3, -LN3]), np.array([1.0, 0.0, 1.0])   # sigmoid(z) = [1/2, 3/4, 1/4]
ZB_TEXT = "BCEWithLogitsLoss()([0, log 3, -log 3], [1, 0, 1])"


@check("test_bce_forward", f"{ZB_TEXT} = (log 2 + log 4 + log 4) / 3")
def bce_forward_example(s):
    got = loss_forward(s, "BCEWithLogitsLoss", (), {}, [ZB, YB], ZB_TEXT)
    # per element -y log(sigmoid z) - (1 - y) log(1 - sigmoid z): -log(1/2), -log(1/4), -log(1/4)
    close(got, 5 * LN2 / 3, ZB_TEXT, {
        "That is the sum over the elements: reduction='mean' divides by their number.": 5 * LN2,
        "The sign is wrong: the loss is MINUS the log-probability of the target.": -5 * LN2 / 3,
        "You used the opposite targets (y and 1 - y swapped).": (LN2 + 2 * np.log(4 / 3)) / 3,
    }, hint="Per element: max(z, 0) - y * z + log(1 + exp(-|z|)).")
    what = "BCEWithLogitsLoss(reduction='sum')([0, log 3, -log 3], [1, 0, 1])"
    got = loss_forward(s, "BCEWithLogitsLoss", (), {"reduction": "sum"}, [ZB, YB], what)
    close(got, 5 * LN2, what, {"That is the mean: with reduction='sum', do not divide.": 5 * LN2 / 3})


@check("test_bce_forward", "large logits: BCEWithLogitsLoss()([1000, -1000, 1000], [0, 1, 1]) = 2000 / 3")
def bce_forward_large_example(s):
    what = "BCEWithLogitsLoss()([1000, -1000, 1000], [0, 1, 1])"
    got = loss_forward(s, "BCEWithLogitsLoss", (), {},
                       [np.array([1000.0, -1000.0, 1000.0]), np.array([0.0, 1.0, 1.0])], what)
    # two confidently wrong answers cost 1000 each, the right one 0
    close(got, 2000 / 3, what, hint="Taking the log of a sigmoid gives log(0) = -inf here, and log(1 + exp(z)) "
                                    "overflows: use max(z, 0) - y * z + np.log1p(np.exp(-np.abs(z))).")


@check("test_bce_backward", f"gradients of {ZB_TEXT}: (sigmoid(z) - y) / 3 and -z / 3")
def bce_backward_example(s):
    _, (dz, dy) = loss_forward_backward(s, "BCEWithLogitsLoss", (), {}, [ZB, YB], ["the logits", "the targets"],
                                        1.0, ZB_TEXT)
    expected = (np.array([0.5, 0.75, 0.25]) - YB) / 3   # [-1/6, 1/4, -1/4]
    close(dz, expected, f"{ZB_TEXT}: gradient of the logits", {
        "The gradient is 3 times too large: did you forget the mean's 1/N?": 3 * expected,
        "The sign is wrong: the gradient is (sigmoid(z) - y) / N.": -expected,
    })
    close(dy, -ZB / 3, f"{ZB_TEXT}: gradient of the targets", {
        "The targets' gradient is d/dy (max(z, 0) - y z + log(1 + exp(-|z|))) = -z, not sigmoid(z).":
            -np.array([0.5, 0.75, 0.25]) / 3,
        "The targets' gradient has the wrong sign: it is -z / N.": ZB / 3,
        "The targets' gradient misses the mean's 1/N: it is -z / N.": -ZB,
    })


@check("test_bce_backward", "large logits: gradient of BCEWithLogitsLoss()([1000, -1000], [0, 1]) is [1/2, -1/2]")
def bce_backward_large_example(s):
    what = "BCEWithLogitsLoss()([1000, -1000], [0, 1])"
    _, (dz, _) = loss_forward_backward(s, "BCEWithLogitsLoss", (), {},
                                       [np.array([1000.0, -1000.0]), np.array([0.0, 1.0])],
                                       ["the logits", "the targets"], 1.0, what)
    # sigmoid = [1, 0]: (sigmoid - y) / 2
    close(dz, [0.5, -0.5], f"{what}: gradient of the logits",
          hint="Compute sigmoid(z) without overflow, e.g. np.exp(-np.logaddexp(0, -z)).")
