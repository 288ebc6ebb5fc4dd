"""Module 09, spatial operations: convolution, pooling, flatten and a small CNN.

Layers (``Module`` subclasses)::

    Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, impl="fast")
    MaxPool2d(kernel_size, stride=None, padding=0, impl="fast")
    AvgPool2d(kernel_size, stride=None, padding=0, impl="fast")
    Flatten(start_dim=1)
    SimpleCNN(num_classes=10, in_channels=3, image_size=32, impl="fast")

Autograd ops (the Function API the layers use): ``Conv2dFunction``,
``MaxPool2dFunction``, ``AvgPool2dFunction``.

Backends, plain numpy functions with the same signatures:

* :mod:`.naive` -- explicit loops over output positions, for reading;
* :mod:`.fast` -- im2col / stride tricks + BLAS, for running.

Helpers: ``conv_output_size``, ``receptive_field``, ``count_parameters``.
"""
from . import fast, naive
from .functions import AvgPool2dFunction, Conv2dFunction, MaxPool2dFunction
from .layers import AvgPool2d, Conv2d, Flatten, MaxPool2d
from .models import SimpleCNN, count_parameters
from .shapes import conv_output_size, receptive_field

__all__ = [
    "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "SimpleCNN", "count_parameters",
    "conv_output_size", "receptive_field",
    "Conv2dFunction", "MaxPool2dFunction", "AvgPool2dFunction",
    "naive", "fast",
]
