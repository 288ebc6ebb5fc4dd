"""Shared helpers and case grids for the reference-package tests (imported by the test modules).

Relative error used throughout (``rel_err``)::

    rel_err(a, b) = max|a - b| / max(1e-300, max|b|)

i.e. the largest absolute difference measured against the largest magnitude
of the expected array ``b``.  Comparisons with PyTorch are in float64 and
must be <= 1e-10.

torch is imported here on purpose: it is the test oracle (never a runtime
dependency of tinytorch_ref).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

TOL = 1e-10
IMPLS = ("naive", "fast")


def rel_err(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape mismatch: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b)) / max(1e-300, float(np.max(np.abs(b)))))


def assert_close(actual, expected, what: str, tol: float = TOL) -> None:
    err = rel_err(actual, expected)
    assert err <= tol, f"{what}: relative error {err:.3e} > {tol:.0e}"


def to_torch(array, grad: bool = False) -> torch.Tensor:
    t = torch.tensor(np.asarray(array, dtype=np.float64), dtype=torch.float64)
    return t.requires_grad_(grad)


# ---------------------------------------------------------------- grids
# Convolution: (N, C_in, H, W, C_out, kernel, stride, padding, bias).
# Every case has batch > 1 and C_in > 1; together they cover stride 1/2/3,
# padding 0/1/2, non-square inputs, asymmetric kernels/strides/paddings,
# sizes where (H + 2P - K) is not divisible by S, kernel == padded input,
# 1x1 kernels and bias=False.  Small enough for the naive loops.
CONV_CASES = [
    (2, 3, 7, 6, 4, 3, 1, 1, True),
    (2, 3, 7, 6, 4, (2, 3), (2, 1), (1, 2), True),
    (3, 2, 9, 8, 2, 3, 3, 2, False),
    (2, 2, 8, 5, 3, (3, 2), 2, 0, True),           # (8-3)/2 and (5-2)/2 leave a remainder
    (2, 4, 5, 5, 2, 5, 1, 0, True),                # kernel covers the whole input: 1x1 output
    (2, 3, 6, 7, 3, 1, 1, 0, True),                # 1x1 convolution
    (2, 2, 5, 9, 3, (2, 4), 1, (0, 1), False),
    (2, 3, 10, 7, 2, 3, (3, 2), (2, 1), True),
    (2, 2, 4, 6, 2, (1, 3), (1, 3), (2, 0), True),
]
# Bigger cases for the fast backend only.
CONV_CASES_FAST = [
    (4, 8, 16, 12, 16, 3, 1, 1, True),
    (3, 5, 17, 19, 6, (5, 3), (2, 3), (2, 1), False),
    (2, 16, 9, 9, 8, 2, 2, 0, True),
]

# Pooling: (N, C, H, W, kernel, stride, padding); stride None = kernel.
POOL_CASES = [
    (2, 3, 8, 8, 2, None, 0),
    (2, 3, 7, 6, 3, 2, 1),                         # overlapping, padded, remainder
    (2, 2, 9, 7, (2, 3), (1, 2), (1, 1)),          # asymmetric, overlapping
    (3, 2, 10, 9, 3, 3, 0),                        # stride 3, remainder
    (2, 2, 6, 8, (3, 2), (2, 3), (1, 0)),          # stride > kernel along the width: gaps
    (2, 3, 5, 5, 5, 1, 2),                         # heavy overlap, padding = kernel // 2
    (2, 2, 7, 7, 2, 1, 1),
    (2, 2, 11, 6, 4, (3, 2), 2),
]
POOL_CASES_FAST = [
    (4, 6, 32, 30, 2, None, 0),
    (3, 4, 17, 13, 3, 2, 1),
    (2, 5, 12, 15, (4, 3), (2, 3), (2, 1)),
]


def conv_case_id(case) -> str:
    n, c, h, w, f, k, s, p, b = case
    return f"x{n}x{c}x{h}x{w}-f{f}-k{k}-s{s}-p{p}-{'bias' if b else 'nobias'}".replace(" ", "")


def pool_case_id(case) -> str:
    n, c, h, w, k, s, p = case
    return f"x{n}x{c}x{h}x{w}-k{k}-s{s}-p{p}".replace(" ", "")


def impl_conv_cases():
    """(impl, case) pairs: the small grid for both backends, the bigger one for fast."""
    params = [pytest.param(impl, case, id=f"{impl}-{conv_case_id(case)}") for impl in IMPLS for case in CONV_CASES]
    params += [pytest.param("fast", case, id=f"fast-{conv_case_id(case)}") for case in CONV_CASES_FAST]
    return params


def impl_pool_cases():
    params = [pytest.param(impl, case, id=f"{impl}-{pool_case_id(case)}") for impl in IMPLS for case in POOL_CASES]
    params += [pytest.param("fast", case, id=f"fast-{pool_case_id(case)}") for case in POOL_CASES_FAST]
    return params
