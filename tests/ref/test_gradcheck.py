"""Numeric gradient checks (central differences, float64), independent of PyTorch.

For a fixed random upstream gradient G, the scalar L(inputs) = sum(op(inputs) * G)
has dL/dinput = the op's backward applied to G.  Each partial derivative is
estimated as (L(v + h) - L(v - h)) / 2h and compared with the gradients that
the autograd Tensor API accumulates after ``out.backward(G)``.
"""
import numpy as np
import pytest

from tinytorch_ref.core import Tensor
from tinytorch_ref.spatial import AvgPool2d, Conv2d, Conv2dFunction, MaxPool2d

EPS = 1e-6
TOL = 1e-7   # the ops are (piecewise) linear, so only rounding limits the agreement


def numeric_grad(f, array: np.ndarray) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of ``array`` (modified in place)."""
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        saved = array[idx]
        array[idx] = saved + EPS
        plus = f()
        array[idx] = saved - EPS
        minus = f()
        array[idx] = saved
        grad[idx] = (plus - minus) / (2 * EPS)
    return grad


def check(analytic, numeric, what):
    err = np.max(np.abs(analytic - numeric)) / max(1e-300, np.max(np.abs(numeric)))
    assert err < TOL, f"{what}: relative error {err:.2e}"


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("stride, padding, kernel",
                         [((1, 1), (1, 1), (3, 3)), ((2, 1), (1, 2), (2, 3)), ((3, 2), (0, 1), (2, 2))])
def test_conv2d_gradients_numerically(impl, stride, padding, kernel, rng):
    layer = Conv2d(2, 3, kernel, stride=stride, padding=padding, impl=impl)
    layer.bias.data = rng.standard_normal(3)
    x = Tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    out = layer(x)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)

    def loss():
        return float(np.sum(Conv2dFunction(stride, padding, impl)(x.data, layer.weight.data, layer.bias.data).data
                            * upstream))

    check(x.grad, numeric_grad(loss, x.data), "dx")
    check(layer.weight.grad, numeric_grad(loss, layer.weight.data), "dw")
    check(layer.bias.grad, numeric_grad(loss, layer.bias.data), "db")


def _distinct_values(shape, rng):
    """Values at least 0.01 apart, so a 1e-6 nudge never changes which element is a window's max."""
    return rng.permutation(np.arange(np.prod(shape)) * 0.01 - 0.3).reshape(shape)


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("pool, kernel, stride, padding", [
    (MaxPool2d, 2, None, 0),
    (MaxPool2d, 3, 2, 1),              # overlapping windows with padding
    (MaxPool2d, (2, 3), (1, 2), (1, 1)),
    (AvgPool2d, 2, None, 0),
    (AvgPool2d, 3, 2, 1),
    (AvgPool2d, (3, 2), 1, (1, 0)),
])
def test_pool_gradients_numerically(impl, pool, kernel, stride, padding, rng):
    layer = pool(kernel, stride=stride, padding=padding, impl=impl)
    x = Tensor(_distinct_values((2, 2, 5, 6), rng), requires_grad=True)
    out = layer(x)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)

    def loss():
        return float(np.sum(layer(Tensor(x.data)).data * upstream))

    check(x.grad, numeric_grad(loss, x.data), f"{pool.__name__} dx")
