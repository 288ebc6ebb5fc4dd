"""The foundation this assignment builds on: a Tensor with reverse-mode autograd and the Function API.

It ships to students as ``tinytorch/__init__.py``, next to ``tinytorch/tensor.py``.  It exports
nothing else, in particular no loss function: writing those is the assignment.
"""
from .tensor import Function, Tensor, is_grad_enabled, no_grad

__all__ = ["Tensor", "Function", "no_grad", "is_grad_enabled"]
