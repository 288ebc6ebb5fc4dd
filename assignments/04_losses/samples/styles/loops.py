# A correct solution with explicit Python loops: softmax one slice at a time, losses one element
# (or one example) at a time, with the math module for the scalar formulas.

# %% softmax
import math


def softmax(x, axis=-1):
    moved = np.moveaxis(x, axis, -1)
    out = np.empty(moved.shape)
    for index in np.ndindex(moved.shape[:-1]):
        row = moved[index]
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        out[index] = [e / total for e in exps]
    return np.moveaxis(out, -1, axis)

# %% log_softmax
def log_softmax(x, axis=-1):
    moved = np.moveaxis(x, axis, -1)
    out = np.empty(moved.shape)
    for index in np.ndindex(moved.shape[:-1]):
        row = moved[index]
        top = max(row)
        log_total = math.log(sum(math.exp(v - top) for v in row))
        out[index] = [v - top - log_total for v in row]
    return np.moveaxis(out, -1, axis)

# %% mse_loss
class MSELoss(Function):
    """MSELoss(reduction="mean")(predictions, targets) -> 0-d Tensor."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, p, t):
        self.p, self.t = p, t
        total = 0.0
        for a, b in zip(p.ravel(), t.ravel()):
            total += (a - b) ** 2
        if self.reduction == "mean":
            total /= p.size
        return np.array(total)

    def backward(self, grad_out):
        g = float(grad_out)
        count = self.p.size if self.reduction == "mean" else 1
        dp = np.empty(self.p.shape)
        for index in np.ndindex(self.p.shape):
            dp[index] = 2.0 * (self.p[index] - self.t[index]) * g / count
        return dp, -dp

# %% cross_entropy
import math


class SoftmaxCrossEntropy(Function):
    """SoftmaxCrossEntropy(targets)(logits) -> 0-d Tensor."""

    def __init__(self, targets):
        self.targets = np.asarray(targets, dtype=np.int64)

    def forward(self, z):
        n = z.shape[0]
        self.probs = np.empty(z.shape)
        total = 0.0
        for i in range(n):
            top = max(z[i])
            exps = [math.exp(v - top) for v in z[i]]
            row_total = sum(exps)
            self.probs[i] = [e / row_total for e in exps]
            total += math.log(row_total) + top - z[i, self.targets[i]]
        return np.array(total / n)

    def backward(self, grad_out):
        n = self.probs.shape[0]
        grad = np.empty(self.probs.shape)
        for i in range(n):
            for j in range(self.probs.shape[1]):
                hit = 1.0 if j == self.targets[i] else 0.0
                grad[i, j] = (self.probs[i, j] - hit) / n
        return (grad * grad_out,)


class CrossEntropyLoss:
    """CrossEntropyLoss()(logits, targets): the usual loss-function form of SoftmaxCrossEntropy."""

    def __call__(self, logits, targets):
        return SoftmaxCrossEntropy(targets)(logits)

# %% bce_with_logits
import math


def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


class BCEWithLogitsLoss(Function):
    """BCEWithLogitsLoss(reduction="mean")(logits, targets) -> 0-d Tensor."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, z, y):
        self.z, self.y = z, y
        total = 0.0
        for v, t in zip(z.ravel(), y.ravel()):
            total += max(v, 0.0) - t * v + math.log1p(math.exp(-abs(v)))
        if self.reduction == "mean":
            total /= z.size
        return np.array(total)

    def backward(self, grad_out):
        count = self.z.size if self.reduction == "mean" else 1
        g = float(grad_out) / count
        dz, dy = np.empty(self.z.shape), np.empty(self.z.shape)
        for index in np.ndindex(self.z.shape):
            dz[index] = (_sigmoid(self.z[index]) - self.y[index]) * g
            dy[index] = -self.z[index] * g
        return dz, dy
