"""A catalog of realistic student bugs in the Losses assignment.

Each mutant is a small, named text change to one cell of a correct solution style (``find`` must
occur exactly once, so a mutant can never silently stop applying), and declares the graded cells
it must lose points on.  A bug in ``log_softmax`` also costs the cross-entropy cells of a style
whose ``SoftmaxCrossEntropy`` calls it, and a bug in the ``logsumexp`` helper of the softmax cell
costs every cell that builds on it; the declarations say so.  Mutants marked ``equivalent`` change
the code in a way no check can (or should) tell apart from a correct solution; they must not lose
any point.
"""
from __future__ import annotations

import functools
import os

from grader.harness.samples import Mutant

STYLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "styles")

mutant = functools.partial(Mutant, styles_dir=STYLES)

# The explicit-loop solution is the slowest correct style: `make mutants` autogrades it alone and
# holds it to this many seconds.
TIMED_STYLE = "loops"
TIMED_SECONDS_BAR = 15.0

# Graded cells, short names for the declarations below.
SM, LS = "test_softmax", "test_log_softmax"
MSEF, MSEB = "test_mse_forward", "test_mse_backward"
CEF, CEB = "test_cross_entropy_forward", "test_cross_entropy_backward"
BCEF, BCEB = "test_bce_forward", "test_bce_backward"

