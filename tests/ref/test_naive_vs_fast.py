"""The two backends agree (forward and backward), and ``fast`` keeps float32."""
import numpy as np
import pytest

from tinytorch_ref.core import Tensor
from tinytorch_ref.spatial import Conv2d, MaxPool2d, fast, naive
from tinytorch_ref.spatial.shapes import pair

from .spatial_helpers import CONV_CASES, CONV_CASES_FAST, POOL_CASES, conv_case_id, pool_case_id, rel_err

AGREE = 1e-12   # float64; only the summation order differs


@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_conv2d_naive_and_fast_agree(case, rng):
    n, c, h, w, f, k, s, p, bias = case
    kh, kw = pair(k, "k")
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f) if bias else None
    stride, padding = pair(s, "s"), pair(p, "p")
    out_n, cache_n = naive.conv2d_forward(x, weight, b, stride, padding)
    out_f, cache_f = fast.conv2d_forward(x, weight, b, stride, padding)
    assert out_n.shape == out_f.shape
    assert rel_err(out_f, out_n) < AGREE
    upstream = rng.standard_normal(out_n.shape)
    grads_n = naive.conv2d_backward(upstream, cache_n)
    grads_f = fast.conv2d_backward(upstream, cache_f)
    for name, gn, gf in zip(("dx", "dw", "db"), grads_n, grads_f):
        if gn is None:
            assert gf is None and not bias
        else:
            assert gn.shape == gf.shape and rel_err(gf, gn) < AGREE, name


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_case_id)
def test_pools_naive_and_fast_agree(kind, case, rng):
    n, c, h, w, k, s, p = case
    kernel = pair(k, "k")
    stride = kernel if s is None else pair(s, "s")
    x = rng.standard_normal((n, c, h, w))
    results = []
    upstream = None
    for backend in (naive, fast):
        out, cache = getattr(backend, f"{kind}pool2d_forward")(x, kernel, stride, pair(p, "p"))
        if upstream is None:
            upstream = rng.standard_normal(out.shape)
        results.append((out, getattr(backend, f"{kind}pool2d_backward")(upstream, cache)))
    (out_n, dx_n), (out_f, dx_f) = results
    assert rel_err(out_f, out_n) < AGREE and rel_err(dx_f, dx_n) < AGREE


@pytest.mark.parametrize("backend", [naive, fast], ids=["naive", "fast"])
def test_backends_keep_float32(backend, rng):
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    out, cache = backend.conv2d_forward(x, w, b, (2, 1), (1, 1))
    assert out.dtype == np.float32
    dx, dw, db = backend.conv2d_backward(np.ones_like(out), cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float32,) * 3
    for kind in ("max", "avg"):
        out, cache = getattr(backend, f"{kind}pool2d_forward")(x, (3, 2), (2, 2), (1, 1))
        assert out.dtype == np.float32
        assert getattr(backend, f"{kind}pool2d_backward")(np.ones_like(out), cache).dtype == np.float32


def test_float32_fast_matches_float64_closely(rng):
    """float32 results are the float64 ones up to float32 rounding."""
    x = rng.standard_normal((4, 8, 12, 12))
    w = rng.standard_normal((16, 8, 3, 3))
    out64, cache64 = fast.conv2d_forward(x, w, None, (1, 1), (1, 1))
    out32, cache32 = fast.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, (1, 1), (1, 1))
    assert rel_err(out32, out64) < 1e-5
    g = rng.standard_normal(out64.shape)
    for g64, g32 in zip(fast.conv2d_backward(g, cache64)[:2], fast.conv2d_backward(g.astype(np.float32), cache32)[:2]):
        assert g32.dtype == np.float32 and rel_err(g32, g64) < 1e-5


def test_layers_keep_float32_through_autograd(rng):
    """float32 images and float32 weights give float32 outputs and gradients."""
    conv = Conv2d(3, 4, 3, padding=1)
    conv.weight.data = conv.weight.data.astype(np.float32)
    conv.bias.data = conv.bias.data.astype(np.float32)
    x = Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    out = MaxPool2d(2)(conv(x))
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert x.grad.dtype == conv.weight.grad.dtype == conv.bias.grad.dtype == np.float32


def test_fast_does_not_modify_its_inputs(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((2, 3, 3, 3))
    x0, w0 = x.copy(), w.copy()
    out, cache = fast.conv2d_forward(x, w, None, (1, 1), (1, 1))
    fast.conv2d_backward(np.ones_like(out), cache)
    out, cache = fast.maxpool2d_forward(x, (2, 2), (1, 1), (1, 1))
    fast.maxpool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


# fast runs the convolution a chunk of images at a time (CHUNK_BYTES of columns); force small
# chunks so that every case also runs in several chunks: one image each, and (batch > 2) chunks of
# all images but one, so that the last chunk is smaller than the others (buffers reused part-filled)
CHUNKED = [pytest.param(case, images, id=f"{conv_case_id(case)}-chunks-of-{images}")
           for case in CONV_CASES + CONV_CASES_FAST for images in sorted({1, max(1, case[0] - 1)})]


@pytest.mark.parametrize("case, images", CHUNKED)
def test_conv2d_fast_in_chunks(case, images, rng, monkeypatch):
    assert case[0] > images   # several chunks
    monkeypatch.setattr(fast, "_images_per_chunk", lambda n_batch, bytes_per_image: min(n_batch, images))
    test_conv2d_naive_and_fast_agree(case, rng)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x-corner", "x-edge", "w"])
def test_conv2d_fast_non_finite_like_naive(where, value, rng):
    """inf/NaN in the input or the weights reach the same outputs and gradients as in naive.

    fast also computes windows that overhang the image and drops them (the "junk");
    0 * inf = nan must not leak from them into neighbouring values.
    """
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    if where == "x-corner":
        x[1, 2, 0, 0] = value
    elif where == "x-edge":
        x[0, 1, 3, 4] = value
    else:
        w[2, 1, 0, 2] = value
    upstream = rng.standard_normal((2, 4, 8, 8))
    for stride, padding in [((1, 1), (1, 1)), ((1, 1), (0, 2))]:
        with np.errstate(invalid="ignore"):   # inf * 0 on the padding, in both backends
            out_n, cache_n = naive.conv2d_forward(x, w, b, stride, padding)
            out_f, cache_f = fast.conv2d_forward(x, w, b, stride, padding)
            g = upstream[:, :, :out_n.shape[2], :out_n.shape[3]]
            results = zip(("out", "dx", "dw", "db"), (out_f,) + fast.conv2d_backward(g, cache_f),
                          (out_n,) + naive.conv2d_backward(g, cache_n))
        for name, a, expected in results:
            finite = np.isfinite(expected)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(expected), err_msg=name)
            np.testing.assert_array_equal(np.isposinf(a), np.isposinf(expected), err_msg=name)
            np.testing.assert_array_equal(np.isneginf(a), np.isneginf(expected), err_msg=name)
            np.testing.assert_allclose(a[finite], expected[finite], rtol=1e-12, atol=1e-12, err_msg=name)
