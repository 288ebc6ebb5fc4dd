"""The foundation (modules 01-08): Tensor + autograd, layers, loss, optimizers, data.

This package contains nothing from the spatial module; it is shipped to
students next to the assignment notebook as ``tinytorch``.  Use only relative
imports inside it so it works under either name.
"""
from .tensor import Tensor, Function, no_grad, is_grad_enabled
from .nn import Module, Linear, ReLU, Sequential
from .losses import CrossEntropyLoss, cross_entropy, softmax
from .optim import SGD, Adam
from .data import DataLoader

__all__ = [
    "Tensor", "Function", "no_grad", "is_grad_enabled",
    "Module", "Linear", "ReLU", "Sequential",
    "CrossEntropyLoss", "cross_entropy", "softmax",
    "SGD", "Adam", "DataLoader",
]
