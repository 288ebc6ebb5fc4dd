"""Softmax cross-entropy loss."""
from __future__ import annotations

import numpy as np

from .tensor import Function, Tensor

__all__ = ["CrossEntropyLoss", "cross_entropy", "softmax"]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of a numpy array."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


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
