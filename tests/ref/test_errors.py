"""Bad settings and inputs raise ValueError naming what was expected and what was received."""
import numpy as np
import pytest

from tinytorch_ref.core import Tensor
from tinytorch_ref.spatial import (
    AvgPool2d,
    AvgPool2dFunction,
    Conv2d,
    Conv2dFunction,
    Flatten,
    MaxPool2d,
    MaxPool2dFunction,
    SimpleCNN,
    conv_output_size,
    fast,
    naive,
    receptive_field,
)


def raises(fn, *fragments):
    """Call fn, expect ValueError, and check that the message contains every fragment."""
    with pytest.raises(ValueError) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in error message {message!r}"
    return message


# ------------------------------------------------------------- forward inputs
@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_conv2d_rejects_3d_input(impl):
    raises(lambda: Conv2d(3, 4, 3, impl=impl)(np.zeros((3, 8, 8))), "4-D", "(3, 8, 8)")


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_conv2d_rejects_channel_mismatch(impl):
    raises(lambda: Conv2d(3, 4, 3, impl=impl)(np.zeros((2, 4, 8, 8))), "3 input channels", "(2, 4, 8, 8)", "4 channels")


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_conv2d_rejects_kernel_larger_than_padded_input(impl):
    raises(lambda: Conv2d(1, 1, 5, padding=1, impl=impl)(np.zeros((1, 1, 2, 6))),
           "kernel 5x5", "padded input 4x8", "(1, 1, 2, 6)")


def test_pools_reject_bad_inputs():
    raises(lambda: MaxPool2d(2)(np.zeros((4, 4))), "MaxPool2d", "4-D", "(4, 4)")
    raises(lambda: AvgPool2d(3)(np.zeros((1, 1, 2, 5))), "AvgPool2d", "kernel 3x3", "padded input 2x5")


def test_backend_functions_validate_too():
    for backend in (naive, fast):
        raises(lambda backend=backend: backend.conv2d_forward(np.zeros((1, 2, 4, 4)), np.zeros((3, 1, 2, 2)), None,
                                                              (1, 1), (0, 0)),
               "1 input channels", "(1, 2, 4, 4)")
        raises(lambda backend=backend: backend.conv2d_forward(np.zeros((1, 2, 4, 4)), np.zeros((3, 2, 2, 2)),
                                                              np.zeros(2), (1, 1), (0, 0)),
               "bias of shape (3,)", "(2,)")
        raises(lambda backend=backend: backend.maxpool2d_forward(np.zeros((1, 2, 4)), (2, 2), (2, 2), (0, 0)),
               "4-D", "(1, 2, 4)")


def test_flatten_rejects_too_few_dimensions():
    raises(lambda: Flatten(2)(np.zeros((3, 4))), "Flatten(start_dim=2)", "(3, 4)")


# ---------------------------------------------------------- construction
@pytest.mark.parametrize("kwargs, fragments", [
    (dict(in_channels=0, out_channels=4, kernel_size=3), ["in_channels", "0"]),
    (dict(in_channels=3, out_channels=-2, kernel_size=3), ["out_channels", "-2"]),
    (dict(in_channels=3, out_channels=4, kernel_size=0), ["kernel_size", "0"]),
    (dict(in_channels=3, out_channels=4, kernel_size=(3, -1)), ["kernel_size", "(3, -1)"]),
    (dict(in_channels=3, out_channels=4, kernel_size=3, stride=0), ["stride", "0"]),
    (dict(in_channels=3, out_channels=4, kernel_size=3, stride=(1, -2)), ["stride", "(1, -2)"]),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding=-1), ["padding", "-1"]),
    (dict(in_channels=3, out_channels=4, kernel_size=2.5), ["kernel_size", "2.5"]),
    (dict(in_channels=3.0, out_channels=4, kernel_size=3), ["in_channels", "3.0"]),
])
def test_conv2d_rejects_bad_settings(kwargs, fragments):
    raises(lambda: Conv2d(**kwargs), *fragments)


@pytest.mark.parametrize("pool", [MaxPool2d, AvgPool2d])
def test_pools_reject_bad_settings(pool):
    raises(lambda: pool(0), "kernel_size", "0")
    raises(lambda: pool(2, stride=0), "stride", "0")
    raises(lambda: pool(2, padding=-1), "padding", "-1")


@pytest.mark.parametrize("pool", [MaxPool2d, AvgPool2d, MaxPool2dFunction, AvgPool2dFunction])
def test_pools_reject_padding_over_half_the_kernel(pool):
    raises(lambda: pool(2, padding=2), "padding 2", "kernel 2", "<= 1")
    raises(lambda: pool((3, 4), padding=(1, 3)), "padding 3", "kernel 4", "width", "<= 2")
    pool(3, padding=1)         # exactly at the limit is fine (2 * 1 <= 3)
    pool(2, padding=1)


@pytest.mark.parametrize("make", [
    lambda impl: Conv2d(1, 1, 3, impl=impl),
    lambda impl: MaxPool2d(2, impl=impl),
    lambda impl: AvgPool2d(2, impl=impl),
    lambda impl: SimpleCNN(impl=impl),
    lambda impl: Conv2dFunction(1, 0, impl=impl),
    lambda impl: MaxPool2dFunction(2, impl=impl),
])
def test_bad_impl_name_lists_the_valid_ones(make):
    raises(lambda: make("cuda"), "'cuda'", "'fast'", "'naive'")


def test_conv2d_function_rejects_bad_settings():
    raises(lambda: Conv2dFunction(stride=0), "stride", "0")
    raises(lambda: Conv2dFunction(padding=(0, -1)), "padding", "(0, -1)")


@pytest.mark.parametrize("size", [30, 10, 2])
def test_simplecnn_image_size_must_be_divisible_by_4(size):
    raises(lambda: SimpleCNN(image_size=size), "divisible by 4", str(size))


def test_simplecnn_input_must_match_its_configuration():
    model = SimpleCNN(in_channels=1, image_size=8)
    raises(lambda: model(np.zeros((2, 3, 8, 8))), "1 input channels", "(2, 3, 8, 8)")
    # a different image size reaches the classifier with the wrong number of features
    raises(lambda: model(Tensor(np.zeros((2, 1, 12, 12)))), "256", "(2, 576)")


# ---------------------------------------------------------------- helpers
def test_shape_helpers_reject_bad_values():
    raises(lambda: conv_output_size(0, 3), "size=0")
    raises(lambda: conv_output_size(5, 3, 0), "stride=0")
    raises(lambda: conv_output_size(5, 3, 1, -1), "padding", "-1")
    raises(lambda: conv_output_size(2, 5, 1, 1), "kernel 5", "padded input")
    raises(lambda: receptive_field(-1), "num_layers=-1")
