"""``SimpleCNN``, the module's example network, and ``count_parameters``."""
from __future__ import annotations

from ..core.nn import Linear, Module, ReLU
from ..core.tensor import Tensor
from .layers import Conv2d, Flatten, MaxPool2d
from .shapes import positive_int

__all__ = ["SimpleCNN", "count_parameters"]


class SimpleCNN(Module):
    """conv(3x3, 32) -> ReLU -> maxpool 2 -> conv(3x3, 64) -> ReLU -> maxpool 2 -> flatten -> linear.

    Args:
        num_classes: outputs of the classifier (default 10).
        in_channels: channels of the input images (default 3).
        image_size: height = width of the input; must be divisible by 4
            (the two poolings halve it twice).
        impl: backend of the convolutions and poolings, ``"fast"`` or ``"naive"``.

    Shapes, for a batch of N images of size S = image_size::

        x (N, in_channels, S, S)
        conv1 + relu  -> (N, 32, S, S)            3x3, padding 1 keeps the size
        pool1         -> (N, 32, S/2, S/2)
        conv2 + relu  -> (N, 64, S/2, S/2)
        pool2         -> (N, 64, S/4, S/4)
        flatten       -> (N, 64 * (S/4)**2)
        fc            -> (N, num_classes)         logits

    Parameters, defaults (3 channels, 32x32 images, 10 classes)::

        conv1   32*3*3*3  + 32 =    896
        conv2   64*32*3*3 + 64 = 18,496
        fc      4096*10   + 10 = 40,970
        total                    60,362

    A widely circulated version of the course text says this network has
    "~500K" parameters; that is wrong, it has 60,362 (``count_parameters``
    checks it).  ``parameters()`` returns them in the order
    [conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias];
    ``fc.weight`` is (in_features, out_features) as in the foundation's Linear.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, impl: str = "fast"):
        num_classes = positive_int(num_classes, "num_classes", "SimpleCNN")
        in_channels = positive_int(in_channels, "in_channels", "SimpleCNN")
        image_size = positive_int(image_size, "image_size", "SimpleCNN")
        if image_size % 4:
            raise ValueError(
                f"SimpleCNN: image_size must be divisible by 4 (two 2x2 poolings), got {image_size}")
        self.num_classes, self.in_channels, self.image_size, self.impl = num_classes, in_channels, image_size, impl
        self.conv1 = Conv2d(in_channels, 32, 3, padding=1, impl=impl)
        self.relu = ReLU()
        self.pool1 = MaxPool2d(2, impl=impl)
        self.conv2 = Conv2d(32, 64, 3, padding=1, impl=impl)
        self.pool2 = MaxPool2d(2, impl=impl)
        self.flatten = Flatten()
        self.fc = Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x) -> Tensor:
        x = self.pool1(self.relu(self.conv1(x)))
        x = self.pool2(self.relu(self.conv2(x)))
        return self.fc(self.flatten(x))

    def __repr__(self) -> str:
        return (f"SimpleCNN(num_classes={self.num_classes}, in_channels={self.in_channels}, "
                f"image_size={self.image_size})")


def count_parameters(model: Module) -> int:
    """Total number of scalars in ``model.parameters()``.

    >>> count_parameters(Conv2d(3, 32, 3))
    896
    >>> count_parameters(SimpleCNN())
    60362
    """
    return int(sum(p.size for p in model.parameters()))
