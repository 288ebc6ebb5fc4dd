"""The reference losses (``tinytorch_ref.core.losses``) against PyTorch and against hand-computed values.

The 04_losses hidden checks compare students' losses with these functions, so every one is proven
here: forward values and gradients for a random upstream gradient in float64 (relative error
1e-12), over several shapes, axes and both reductions, with logits of magnitude 1000 where a naive
formula overflows or returns -inf.  Cross-entropy's own tests are in ``test_core.py``.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinytorch_ref.core import Tensor
from tinytorch_ref.core.losses import (
    REDUCTIONS,
    BCEWithLogitsLoss,
    MSELoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    mse_loss,
    sigmoid,
    softmax,
)

from .spatial_helpers import assert_close, to_torch

TOL = 1e-12
SHAPE_AXES = [((5,), -1), ((5,), 0), ((3, 4), -1), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 1), ((2, 3, 4), -1),
              ((2, 3, 4), 0), ((1, 1), -1), ((4, 1), 1)]


# ------------------------------------------------------------- softmax, log-softmax
def test_softmax_and_log_softmax_by_hand():
    x = np.array([[0.0, np.log(2.0), np.log(5.0)], [3.0, 3.0, 3.0]])
    assert np.allclose(softmax(x), [[0.125, 0.25, 0.625], [1 / 3, 1 / 3, 1 / 3]], rtol=0, atol=1e-15)
    assert np.allclose(log_softmax(x), [[np.log(1 / 8), np.log(2 / 8), np.log(5 / 8)], [-np.log(3)] * 3],
                       rtol=0, atol=1e-15)
    # columns: softmax([0, 3]) = [1, e^3] / (1 + e^3)
    col = softmax(x, axis=0)[:, 0]
    assert np.allclose(col, [1 / (1 + np.e ** 3), np.e ** 3 / (1 + np.e ** 3)], rtol=1e-15)


@pytest.mark.parametrize("shape,axis", SHAPE_AXES)
def test_softmax_and_log_softmax_match_torch(shape, axis, rng):
    for scale in (1.0, 30.0, 1000.0):
        x = rng.standard_normal(shape) * scale
        assert_close(softmax(x, axis=axis), torch.softmax(to_torch(x), dim=axis).numpy(), "softmax", TOL)
        assert_close(log_softmax(x, axis=axis), torch.log_softmax(to_torch(x), dim=axis).numpy(),
                     "log_softmax", TOL)
        assert np.allclose(softmax(x, axis=axis).sum(axis=axis), 1.0, rtol=0, atol=1e-14)


def test_softmax_and_log_softmax_are_stable_for_large_inputs():
    x = np.array([[1000.0, 999.0, 998.0], [-1000.0, 0.0, 1000.0], [-1e4, -1e4, -1e4]])
    p = softmax(x)
    e = np.exp([0.0, -1.0, -2.0])
    assert np.allclose(p[0], e / e.sum(), rtol=1e-15)
    assert np.array_equal(p[1], [0.0, 0.0, 1.0])       # exp(-1000) and exp(-2000) underflow, correctly
    assert np.allclose(p[2], 1 / 3, rtol=1e-15)
    lp = log_softmax(x)
    assert np.allclose(lp[1], [-2000.0, -1000.0, 0.0], rtol=0, atol=1e-12)   # log(softmax) would give -inf
    assert np.allclose(lp[0], np.log(e / e.sum()), rtol=1e-14)
    assert np.all(np.isfinite(lp))


def test_softmax_rows_of_very_different_magnitude():
    """Each row is shifted by its own maximum: a global maximum would underflow the small row to 0 / 0."""
    x = np.array([[0.0, 1.0], [2000.0, 2001.0]])
    expected = np.array([1.0, np.e]) / (1.0 + np.e)
    assert np.allclose(softmax(x), [expected, expected], rtol=1e-15)
    assert np.allclose(log_softmax(x), np.log([expected, expected]), rtol=1e-14)


def test_softmax_keeps_float32():
    x = np.array([[1.0, 2.0]], np.float32)
    assert softmax(x).dtype == np.float32 and log_softmax(x).dtype == np.float32


def test_sigmoid_is_stable_and_exact():
    z = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):   # no overflow, not even a warning
        s = sigmoid(z)
    assert np.allclose(s, torch.sigmoid(to_torch(z)).numpy(), rtol=1e-15, atol=0)
    assert s[3] == 0.5 and s[0] == 0.0 and s[-1] == 1.0
    assert abs(s[1] - 4.248354255291589e-18) < 1e-30   # exp(-40) / (1 + exp(-40)), not rounded to 0


# ------------------------------------------------------------------- losses vs torch
def run_loss(fn, torch_fn, a, b, upstream):
    """Forward and both input gradients of ``fn`` and ``torch_fn`` for the upstream gradient ``upstream``."""
    ta, tb = Tensor(a.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True)
    ra, rb = to_torch(a, True), to_torch(b, True)
    out, ref = fn(ta, tb), torch_fn(ra, rb)
    assert out.shape == () == tuple(ref.shape)
    assert np.isfinite(out.item())
    assert_close(out.data, ref.detach().numpy(), "loss", TOL)
    out.backward(np.asarray(upstream))
    ref.backward(to_torch(upstream))
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    assert_close(ta.grad, ra.grad.numpy(), "gradient of the first input", TOL)
    assert_close(tb.grad, rb.grad.numpy(), "gradient of the targets", TOL)
    return out.item(), ta.grad, tb.grad


SHAPES = [(1,), (7,), (4, 3), (2, 3, 4), (5, 1)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_matches_torch(shape, reduction, rng):
    for scale in (1.0, 1000.0):
        pred, target = rng.standard_normal(shape) * scale, rng.standard_normal(shape) * scale
        run_loss(lambda p, t: mse_loss(p, t, reduction), lambda p, t: F.mse_loss(p, t, reduction=reduction),
                 pred, target, rng.standard_normal())


def test_mse_by_hand():
    pred, target = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    loss, d_pred, d_target = run_loss(mse_loss, F.mse_loss, pred, target, 1.0)
    assert loss == pytest.approx(10.0 / 3.0, rel=1e-15)           # (1 + 0 + 9) / 3
    assert np.allclose(d_pred, [2 / 3, 0.0, 2.0], rtol=1e-15)      # 2 (pred - target) / N
    assert np.allclose(d_target, [-2 / 3, 0.0, -2.0], rtol=1e-15)
    summed = MSELoss("sum")(Tensor(pred), target)
    assert summed.item() == 10.0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch(shape, reduction, rng):
    for scale in (1.0, 10.0, 1000.0):
        logits = rng.standard_normal(shape) * scale
        for targets in (rng.integers(0, 2, shape).astype(float), rng.uniform(0, 1, shape)):
            run_loss(lambda z, y: binary_cross_entropy_with_logits(z, y, reduction),
                     lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction),
                     logits, targets, rng.standard_normal())


def test_bce_with_logits_by_hand_and_stable():
    # z = 0: loss log 2 whatever the target; z = +-1000 confidently wrong: loss 1000, never inf
    logits, targets = np.array([0.0, 1000.0, -1000.0, 1000.0]), np.array([1.0, 0.0, 1.0, 1.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, d_logits, d_targets = run_loss(binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits,
                                             logits, targets, 1.0)
    assert loss == pytest.approx((np.log(2.0) + 1000.0 + 1000.0 + 0.0) / 4, rel=1e-15)
    assert np.allclose(d_logits, [-0.5 / 4, 1 / 4, -1 / 4, 0.0], rtol=1e-15, atol=0)   # (sigmoid(z) - y) / N
    assert np.allclose(d_targets, -logits / 4, rtol=1e-15)                              # -z / N
    summed = BCEWithLogitsLoss("sum")(Tensor(logits), targets)
    assert summed.item() == pytest.approx(np.log(2.0) + 2000.0, rel=1e-15)


def test_bce_with_logits_keeps_small_losses():
    """softplus(-40) = 4.25e-18: log(1 + exp(-|z|)) written with log1p keeps it (log(1 + tiny) would be 0)."""
    loss = binary_cross_entropy_with_logits(Tensor(np.array([40.0])), np.array([1.0]))
    assert loss.item() == pytest.approx(4.248354255291589e-18, rel=1e-12)


@pytest.mark.parametrize("n,c", [(1, 2), (4, 3), (6, 10), (3, 1)])
def test_cross_entropy_large_and_small_logits_match_torch(n, c, rng):
    for scale in (1.0, 1000.0):
        logits, targets = rng.standard_normal((n, c)) * scale, rng.integers(0, c, n)
        t = Tensor(logits.copy(), requires_grad=True)
        loss = cross_entropy(t, targets)
        r = to_torch(logits, True)
        ref = F.cross_entropy(r, torch.as_tensor(targets, dtype=torch.int64))
        assert_close(loss.data, ref.detach().numpy(), "loss", TOL)
        upstream = rng.standard_normal()
        loss.backward(np.asarray(upstream))
        ref.backward(to_torch(upstream))
        assert_close(t.grad, r.grad.numpy(), "gradient", TOL)


@pytest.mark.parametrize("fn", [mse_loss, binary_cross_entropy_with_logits])
def test_losses_reject_bad_arguments(fn):
    with pytest.raises(ValueError, match="reduction must be one of"):
        fn(Tensor(np.zeros(3)), np.zeros(3), reduction="none")
    with pytest.raises(ValueError, match="same shape"):
        fn(Tensor(np.zeros(3)), np.zeros((3, 1)))
