"""tinytorch_ref: the reference implementation of the course's framework.

- ``tinytorch_ref.core``: the foundation (Tensor/autograd, Linear, ReLU, loss,
  optimizers, data loader) that students already have from modules 01-08.
- ``tinytorch_ref.spatial``: module 09, the assignment's subject (Conv2d,
  MaxPool2d, AvgPool2d, Flatten, SimpleCNN), each op with a ``naive``
  (explicit loops) and a ``fast`` (im2col / stride tricks + BLAS) backend.
"""
from .core import *  # noqa: F403
from .core import __all__ as _core_all

__all__ = list(_core_all)
