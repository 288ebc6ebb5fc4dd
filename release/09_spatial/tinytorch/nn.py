"""Layers: the ``Module`` base class, ``Linear``, ``ReLU`` and ``Sequential``.

Every layer is callable (``layer(x)`` runs ``forward``) and exposes
``parameters()``: the Tensors an optimizer updates, in definition order.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor

__all__ = ["Module", "Linear", "ReLU", "Sequential"]


class Module:
    """Base class for layers and models.

    ``parameters()`` walks the instance attributes in the order they were
    assigned and collects Tensors with ``requires_grad=True`` and the
    parameters of sub-modules (also inside lists and tuples).
    """

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def parameters(self) -> list[Tensor]:
        found: list[Tensor] = []
        seen: set[int] = set()

        def visit(value):
            if isinstance(value, Tensor):
                if value.requires_grad and id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
            elif isinstance(value, Module):
                for p in value.parameters():
                    visit(p)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    visit(item)

        for value in vars(self).values():
            visit(value)
        return found

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None


class Linear(Module):
    """Fully connected layer: ``y = x @ weight + bias``.

    Shapes:
        x: (..., in_features) -> y: (..., out_features)
        weight: (in_features, out_features), bias: (out_features,)

    Initialisation: uniform in ±1/sqrt(in_features) for weight and bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        if in_features <= 0 or out_features <= 0:
            raise ValueError(
                f"Linear expects positive sizes, got in_features={in_features}, out_features={out_features}")
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Tensor(np.random.uniform(-bound, bound, (in_features, out_features)), requires_grad=True)
        self.bias = (Tensor(np.random.uniform(-bound, bound, (out_features,)), requires_grad=True)
                     if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear expected input with last dimension {self.in_features}, got shape {x.shape}")
        y = x @ self.weight
        return y + self.bias if self.bias is not None else y

    def __repr__(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"


class ReLU(Module):
    """Elementwise max(0, x)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()

    def __repr__(self) -> str:
        return "ReLU()"


class Sequential(Module):
    """Applies layers in order."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
