"""Every case of the hidden checks' grids: the reference they grade against agrees with PyTorch.

The hidden checks compare students with ``tinytorch_ref.spatial.fast``; these tests compare that
reference with torch on exactly the hidden cases (the coverage model's regimes: uncovered edges,
kernel = padded input, kernel 1, gaps, asymmetric kernel/stride/padding alone, stride=None given).
"""
from __future__ import annotations

import pytest

from tinytorch_ref.spatial import fast
from tinytorch_ref.spatial.shapes import pair

from ..conftest import SPATIAL
from .spatial_helpers import assert_close
from .test_conv import _torch_conv
from .test_pool import _torch_pool

hidden_checks = SPATIAL.module("hidden_checks")


@pytest.mark.parametrize("case", hidden_checks.CONV_CASES, ids=str)
def test_the_reference_matches_torch_on_every_hidden_conv_case(case, rng):
    n, cin, h, w_, cout, k, st, p, has_bias = case
    kh, kw = pair(k, "kernel")
    x, w = rng.standard_normal((n, cin, h, w_)), rng.standard_normal((cout, cin, kh, kw))
    b = rng.standard_normal(cout) if has_bias else None
    out, cache = fast.conv2d_forward(x, w, b, pair(st, "stride"), pair(p, "padding"))
    upstream = rng.standard_normal(out.shape)
    dx, dw, db = fast.conv2d_backward(upstream, cache)
    ref_out, ref_dx, ref_dw, ref_db = _torch_conv(x, w, b, pair(st, "stride"), pair(p, "padding"), upstream)
    assert_close(out, ref_out, "output")
    assert_close(dx, ref_dx, "dx")
    assert_close(dw, ref_dw, "dw")
    if b is None:
        assert db is None
    else:
        assert_close(db, ref_db, "db")


@pytest.mark.parametrize("kind, cases", [("max", hidden_checks.MAXPOOL_CASES), ("avg", hidden_checks.AVGPOOL_CASES)])
def test_the_reference_matches_torch_on_every_hidden_pool_case(kind, cases, rng):
    for shape, k, st, p in cases:
        stride = None if st in (None, "None") else st
        kernel = pair(k, "k")
        x = rng.standard_normal(shape)
        out, cache = getattr(fast, f"{kind}pool2d_forward")(x, kernel, kernel if stride is None else pair(stride, "s"),
                                                            pair(p, "p"))
        upstream = rng.standard_normal(out.shape)
        dx = getattr(fast, f"{kind}pool2d_backward")(upstream, cache)
        ref_out, ref_dx = _torch_pool(kind, x, k, stride, p, upstream)
        assert_close(out, ref_out, f"{kind}pool output on {shape}, kernel {k}, stride {st}, padding {p}")
        assert_close(dx, ref_dx, f"{kind}pool dx on {shape}, kernel {k}, stride {st}, padding {p}")
