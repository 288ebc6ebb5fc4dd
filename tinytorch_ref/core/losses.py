"""Loss functions: softmax and log-softmax, softmax cross-entropy, mean squared error, and binary
cross-entropy on logits, each loss a :class:`Function` with its own backward pass.

Every function here is numerically stable for logits of any magnitude: softmax and log-softmax
shift by the maximum along the reduced axis before exponentiating, and binary cross-entropy is
written with ``log(1 + exp(-|z|))`` so that no exponential of a large positive number is taken.
"""
from __future__ import annotations

import numpy as np

from .tensor import Function, Tensor

__all__ = ["CrossEntropyLoss", "cross_entropy", "softmax", "log_softmax", "sigmoid",
           "MSELoss", "mse_loss", "BCEWithLogitsLoss", "binary_cross_entropy_with_logits", "REDUCTIONS"]

REDUCTIONS = ("mean", "sum")


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of a numpy array."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax of a numpy array: ``x - max - log(sum(exp(x - max)))``.

    Finite wherever the input is finite, also where ``softmax`` underflows to 0.
    """
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function ``1 / (1 + exp(-z))``, without overflow warnings."""
    return np.exp(-np.logaddexp(0.0, -z))


class _SoftmaxCrossEntropy(Function):
    """mean_i( -log softmax(logits_i)[target_i] ) over a batch of shape (N, classes)."""

    def __init__(self, targets: np.ndarray):
        self.targets = targets

    def forward(self, logits):
        n = logits.shape[0]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))   # log-softmax, never -inf
        self.probs = np.exp(log_probs)
        return np.asarray(-log_probs[np.arange(n), self.targets].mean())

    def backward(self, g):
        n = self.probs.shape[0]
        grad = self.probs.copy()
        grad[np.arange(n), self.targets] -= 1.0
        return (grad * (g / n),)


def cross_entropy(logits: Tensor, targets) -> Tensor:
    """Mean softmax cross-entropy of ``logits`` (N, C) against integer ``targets`` (N,)."""
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets).astype(np.int64)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {logits.shape}")
    if targets.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy expects targets of shape ({logits.shape[0]},), got {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ValueError(f"targets must lie in [0, {logits.shape[1]}), got range "
                         f"[{targets.min()}, {targets.max()}]")
    return _SoftmaxCrossEntropy(targets)(logits)


class CrossEntropyLoss:
    """Callable wrapper: ``CrossEntropyLoss()(logits, targets)``."""

    def __call__(self, logits: Tensor, targets) -> Tensor:
        return cross_entropy(logits, targets)


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    return np.asarray(values.mean() if reduction == "mean" else values.sum())


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_same_shape(name: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name} expects predictions and targets of the same shape, got {a.shape} and {b.shape}")


class _MSE(Function):
    """reduce((pred - target) ** 2); gradients for both inputs (the target's is minus the prediction's)."""

    def __init__(self, reduction: str = "mean"):
        self.reduction = reduction

    def forward(self, pred, target):
        self.diff = pred - target
        return _reduce(self.diff * self.diff, self.reduction)

    def backward(self, g):
        scale = 2.0 / self.diff.size if self.reduction == "mean" else 2.0
        grad = self.diff * (scale * g)
        return grad, -grad


def mse_loss(pred: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean (or summed) squared error between ``pred`` and ``target`` of the same shape."""
    _check_reduction(reduction)
    target = target if isinstance(target, Tensor) else Tensor(target)
    _check_same_shape("mse_loss", pred, target)
    return _MSE(reduction)(pred, target)


class MSELoss:
    """Callable wrapper: ``MSELoss(reduction="mean")(pred, target)``."""

    def __init__(self, reduction: str = "mean"):
        _check_reduction(reduction)
        self.reduction = reduction

    def __call__(self, pred: Tensor, target) -> Tensor:
        return mse_loss(pred, target, self.reduction)


class _BCEWithLogits(Function):
    """reduce(softplus(z) - y * z) for logits z and targets y in [0, 1]; gradients for both inputs.

    ``softplus(z) = log(1 + exp(z)) = max(z, 0) + log(1 + exp(-|z|))``: the exponential's argument is
    never positive, so large logits of either sign neither overflow nor lose the loss to rounding.
    d/dz = sigmoid(z) - y and d/dy = -z.
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = reduction

    def forward(self, logits, targets):
        self.logits, self.targets = logits, targets
        losses = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
        return _reduce(losses, self.reduction)

    def backward(self, g):
        scale = g / self.logits.size if self.reduction == "mean" else g
        return (sigmoid(self.logits) - self.targets) * scale, -self.logits * scale


def binary_cross_entropy_with_logits(logits: Tensor, targets, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)`` against ``targets`` (probabilities in [0, 1]), computed
    from the logits without forming the sigmoid."""
    _check_reduction(reduction)
    targets = targets if isinstance(targets, Tensor) else Tensor(targets)
    _check_same_shape("binary_cross_entropy_with_logits", logits, targets)
    return _BCEWithLogits(reduction)(logits, targets)


class BCEWithLogitsLoss:
    """Callable wrapper: ``BCEWithLogitsLoss(reduction="mean")(logits, targets)``."""

    def __init__(self, reduction: str = "mean"):
        _check_reduction(reduction)
        self.reduction = reduction

    def __call__(self, logits: Tensor, targets) -> Tensor:
        return binary_cross_entropy_with_logits(logits, targets, self.reduction)