CATALOG: list[Mutant] = [
    # ------------------------------------------------------------------ softmax
    mutant("softmax_no_max_shift", "reference", "softmax",
           "shifted = x - x.max(axis=axis, keepdims=True)", "shifted = x",
           (SM,), "no max subtraction: exp(1000) overflows to inf and inf / inf is nan"),
    mutant("softmax_global_max", "reference", "softmax",
           "x.max(axis=axis, keepdims=True)", "x.max()",
           (SM,), "shifts by the maximum of the whole array: a row far below it underflows to 0 / 0"),
    mutant("softmax_shift_by_mean", "reference", "softmax",
           "x.max(axis=axis, keepdims=True)", "x.mean(axis=axis, keepdims=True)",
           (SM,), "shifts by the row mean: a row spread over more than ~1400 still overflows"),
    mutant("softmax_normalise_whole_array", "reference", "softmax",
           "return e / e.sum(axis=axis, keepdims=True)", "return e / e.sum()",
           (SM,), "divides by the total of the whole array instead of each row's"),
    mutant("softmax_swapaxes_one_way", "loops", "softmax",
           "moved = np.moveaxis(x, axis, -1)", "moved = np.swapaxes(x, axis, -1)",
           (SM,), "brings the axis last with swapaxes but puts it back with moveaxis: right for 2-D only"),
    mutant("softmax_max_without_keepdims", "float32", "softmax",
           "np.max(x, axis=axis, keepdims=True)", "np.max(x, axis=axis)",
           (SM, CEF, CEB), "the row maxima lose their axis and broadcast against the wrong one (the style's "
                           "cross-entropy calls softmax)"),
    mutant("softmax_default_axis_0", "branches", "softmax",
           "def softmax(x, axis=-1):", "def softmax(x, axis=0):",
           (SM,), "the default axis is the first instead of the last"),

    # ------------------------------------------------------------------ log-softmax
    mutant("log_softmax_log_of_softmax", "reference", "log_softmax",
           "shifted = x - x.max(axis=axis, keepdims=True)\n"
           "    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))",
           "return np.log(softmax(x, axis=axis))",
           (LS, CEF), "np.log(softmax(x)): -inf where a probability underflows (the cross-entropy's backward, "
                      "which only exponentiates it again, stays right)"),
    mutant("log_softmax_exp_unshifted", "reference", "log_softmax",
           "np.exp(shifted)", "np.exp(x)",
           (LS, CEF, CEB), "subtracts the max outside but exponentiates the unshifted logits"),
    mutant("log_softmax_global_max", "reference", "log_softmax",
           "x.max(axis=axis, keepdims=True)", "x.max()",
           (LS, CEF, CEB), "shifts by the maximum of the whole array: rows far below it give log(0)"),
    mutant("log_softmax_max_not_subtracted", "float32", "log_softmax",
           "return shifted - np.log(", "return x - np.log(",
           (LS, CEF), "shifts inside the log-sum-exp but returns x - log(sum(exp(x - m))), off by m "
                      "(the cross-entropy's backward uses softmax, which is right)"),
    mutant("logsumexp_unshifted", "logsumexp", "softmax",
           "return top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))",
           "return np.log(np.sum(np.exp(x), axis=axis, keepdims=True))",
           (SM, LS, CEF, CEB), "a log-sum-exp helper without the max shift: overflows, and everything built on it"),

    # ------------------------------------------------------------------ MSE
    mutant("mse_always_sums", "reference", "mse_loss",
           'squared.mean() if self.reduction == "mean" else squared.sum()', "squared.sum()",
           (MSEF,), "the forward pass sums for reduction='mean' too"),
    mutant("mse_absolute_error", "reference", "mse_loss",
           "squared = self.diff ** 2", "squared = np.abs(self.diff)",
           (MSEF,), "the mean absolute error instead of the mean squared error"),
    mutant("mse_square_of_sum", "float32", "mse_loss",
           "total = np.float32((self.diff * self.diff).sum())", "total = np.float32(self.diff.sum() ** 2)",
           (MSEF,), "squares the summed error instead of summing the squared errors"),
    mutant("mse_grad_forgets_mean", "reference", "mse_loss",
           "grad = grad / self.diff.size", "grad = grad",
           (MSEB,), "the gradient misses the mean's 1/N: N times too large"),
    mutant("mse_grad_no_factor_2", "reference", "mse_loss",
           "grad = 2.0 * self.diff * grad_out", "grad = self.diff * grad_out",
           (MSEB,), "d/dp (p - t)^2 taken as (p - t)"),
    mutant("mse_grad_ignores_upstream", "reference", "mse_loss",
           "grad = 2.0 * self.diff * grad_out", "grad = 2.0 * self.diff",
           (MSEB,), "backward never multiplies by grad_out"),
    mutant("mse_target_grad_same_sign", "reference", "mse_loss",
           "return grad, -grad", "return grad, grad",
           (MSEB,), "the targets' gradient has the predictions' sign"),
    mutant("mse_target_grad_none", "logsumexp", "mse_loss",
           "return d, -d", "return d, None",
           (MSEB,), "no gradient for the targets"),
    mutant("mse_divides_by_batch", "loops", "mse_loss",
           "total /= p.size", "total /= len(p)",
           (MSEF,), "the mean divides by the batch size instead of the number of elements"),
    mutant("mse_grad_divides_by_batch", "branches", "mse_loss",
           'denominator = self.flat.size if self.reduction == "mean" else 1.0',
           'denominator = self.shape[0] if self.reduction == "mean" else 1.0',
           (MSEB,), "the gradient divides by the batch size instead of the number of elements: right for 1-D only"),
    mutant("mse_grad_sign_swapped", "float32", "mse_loss",
           "return self.diff * factor, self.diff * -factor", "return self.diff * -factor, self.diff * factor",
           (MSEB,), "gradients of predictions and targets swapped (2 (t - p) for the predictions)"),
    mutant("mse_ignores_reduction", "logsumexp", "mse_loss",
           'self.count = p.size if self.reduction == "mean" else 1', "self.count = p.size",
           (MSEF, MSEB), "reduction='sum' averages too, forward and backward"),

    # ------------------------------------------------------------------ cross-entropy
    mutant("ce_sums_over_batch", "reference", "cross_entropy",
           "-log_probs[np.arange(n), self.targets].mean()", "-log_probs[np.arange(n), self.targets].sum()",
           (CEF,), "the loss sums over the batch instead of averaging"),
    mutant("ce_grad_forgets_n", "reference", "cross_entropy",
           "return (grad * grad_out / n,)", "return (grad * grad_out,)",
           (CEB,), "the gradient misses the 1/N of the mean"),
    mutant("ce_grad_no_one_hot", "reference", "cross_entropy",
           "        grad[np.arange(n), self.targets] -= 1.0\n", "",
           (CEB,), "the gradient is softmax / N, without subtracting the one-hot labels"),
    mutant("ce_grad_column_index", "reference", "cross_entropy",
           "grad[np.arange(n), self.targets] -= 1.0", "grad[:, self.targets] -= 1.0",
           (CEB,), "subtracts 1 in every row at every target's column"),
    mutant("ce_grad_ignores_upstream", "reference", "cross_entropy",
           "return (grad * grad_out / n,)", "return (grad / n,)",
           (CEB,), "backward never multiplies by grad_out"),
    mutant("ce_softmax_over_batch_axis", "reference", "cross_entropy",
           "log_probs = log_softmax(z, axis=1)", "log_probs = log_softmax(z, axis=0)",
           (CEF, CEB), "normalises over the batch axis instead of the classes"),
    mutant("ce_log_of_softmax", "float32", "cross_entropy",
           "log_probs = log_softmax(z, axis=1)", "log_probs = np.log(softmax(z, axis=1))",
           (CEF,), "log of the softmax: -log(0) = inf for a confidently wrong prediction (the backward, "
                   "which uses the softmax, stays right)"),
    mutant("ce_one_hot_eye_n", "logsumexp", "cross_entropy",
           "self.one_hot = np.eye(c)[self.targets]", "self.one_hot = np.eye(n)[self.targets]",
           (CEF, CEB), "one-hot rows of length N (the batch size) instead of C (the classes)"),
    mutant("ce_global_max", "branches", "cross_entropy",
           "shifted = z - z.max(axis=1, keepdims=True)", "shifted = z - z.max()",
           (CEF, CEB), "shifts by the maximum of the whole batch: a row far below it gives log(0)"),
    mutant("ce_grad_divides_by_size", "branches", "cross_entropy",
           "return (grad * (grad_out / n),)", "return (grad * (grad_out / grad.size),)",
           (CEB,), "the gradient divides by N * C instead of N"),
    mutant("ce_probs_from_softmax", "reference", "cross_entropy",
           "self.probs = np.exp(log_probs)", "self.probs = softmax(z, axis=1)",
           (), "backward uses softmax(z) instead of exp(log_softmax(z))",
           equivalent="the style's softmax is correct and stable, so both give the same probabilities"),

    # ------------------------------------------------------------------ BCE with logits
    mutant("bce_log_of_sigmoid", "reference", "bce_with_logits",
           "losses = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))",
           "p = 1 / (1 + np.exp(-z))\n        losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))",
           (BCEF,), "sigmoid, then the textbook formula: log(0) = -inf for large logits"),
    mutant("bce_softplus_overflows", "reference", "bce_with_logits",
           "np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))", "np.log1p(np.exp(z)) - y * z",
           (BCEF,), "log(1 + exp(z)) written directly: exp(1000) overflows"),
    mutant("bce_forgets_abs", "reference", "bce_with_logits",
           "np.log1p(np.exp(-np.abs(z)))", "np.log1p(np.exp(-z))",
           (BCEF,), "exp(-z) instead of exp(-|z|): wrong for every negative logit"),
    mutant("bce_log_not_log1p", "reference", "bce_with_logits",
           "np.log1p(np.exp(-np.abs(z)))", "np.log(1 + np.exp(-np.abs(z)))",
           (), "log(1 + a) instead of log1p(a)",
           equivalent="a = exp(-|z|) <= 1, and log(1 + a) differs from log1p(a) by less than 1e-16 in absolute "
                      "terms: far below any tolerance"),
    mutant("bce_grad_sign", "reference", "bce_with_logits",
           "return (sigmoid - self.y) * scale", "return (self.y - sigmoid) * scale",
           (BCEB,), "the logits' gradient is y - sigmoid(z)"),
    mutant("bce_grad_forgets_mean", "reference", "bce_with_logits",
           'scale = grad_out / self.z.size if self.reduction == "mean" else grad_out', "scale = grad_out",
           (BCEB,), "the gradients miss the mean's 1/N"),
    mutant("bce_sum_grad_divides", "reference", "bce_with_logits",
           'scale = grad_out / self.z.size if self.reduction == "mean" else grad_out',
           "scale = grad_out / self.z.size",
           (BCEB,), "the gradients divide by N for reduction='sum' too"),
    mutant("bce_grad_ignores_upstream", "reference", "bce_with_logits",
           'scale = grad_out / self.z.size if self.reduction == "mean" else grad_out',
           'scale = 1.0 / self.z.size if self.reduction == "mean" else 1.0',
           (BCEB,), "backward never multiplies by grad_out"),
    mutant("bce_target_grad_sigmoid", "reference", "bce_with_logits",
           "-self.z * scale", "-sigmoid * scale",
           (BCEB,), "the targets' gradient taken as -sigmoid(z) instead of -z"),
    mutant("bce_naive_sigmoid", "reference", "bce_with_logits",
           "sigmoid = np.exp(-np.logaddexp(0.0, -self.z))", "sigmoid = 1 / (1 + np.exp(-self.z))",
           (), "backward's sigmoid written 1 / (1 + exp(-z))",
           equivalent="for z = -1000, exp(1000) overflows to inf and 1 / (1 + inf) is 0.0, the right limit; "
                      "numpy only warns"),
    mutant("bce_always_mean", "loops", "bce_with_logits",
           'if self.reduction == "mean":\n            total /= z.size', "total /= z.size",
           (BCEF,), "the forward pass averages for reduction='sum' too"),
    mutant("bce_target_grad_not_scaled", "branches", "bce_with_logits",
           "-self.z * grad_out / n", "-self.z * grad_out",
           (BCEB,), "the targets' gradient misses the mean's 1/N"),
    mutant("bce_sigmoid_branches_swapped", "branches", "bce_with_logits",
           "sigmoid = np.where(self.z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
           "sigmoid = np.where(self.z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))",
           (BCEB,), "the two branches of the stable sigmoid swapped: computes sigmoid(-z)"),
    mutant("bce_where_both_branches", "branches", "bce_with_logits",
           "softplus = np.where(z >= 0, z + np.log1p(e), np.log1p(e))",
           "softplus = np.where(z >= 0, z + np.log1p(np.exp(-z)), np.log1p(np.exp(z)))",
           (), "np.where over two branches that may each overflow",
           equivalent="np.where evaluates both branches, but the one that overflows (inf) is never selected and "
                      "the selected one never overflows; numpy only warns"),
]

BY_NAME = {m.name: m for m in CATALOG}
if len(BY_NAME) != len(CATALOG):
    raise ValueError("two mutants share a name")
