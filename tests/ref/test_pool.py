"""MaxPool2d / AvgPool2d against torch.nn.functional, float64, random upstream gradients."""
import numpy as np
import pytest
import torch.nn.functional as F

from tinytorch_ref.core import Tensor
from tinytorch_ref.spatial import AvgPool2d, AvgPool2dFunction, MaxPool2d, MaxPool2dFunction, fast, naive
from tinytorch_ref.spatial.shapes import pair

from .spatial_helpers import assert_close, impl_pool_cases, to_torch

LAYERS = {"max": MaxPool2d, "avg": AvgPool2d}
TORCH = {"max": F.max_pool2d, "avg": F.avg_pool2d}   # avg_pool2d defaults: count_include_pad=True, ceil_mode=False


def _torch_pool(kind, x, kernel, stride, padding, upstream):
    tx = to_torch(x, True)
    out = TORCH[kind](tx, pair(kernel, "k"), pair(stride if stride is not None else kernel, "s"), pair(padding, "p"))
    out.backward(to_torch(upstream))
    return out.detach().numpy(), tx.grad.numpy()


def _run_layer(kind, impl, x, kernel, stride, padding, upstream_rng):
    layer = LAYERS[kind](kernel, stride=stride, padding=padding, impl=impl)
    assert layer.parameters() == []
    t = Tensor(x, requires_grad=True)
    out = layer(t)
    upstream = upstream_rng.standard_normal(out.shape)
    out.backward(upstream)
    return out.data, t.grad, upstream


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("impl, case", impl_pool_cases())
def test_pool_layer_matches_torch(kind, impl, case, rng):
    n, c, h, w, k, s, p = case
    x = rng.standard_normal((n, c, h, w))
    out, dx, upstream = _run_layer(kind, impl, x, k, s, p, rng)
    ref_out, ref_dx = _torch_pool(kind, x, k, s, p, upstream)
    assert out.shape == ref_out.shape
    assert_close(out, ref_out, f"{kind}pool output")
    assert_close(dx, ref_dx, f"{kind}pool input gradient")


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("impl, case", impl_pool_cases())
def test_pool_backend_functions_match_torch(kind, impl, case, rng):
    n, c, h, w, k, s, p = case
    backend = {"naive": naive, "fast": fast}[impl]
    kernel = pair(k, "k")
    stride = kernel if s is None else pair(s, "s")
    x = rng.standard_normal((n, c, h, w))
    out, cache = getattr(backend, f"{kind}pool2d_forward")(x, kernel, stride, pair(p, "p"))
    upstream = rng.standard_normal(out.shape)
    dx = getattr(backend, f"{kind}pool2d_backward")(upstream, cache)
    ref_out, ref_dx = _torch_pool(kind, x, k, s, p, upstream)
    assert_close(out, ref_out, "output")
    assert_close(dx, ref_dx, "dx")


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 1), (3, 2, 1), (3, 1, 1), ((2, 4), (1, 3), (1, 2))])
def test_maxpool_padding_is_minus_infinity(impl, kernel, stride, padding, rng):
    """All-negative input with padding: a zero-padded max would return 0 on the border."""
    x = -rng.uniform(1.0, 2.0, size=(2, 3, 5, 6))
    out, dx, upstream = _run_layer("max", impl, x, kernel, stride, padding, rng)
    assert np.all(out < -0.99), "max pooling let the padding win"
    ref_out, ref_dx = _torch_pool("max", x, kernel, stride, padding, upstream)
    assert_close(out, ref_out, "output")
    assert_close(dx, ref_dx, "input gradient")


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("kernel, stride, padding",
                         [(2, 2, 0), (3, 1, 1), (3, 2, 0), ((2, 3), (1, 2), (1, 1)), (4, 2, 2)])
def test_maxpool_ties_route_to_first_maximum_like_torch(impl, kernel, stride, padding, rng):
    """Small integer inputs make many ties; the gradient must follow torch (first max, row-major)."""
    x = rng.integers(-2, 3, size=(2, 3, 7, 8)).astype(np.float64)
    out, dx, upstream = _run_layer("max", impl, x, kernel, stride, padding, rng)
    ref_out, ref_dx = _torch_pool("max", x, kernel, stride, padding, upstream)
    assert_close(out, ref_out, "output")
    assert_close(dx, ref_dx, "input gradient with ties")


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_maxpool_constant_window_gradient_goes_to_top_left(impl):
    x = np.ones((1, 1, 2, 2))
    out, cache = {"naive": naive, "fast": fast}[impl].maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
    dx = {"naive": naive, "fast": fast}[impl].maxpool2d_backward(np.array([[[[5.0]]]]), cache)
    np.testing.assert_array_equal(out, [[[[1.0]]]])
    np.testing.assert_array_equal(dx, [[[[5.0, 0.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_maxpool_overlapping_windows_accumulate(impl):
    """The centre 9 is the max of all four 2x2 windows (stride 1): its gradient is their sum."""
    x = np.array([[[[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]]]])
    backend = {"naive": naive, "fast": fast}[impl]
    out, cache = backend.maxpool2d_forward(x, (2, 2), (1, 1), (0, 0))
    np.testing.assert_array_equal(out, [[[[9.0, 9.0], [9.0, 9.0]]]])
    dx = backend.maxpool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_maxpool_propagates_nan(impl, rng):
    """A NaN in a window makes that output NaN, as in torch."""
    x = rng.standard_normal((1, 2, 4, 4))
    x[0, 0, 1, 2] = np.nan
    backend = {"naive": naive, "fast": fast}[impl]
    out, cache = backend.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
    ref = F.max_pool2d(to_torch(x), 2).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    assert np.isnan(out[0, 0, 0, 1]) and np.isnan(out).sum() == 1
    np.testing.assert_array_equal(out[~np.isnan(out)], ref[~np.isnan(ref)])
    dx = backend.maxpool2d_backward(np.ones(out.shape), cache)
    assert dx[0, 0, 1, 2] == 1.0                     # the NaN's window sends its gradient to the NaN


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_avgpool_counts_padding_in_the_divisor(impl):
    """count_include_pad=True: a corner window of a 2x2 ones input with padding 1 averages 1/4."""
    x = np.ones((1, 1, 2, 2))
    backend = {"naive": naive, "fast": fast}[impl]
    out, cache = backend.avgpool2d_forward(x, (2, 2), (2, 2), (1, 1))
    np.testing.assert_allclose(out, np.full((1, 1, 2, 2), 0.25), rtol=0, atol=1e-15)
    dx = backend.avgpool2d_backward(np.full((1, 1, 2, 2), 4.0), cache)
    np.testing.assert_allclose(dx, np.ones((1, 1, 2, 2)), rtol=0, atol=1e-15)


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_pool_functions_default_stride_is_kernel(impl, rng):
    x = Tensor(rng.standard_normal((2, 2, 6, 9)))
    assert MaxPool2dFunction(3, impl=impl)(x).shape == (2, 2, 2, 3)
    assert AvgPool2dFunction((2, 3), impl=impl)(x).shape == (2, 2, 3, 3)
    assert MaxPool2d(2).stride == (2, 2) and AvgPool2d((2, 3), stride=1).stride == (1, 1)
