"""The foundation (modules 01-08): Tensor + autograd, layers, loss, optimizers, data.

This package contains nothing from the spatial module; it is shipped to
students next to the assignment notebook as ``tinytorch``.  Use only relative
imports inside it so it works under either name.
"""
from .data import DataLoader
from .losses import CrossEntropyLoss, cross_entropy, softmax
from .nn import Linear, Module, ReLU, Sequential
from .optim import SGD, Adam
from .tensor import Function, Tensor, is_grad_enabled, no_grad

__all__ = [
    "Tensor", "Function", "no_grad", "is_grad_enabled",
    "Module", "Linear", "ReLU", "Sequential",
    "CrossEntropyLoss", "cross_entropy", "softmax",
    "SGD", "Adam", "DataLoader",
]
