"""Conv2d (layer, autograd Function and backends) against torch.nn.functional.conv2d, float64."""
import numpy as np
import pytest
import torch.nn.functional as F

from tinytorch_ref.core import Tensor
from tinytorch_ref.spatial import Conv2d, Conv2dFunction, fast, naive
from tinytorch_ref.spatial.shapes import pair

from .spatial_helpers import assert_close, impl_conv_cases, to_torch


def _torch_conv(x, w, b, stride, padding, upstream):
    tx, tw = to_torch(x, True), to_torch(w, True)
    tb = None if b is None else to_torch(b, True)
    out = F.conv2d(tx, tw, tb, stride=stride, padding=padding)
    out.backward(to_torch(upstream))
    return (out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(),
            None if tb is None else tb.grad.numpy())


def _random_case(case, rng):
    n, c, h, w, f, k, s, p, bias = case
    kh, kw = pair(k, "kernel")
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f) if bias else None
    return x, weight, b, pair(s, "stride"), pair(p, "padding")


@pytest.mark.parametrize("impl, case", impl_conv_cases())
def test_conv2d_layer_matches_torch(impl, case, rng):
    """Conv2d module: output and the gradients of input, weight and bias (random upstream)."""
    n, c, h, w, f, k, s, p, bias = case
    layer = Conv2d(c, f, k, stride=s, padding=p, bias=bias, impl=impl)
    layer.weight.data = rng.standard_normal(layer.weight.shape)
    if bias:
        layer.bias.data = rng.standard_normal(f)
    x = Tensor(rng.standard_normal((n, c, h, w)), requires_grad=True)

    out = layer(x)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)

    ref_out, ref_dx, ref_dw, ref_db = _torch_conv(
        x.data, layer.weight.data, layer.bias.data if bias else None, pair(s, "s"), pair(p, "p"), upstream)
    assert out.shape == ref_out.shape
    assert_close(out.data, ref_out, "output")
    assert_close(x.grad, ref_dx, "input gradient")
    assert_close(layer.weight.grad, ref_dw, "weight gradient")
    if bias:
        assert_close(layer.bias.grad, ref_db, "bias gradient")
    else:
        assert layer.bias is None and len(layer.parameters()) == 1


@pytest.mark.parametrize("impl, case", impl_conv_cases())
def test_conv2d_backend_functions_match_torch(impl, case, rng):
    """The raw numpy functions: (out, cache) and (dx, dw, db), db None without bias."""
    backend = {"naive": naive, "fast": fast}[impl]
    x, w, b, stride, padding = _random_case(case, rng)
    out, cache = backend.conv2d_forward(x, w, b, stride, padding)
    upstream = rng.standard_normal(out.shape)
    dx, dw, db = backend.conv2d_backward(upstream, cache)

    ref_out, ref_dx, ref_dw, ref_db = _torch_conv(x, w, b, stride, padding, upstream)
    assert_close(out, ref_out, "output")
    assert_close(dx, ref_dx, "dx")
    assert_close(dw, ref_dw, "dw")
    if b is None:
        assert db is None
    else:
        assert_close(db, ref_db, "db")


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_conv2d_function_with_and_without_bias_argument(impl, rng):
    """Conv2dFunction(...)(x, w) and (x, w, None) both work and give one gradient per input."""
    x = Tensor(rng.standard_normal((2, 3, 6, 5)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, 3, 2)), requires_grad=True)
    upstream = rng.standard_normal((2, 4, 3, 6))   # H: (6+2-3)//2+1, W: (5+2-2)//1+1
    ref_out, ref_dx, ref_dw, _ = _torch_conv(x.data, w.data, None, (2, 1), (1, 1), upstream)
    for args in [(x, w), (x, w, None)]:
        x.grad = w.grad = None
        out = Conv2dFunction(stride=(2, 1), padding=1, impl=impl)(*args)
        out.backward(upstream)
        assert_close(out.data, ref_out, "output")
        assert_close(x.grad, ref_dx, "dx")
        assert_close(w.grad, ref_dw, "dw")


def test_conv2d_is_cross_correlation_not_convolution():
    """A hand-checked case: the kernel is applied as is (not flipped), plus the bias."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)              # [[0 1 2] [3 4 5] [6 7 8]]
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    for backend in (naive, fast):
        out, _ = backend.conv2d_forward(x, w, np.array([0.5]), (1, 1), (0, 0))
        # top-left window [[0 1] [3 4]] . [[1 2] [3 4]] = 0 + 2 + 9 + 16 = 27
        np.testing.assert_array_equal(out, [[[[27.5, 37.5], [57.5, 67.5]]]])


def test_conv2d_zero_padding_hand_checked():
    """With padding 1 a 1x1 input and a 3x3 kernel see only the kernel's centre."""
    x = np.array([[[[2.0]]]])
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    for backend in (naive, fast):
        out, cache = backend.conv2d_forward(x, w, None, (1, 1), (1, 1))
        np.testing.assert_array_equal(out, [[[[8.0]]]])        # centre weight 4 * 2
        dx, dw, db = backend.conv2d_backward(np.array([[[[1.5]]]]), cache)
        np.testing.assert_array_equal(dx, [[[[6.0]]]])         # 1.5 * centre weight 4
        expected_dw = np.zeros((1, 1, 3, 3))
        expected_dw[0, 0, 1, 1] = 3.0                          # 1.5 * x; the padding contributes 0
        np.testing.assert_array_equal(dw, expected_dw)
        assert db is None


def test_conv2d_output_shape_of_simplecnn_layers(rng):
    layer = Conv2d(3, 32, 3, padding=1)
    assert layer(rng.standard_normal((2, 3, 32, 32))).shape == (2, 32, 32, 32)
    layer = Conv2d(3, 8, (3, 5), stride=(2, 3), padding=(0, 2))
    # H: (17 - 3) // 2 + 1 = 8, W: (11 + 4 - 5) // 3 + 1 = 4
    assert layer(rng.standard_normal((1, 3, 17, 11))).shape == (1, 8, 8, 4)
