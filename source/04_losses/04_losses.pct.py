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
# # Module 04 — Losses: measuring how wrong a model is
#
# A network only learns if it can tell how wrong its outputs are, and in which direction to move
# them. That is the job of the loss: one number that is small when the predictions are good, and a
# gradient that points every output towards a better value. In this assignment you write the three
# losses almost every model is trained with, forward *and* backward, on top of your autograd
# `Tensor`:
#
# | Part | You implement | Graded cells |
# |---|---|---|
# | 1 | `softmax` and `log_softmax`, numerically stable | 2 |
# | 2 | `MSELoss` (regression), forward + backward | 2 |
# | 3 | `SoftmaxCrossEntropy` (classification), forward + backward | 2 |
# | 4 | `BCEWithLogitsLoss` (yes/no prediction), forward + backward | 2 |
# | 5 | A written answer about the fused cross-entropy | 1 (graded by hand) |
#
# **How you are graded.** Every graded cell runs a few *visible* checks you can read and run now.
# At grading time the same cells also run *hidden* checks: more shapes and axes, both reductions,
# random inputs (including logits in the thousands) compared value by value with a reference
# implementation, and gradients for random upstream gradients, not only for 1. Passing the visible
# checks is necessary, not sufficient: test your code on your own cases too.
#
# **Conventions** (the same as PyTorch): a loss returns a scalar, a 0-d array such as the result of
# `np.mean(...)`; `reduction="mean"` averages over *every element*, `reduction="sum"` adds them up;
# class scores are *logits*, unnormalised real numbers of any size.
#
# Write your code only where it says `YOUR CODE HERE`. Do not rename the classes and functions,
# do not change the signatures, and do not delete or copy cells. Use numpy only.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np

# The autograd foundation of modules 01-03: Tensor and the Function API.
from tinytorch import Tensor, Function
from losses_checks import run

np.random.seed(0)

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "function_api", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Reminder: the `Function` API
#
# Every loss below is a `Function` subclass. `forward` receives numpy arrays (the `.data` of the
# tensors it is called on) and returns a numpy array; `backward` receives the upstream gradient
# `grad_out` (for a scalar loss: a 0-d array, `1.0` when you call `loss.backward()`) and returns
# **one gradient per input**, each shaped like that input. Save on `self` what backward needs.
# Calling an instance on tensors runs forward and records the node, so `loss.backward()` reaches
# your backward:
#
# ```python
# loss = MSELoss()(predictions, targets)   # a 0-d Tensor
# loss.backward()                          # calls MSELoss.backward(np.array(1.0))
# predictions.grad                         # the first gradient your backward returned
# ```
#
# Settings that are not tensors (the reduction, integer class labels) go to `__init__`.

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 1 — Softmax and log-softmax
#
# Softmax turns a vector of logits into probabilities: positive, summing to 1, larger logit ⇒
# larger probability:
#
# $$\text{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}} .$$
#
# Example: for `x = log([1, 2, 5])` the exponentials are `[1, 2, 5]`, so the softmax is
# `[1/8, 2/8, 5/8]`.
#
# **Stability.** `np.exp(1000.0)` is `inf` in float64 (the largest float is about `1.8e308 ≈ e^709`),
# and `inf / inf` is `nan`. Softmax does not change when you subtract the same constant `c` from every
# logit, since `e^{x_i - c} / Σ_j e^{x_j - c} = e^{x_i} / Σ_j e^{x_j}`. Choosing `c = max_j x_j`
# makes every exponent `≤ 0`: no overflow, and the largest term is exactly `1`, so the sum is at
# least 1 and never `0`. Take the maximum **along the softmax axis**, separately for every row:
# one maximum for the whole array would send a row of small logits entirely to `0 / 0`.
#
# **Log-softmax.** Losses need `log softmax(x)`. Computing `np.log(softmax(x))` fails when a
# probability underflows to `0`: for `x = [0, 1000]` the first probability is `e^{-1000}`, which
# is `0.0` in float64, and its log is `-inf`, although the exact answer, `-1000`, is a perfectly
# ordinary number. Work in log space instead, with `m = max_j x_j`:
#
# $$\log \text{softmax}(x)_i = x_i - m - \log \sum_j e^{x_j - m} .$$
#
# The last term is the *log-sum-exp* of the shifted logits; it lies between `0` and `log(n)`.
#
# Both functions take an `axis` (default: the last one) and work on arrays of any number of
# dimensions; use `keepdims=True` in your reductions so the results broadcast back. They are plain
# numpy functions: no `Tensor`, no backward.

# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax(x, axis=-1):
    """Softmax of the numpy array `x` along `axis`; same shape as `x`, never nan for finite input."""
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_softmax", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_softmax")
### BEGIN HIDDEN TESTS
run("test_softmax", hidden=True)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "log_softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def log_softmax(x, axis=-1):
    """log(softmax(x)) along `axis`, computed in log space: finite for every finite input."""
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_log_softmax", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_log_softmax")
### BEGIN HIDDEN TESTS
run("test_log_softmax", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part2", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 2 — Mean squared error
#
# For predictions `p` and targets `t` of the same shape with `N` elements in total (all axes, not
# only the batch axis):
#
# $$\text{MSE} = \frac{1}{N} \sum_k (p_k - t_k)^2 \qquad (\texttt{reduction="mean"}),
# \qquad \text{SSE} = \sum_k (p_k - t_k)^2 \qquad (\texttt{reduction="sum"}).$$
#
# Example: `p = [1, 2, 4]`, `t = [0, 2, 1]`: the squared errors are `[1, 0, 9]`, so the mean is
# `10/3` and the sum `10`.
#
# **Backward.** With upstream gradient `g` (a scalar):
#
# $$\frac{\partial L}{\partial p_k} = g \cdot \frac{2 (p_k - t_k)}{N} \quad\text{(mean)},
# \qquad g \cdot 2 (p_k - t_k) \quad\text{(sum)}, \qquad
# \frac{\partial L}{\partial t_k} = -\frac{\partial L}{\partial p_k} .$$
#
# In the example (mean, `g = 1`): `∂L/∂p = [2/3, 0, 2]` and `∂L/∂t = [-2/3, 0, -2]`. The `1/N` is
# easy to forget, and a gradient `N` times too large still points the right way, so training
# "works" with a learning rate that is silently `N` times too big. Return the targets' gradient
# too: `backward` returns one gradient per input.

# %% nbgrader={"grade": false, "grade_id": "mse_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MSELoss(Function):
    """MSELoss(reduction="mean")(predictions, targets) -> 0-d Tensor.

    forward(p, t) -> 0-d array: mean (or sum) of (p - t) ** 2 over all elements
    backward(grad_out) -> (d_p, d_t), each shaped like p
    """

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, p, t):
        ### BEGIN SOLUTION
        self.diff = p - t
        squared = self.diff ** 2
        return np.asarray(squared.mean() if self.reduction == "mean" else squared.sum())
        ### END SOLUTION

    def backward(self, grad_out):
        ### BEGIN SOLUTION
        grad = 2.0 * self.diff * grad_out
        if self.reduction == "mean":
            grad = grad / self.diff.size
        return grad, -grad
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_mse_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
run("test_mse_forward")
### BEGIN HIDDEN TESTS
run("test_mse_forward", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_mse_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
run("test_mse_backward")
### BEGIN HIDDEN TESTS
run("test_mse_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 3 — Cross-entropy over classes
#
# A classifier outputs logits `z` of shape `(N, C)`: one row per example, one column per class.
# The targets are `N` integer class labels `y_n ∈ {0, …, C-1}`. The loss is the mean negative
# log-probability the model gives to the right class:
#
# $$L = -\frac{1}{N} \sum_{n} \log \text{softmax}(z_n)_{y_n} .$$
#
# Pick the target entries with integer indexing, `log_probs[np.arange(N), y]` (one entry per row);
# `log_probs[:, y]` would be an `N × N` block. Use your `log_softmax`: it keeps the loss finite when
# the model is confidently wrong. For `z = [[1000, 0, -1000]]` and `y = [2]` the loss is `2000`,
# but `np.log(softmax(z))` would give `inf`.
#
# Example: `z = log([[1, 1, 2], [1, 3, 4]])`, `y = [2, 0]`. The softmax rows are
# `[1/4, 1/4, 1/2]` and `[1/8, 3/8, 4/8]`; the target probabilities are `1/2` and `1/8`, so
# `L = (log 2 + log 8) / 2 = 2 log 2 ≈ 1.386`.
#
# **Backward.** Softmax followed by cross-entropy has a famously simple gradient. With `P` the
# softmax of the logits and `Y` the one-hot matrix of the labels (`Y[n, y_n] = 1`, else `0`):
#
# $$\frac{\partial L}{\partial z} = g \cdot \frac{P - Y}{N} .$$
#
# In the example (`g = 1`): `[[1/8, 1/8, -1/4], [-7/16, 3/16, 1/4]]`. Each row of `P - Y` sums to
# zero and every entry lies in `[-1, 1]`, however large the logits. That is why the two are *fused*
# into one `Function` instead of chaining a softmax op and a log op: the combined backward is short,
# exact, and cannot blow up.
#
# The labels are integers and need no gradient, so `SoftmaxCrossEntropy` takes them in `__init__`
# (the given code stores them as `self.targets`); its forward receives only the logits.
# `CrossEntropyLoss` wraps it in the familiar `loss_fn(logits, targets)` form.

# %% nbgrader={"grade": false, "grade_id": "cross_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
class SoftmaxCrossEntropy(Function):
    """SoftmaxCrossEntropy(targets)(logits) -> 0-d Tensor: mean cross-entropy of softmax(logits).

    targets: N integer class labels; logits: (N, C).
    forward(z) -> 0-d array; backward(grad_out) -> (d_z,), d_z shaped like z
    """

    def __init__(self, targets):
        self.targets = np.asarray(targets, dtype=np.int64)

    def forward(self, z):
        ### BEGIN SOLUTION
        n = z.shape[0]
        log_probs = log_softmax(z, axis=1)
        self.probs = np.exp(log_probs)
        return np.asarray(-log_probs[np.arange(n), self.targets].mean())
        ### END SOLUTION

    def backward(self, grad_out):
        ### BEGIN SOLUTION
        n = self.probs.shape[0]
        grad = self.probs.copy()
        grad[np.arange(n), self.targets] -= 1.0
        return (grad * grad_out / n,)
        ### END SOLUTION


class CrossEntropyLoss:
    """CrossEntropyLoss()(logits, targets): the usual loss-function form of SoftmaxCrossEntropy."""

    def __call__(self, logits, targets):
        return SoftmaxCrossEntropy(targets)(logits)


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_cross_entropy_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_cross_entropy_forward")
### BEGIN HIDDEN TESTS
run("test_cross_entropy_forward", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_cross_entropy_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_cross_entropy_backward")
### BEGIN HIDDEN TESTS
run("test_cross_entropy_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "part4", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Part 4 — Binary cross-entropy on logits
#
# For yes/no questions (is this email spam?) a model outputs one logit `z` per question, the
# predicted probability of "yes" is `σ(z) = 1 / (1 + e^{-z})`, and a target `y ∈ [0, 1]` says what
# the answer is (`1` yes, `0` no, or a soft label in between). Per element:
#
# $$\ell(z, y) = -\,y \log \sigma(z) - (1 - y) \log (1 - \sigma(z)) .$$
#
# Example: `σ(log 3) = 3/4`, so `ℓ(log 3, 1) = -log(3/4) ≈ 0.288` and `ℓ(log 3, 0) = -log(1/4) ≈ 1.386`;
# at `z = 0` the model says 50/50 and `ℓ = log 2` for any target.
#
# **Stability.** Written as above, `z = -1000` gives `σ(z) = 0.0` and `log 0 = -inf`. Using
# `log σ(z) = -log(1 + e^{-z})` and `log(1 - σ(z)) = -z - log(1 + e^{-z})`, the loss simplifies to
# `log(1 + e^{z}) - y z`, and `log(1 + e^{z}) = max(z, 0) + log(1 + e^{-|z|})`. In that form
#
# $$\ell(z, y) = \max(z, 0) - y z + \log\!\left(1 + e^{-|z|}\right)$$
#
# the exponent is never positive, so nothing overflows; `np.log1p(a)` computes `log(1 + a)`
# accurately even when `a` is tiny. For `z = 1000, y = 0` the loss is `1000`, exactly.
#
# **Backward.** `∂ℓ/∂z = σ(z) - y` and `∂ℓ/∂y = -z`, times `g`, divided by the number of elements
# `N` for `reduction="mean"`. Compute `σ(z)` so that it does not overflow either: `1 / (1 + np.exp(-z))`
# overflows (harmlessly, with a warning) for `z = -1000`; `np.exp(-np.logaddexp(0, -z))` or
# `0.5 * (1 + np.tanh(z / 2))` do not.
#
# Example (mean, `g = 1`): `z = [0, log 3, -log 3]`, `y = [1, 0, 1]`: `σ(z) = [1/2, 3/4, 1/4]`,
# `∂L/∂z = [-1/6, 1/4, -1/4]` and `∂L/∂y = [0, -log(3)/3, log(3)/3]`.

# %% nbgrader={"grade": false, "grade_id": "bce_with_logits", "locked": false, "schema_version": 3, "solution": true, "task": false}
class BCEWithLogitsLoss(Function):
    """BCEWithLogitsLoss(reduction="mean")(logits, targets) -> 0-d Tensor.

    forward(z, y) -> 0-d array: mean (or sum) of the stable per-element binary cross-entropy
    backward(grad_out) -> (d_z, d_y), each shaped like z
    """

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, z, y):
        ### BEGIN SOLUTION
        self.z, self.y = z, y
        losses = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
        return np.asarray(losses.mean() if self.reduction == "mean" else losses.sum())
        ### END SOLUTION

    def backward(self, grad_out):
        ### BEGIN SOLUTION
        scale = grad_out / self.z.size if self.reduction == "mean" else grad_out
        sigmoid = np.exp(-np.logaddexp(0.0, -self.z))
        return (sigmoid - self.y) * scale, -self.z * scale
        ### END SOLUTION


# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_bce_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_bce_forward")
### BEGIN HIDDEN TESTS
run("test_bce_forward", hidden=True)
### END HIDDEN TESTS

# %% deletable=false editable=false nbgrader={"grade": true, "grade_id": "test_bce_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
run("test_bce_backward")
### BEGIN HIDDEN TESTS
run("test_bce_backward", hidden=True)
### END HIDDEN TESTS

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "training_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### See it work: a classifier learns from your loss
#
# The next cell fits a linear classifier `z = x @ W + b` to three clusters of points in the plane
# with your `CrossEntropyLoss` and plain gradient descent. Everything the update uses comes out of
# your backward pass. The loss should fall from `log 3 ≈ 1.10` (a uniform guess) towards 0, and
# the accuracy should approach 100%.

# %% deletable=false editable=false nbgrader={"grade": false, "grade_id": "training", "locked": true, "schema_version": 3, "solution": false, "task": false}
demo_rng = np.random.default_rng(4)
centres = np.array([[0.0, 3.0], [-3.0, -2.0], [3.0, -2.0]])
labels = np.repeat(np.arange(3), 50)
points = centres[labels] + demo_rng.normal(size=(150, 2))
W = Tensor(np.zeros((2, 3)), requires_grad=True)
b = Tensor(np.zeros(3), requires_grad=True)
loss_fn = CrossEntropyLoss()
for step in range(101):
    W.zero_grad()
    b.zero_grad()
    logits = Tensor(points) @ W + b
    loss = loss_fn(logits, labels)
    loss.backward()
    W.data -= 0.5 * W.grad
    b.data -= 0.5 * b.grad
    if step % 25 == 0:
        accuracy = (logits.data.argmax(axis=1) == labels).mean()
        print(f"step {step:3d}: loss {loss.item():.4f}, accuracy {accuracy:.0%}")

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "question_fused", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Question (3 points, graded by hand)
#
# A classmate computes cross-entropy as `-np.log(softmax(z)[np.arange(N), y]).mean()` and lets
# autograd differentiate through a separate `Softmax` op and a `Log` op. For the logits
# `z = [[1000, 0, -1000]]` with label `y = [2]`, say what their forward pass returns and what
# goes wrong in their backward pass (name the values involved), then explain why the fused
# `SoftmaxCrossEntropy` has neither problem.

# %% [markdown] nbgrader={"grade": true, "grade_id": "answer_fused", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE
#
# ### BEGIN SOLUTION
# Even a stable softmax gives probabilities `[1, e^-1000, e^-2000]`, and both small ones underflow
# to `0.0`. The loss is then `-log(0) = inf` instead of the exact `2000`. In the backward pass the
# `Log` op multiplies the upstream gradient by `1 / p = 1 / 0 = inf`, and the softmax's backward
# multiplies that by `p = 0`: `inf · 0 = nan`, so every logit gets a `nan` gradient and one step
# ruins all the weights. The fused op never forms `log p` from `p`: it computes
# `log softmax = z - max - log Σ e^{z - max}`, whose terms are all ordinary numbers (the loss is
# `2000`), and its gradient is `(P - Y) / N`, here `[1, 0, -1]`: a difference of probabilities,
# bounded by 1 in size, with no division by a probability anywhere.
# ### END SOLUTION

# %% [markdown] deletable=false editable=false nbgrader={"grade": false, "grade_id": "outro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Before you submit
#
# 1. *Kernel → Restart Kernel and Run All Cells*: every visible check should print `PASS`.
# 2. Press **Validate** in the notebook toolbar.
# 3. Submit from the Assignments tab.
