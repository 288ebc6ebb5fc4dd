"""The foundation (``tinytorch_ref.core``): Tensor autograd, Function API, layers, loss, optimizers, data.

Values and gradients are compared with PyTorch in float64 (relative error, see
``spatial_helpers.rel_err``) at 1e-12, always with a random upstream gradient
rather than a sum loss.  Where the code documents its own convention (Linear
stores ``weight`` as (in, out), torch as (out, in)) the documented one is tested.
"""
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinytorch_ref.core import (
    SGD,
    Adam,
    CrossEntropyLoss,
    DataLoader,
    Function,
    Linear,
    ReLU,
    Sequential,
    Tensor,
    cross_entropy,
    is_grad_enabled,
    no_grad,
    softmax,
)

from .spatial_helpers import assert_close, to_torch

TOL = 1e-12


def leaves(arrays):
    """The same float64 inputs as tinytorch leaves and as torch leaves, all requiring grad."""
    return [Tensor(a.copy(), requires_grad=True) for a in arrays], [to_torch(a, True) for a in arrays]


def check_against_torch(fn, torch_fn, arrays, rng, params=()):
    """Forward values, then gradients of every input for a random upstream gradient.

    ``params``: further ``(name, tinytorch Tensor, torch tensor)`` leaves the two
    functions close over (a layer's weights), whose gradients are compared too.
    """
    tiny_in, torch_in = leaves(arrays)
    out, ref = fn(*tiny_in), torch_fn(*torch_in)
    assert out.shape == tuple(ref.shape)
    assert_close(out.data, ref.detach().numpy(), "forward", TOL)
    upstream = np.asarray(rng.standard_normal(out.shape))
    out.backward(upstream)
    ref.backward(to_torch(upstream))
    for i, (t, r) in enumerate(zip(tiny_in, torch_in)):
        assert t.grad is not None and t.grad.shape == t.shape, f"grad of input {i}"
        assert_close(t.grad, r.grad.numpy(), f"grad of input {i}", TOL)
    for name, t, r in params:
        assert t.grad is not None, name
        assert_close(t.grad, r.grad.numpy(), name, TOL)


def inputs(shapes, rng, positive=False):
    if positive:   # away from 0 for division, fractional and negative powers
        return [rng.uniform(0.5, 2.0, s) for s in shapes]
    return [np.asarray(rng.standard_normal(s)) for s in shapes]


# ------------------------------------------------------------ arithmetic
C34 = np.linspace(-1.0, 1.0, 12).reshape(3, 4)

# id, input shapes, tinytorch op, torch op (None: same code), positive inputs
OPS = [
    ("add", [(3, 4), (3, 4)], lambda a, b: a + b, None, False),
    ("sub", [(3, 4), (3, 4)], lambda a, b: a - b, None, False),
    ("mul", [(3, 4), (3, 4)], lambda a, b: a * b, None, False),
    ("div", [(3, 4), (3, 4)], lambda a, b: a / b, None, True),
    ("neg", [(3, 4)], lambda a: -a, None, False),
    ("pow2", [(3, 4)], lambda a: a ** 2, None, False),
    ("pow3", [(3, 4)], lambda a: a ** 3, None, False),
    ("pow0.5", [(3, 4)], lambda a: a ** 0.5, None, True),
    ("pow-1.5", [(3, 4)], lambda a: a ** -1.5, None, True),
    ("scalar-right", [(3, 4)], lambda a: (a + 1.5) * 2.0 - 0.5, None, False),
    ("scalar-left", [(3, 4)], lambda a: 2.5 - 3.0 * (1.5 + a), None, False),
    ("rtruediv", [(3, 4)], lambda a: 3.0 / a, None, True),
    ("ndarray-left", [(3, 4)], lambda a: C34 + C34 * a, lambda a: torch.from_numpy(C34) * (1 + a), False),
    ("ndarray-sub-left", [(3, 4)], lambda a: C34 - a, lambda a: torch.from_numpy(C34) - a, False),
    ("ndarray-matmul-left", [(4, 2)], lambda a: C34 @ a, lambda a: torch.from_numpy(C34) @ a, False),
    ("composite-reuse", [(3, 4), (3, 4)], lambda a, b: a * b + a / b - a ** 2 * b, None, True),
    # broadcasting: gradients are summed back to each operand's shape
    ("bcast-add-col-row", [(3, 1), (1, 4)], lambda a, b: a + b, None, False),
    ("bcast-mul-trailing", [(2, 3, 4), (4,)], lambda a, b: a * b, None, False),
    ("bcast-sub-middle", [(2, 3, 4), (3, 1)], lambda a, b: a - b, None, False),
    ("bcast-div-keepdim", [(2, 3, 4), (1, 3, 1)], lambda a, b: a / b, None, True),
    ("bcast-0d", [(), (2, 3)], lambda a, b: a * b + a, None, False),
    ("bcast-size1", [(1,), (3,)], lambda a, b: b / a, None, True),
    # matmul, including batch axes and 1-D operands
    ("matmul-2d", [(3, 4), (4, 5)], lambda a, b: a @ b, None, False),
    ("matmul-batch-left", [(2, 3, 4), (4, 5)], lambda a, b: a @ b, None, False),
    ("matmul-batch-both", [(2, 3, 4), (2, 4, 5)], lambda a, b: a @ b, None, False),
    ("matmul-batch-right", [(3, 4), (2, 4, 5)], lambda a, b: a @ b, None, False),
    ("matmul-batch-bcast", [(2, 1, 3, 4), (5, 4, 2)], lambda a, b: a @ b, None, False),
    ("matmul-vec-right", [(3, 4), (4,)], lambda a, b: a @ b, None, False),
    ("matmul-batch-vec-right", [(2, 3, 4), (4,)], lambda a, b: a @ b, None, False),
    ("matmul-vec-left", [(4,), (4, 5)], lambda a, b: a @ b, None, False),
    ("matmul-vec-vec", [(4,), (4,)], lambda a, b: a @ b, None, False),
    ("matmul-vec-left-batch", [(4,), (2, 4, 5)], lambda a, b: a @ b, None, False),
    # shape ops and reductions
    ("reshape-tuple", [(2, 3, 4)], lambda a: a.reshape((6, 4)) * 1.0, None, False),
    ("reshape-args", [(2, 3, 4)], lambda a: a.reshape(4, -1), None, False),
    ("transpose-T", [(3, 4)], lambda a: a.T, lambda a: a.t(), False),
    ("transpose-axes", [(2, 3, 4)], lambda a: a.transpose(1, 0, 2), lambda a: a.permute(1, 0, 2), False),
    ("transpose-reverse", [(2, 3, 4)], lambda a: a.transpose(), lambda a: a.permute(2, 1, 0), False),
    ("sum-all", [(2, 3, 4)], lambda a: a.sum(), None, False),
    ("sum-axis0", [(2, 3, 4)], lambda a: a.sum(axis=0), lambda a: a.sum(dim=0), False),
    ("sum-neg-keepdims", [(2, 3, 4)], lambda a: a.sum(axis=-1, keepdims=True),
     lambda a: a.sum(dim=-1, keepdim=True), False),
    ("sum-tuple", [(2, 3, 4)], lambda a: a.sum(axis=(0, 2)), lambda a: a.sum(dim=(0, 2)), False),
    ("mean-all", [(2, 3, 4)], lambda a: a.mean(), None, False),
    ("mean-axis1", [(2, 3, 4)], lambda a: a.mean(axis=1), lambda a: a.mean(dim=1), False),
    ("mean-tuple-keepdims", [(2, 3, 4)], lambda a: a.mean(axis=(0, -1), keepdims=True),
     lambda a: a.mean(dim=(0, -1), keepdim=True), False),
]


@pytest.mark.parametrize("shapes, fn, torch_fn, positive", [pytest.param(*case[1:], id=case[0]) for case in OPS])
def test_op_matches_torch(shapes, fn, torch_fn, positive, rng):
    check_against_torch(fn, torch_fn or fn, inputs(shapes, rng, positive), rng)


def test_tensor_basics():
    t = Tensor([[1, 2, 3], [4, 5, 6]])
    assert t.dtype == np.float64 and t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert not t.requires_grad and t.grad is None
    assert Tensor(np.ones(2, np.float32)).dtype == np.float32        # floating data keeps its dtype
    assert Tensor(np.array([True, False])).dtype == np.float64
    assert Tensor(3.5).item() == 3.5
    np.testing.assert_array_equal(t.T.numpy(), [[1, 4], [2, 5], [3, 6]])


def test_ndarray_on_the_left_dispatches_to_tensor():
    x = Tensor(np.ones(3), requires_grad=True)
    for out in (np.full(3, 2.0) + x, np.full(3, 2.0) * x, np.full(3, 2.0) - x):
        assert isinstance(out, Tensor) and out.requires_grad


# ------------------------------------------------------- gradient accumulation
def test_tensor_used_twice(rng):
    x = rng.standard_normal(5)
    t = Tensor(x, requires_grad=True)
    g = rng.standard_normal(5)
    (t * t + t).backward(g)
    assert_close(t.grad, (2 * x + 1) * g, "d(x*x + x)", TOL)


@pytest.mark.parametrize("order", ["g+h", "h+g"])
def test_diamond_graph(order, rng):
    def f(x):
        y = x * 3.0 - 1.0
        g, h = y * y, y.relu() / 2.0
        return g + h if order == "g+h" else h + g
    check_against_torch(f, f, inputs([(4, 3)], rng), rng)


def test_long_and_short_path_to_the_same_node(rng):
    """``a`` reaches the output directly and through a 20-op chain; it must wait for both."""
    def f(x):
        a = x * 2.0
        b = a
        for _ in range(10):
            b = b * 1.1 + a
        return a + b
    check_against_torch(f, f, inputs([(3,)], rng), rng)


def test_backward_twice_accumulates(rng):
    x = rng.standard_normal((2, 3))
    t = Tensor(x, requires_grad=True)
    y = t * t
    g1, g2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    y.backward(g1)
    first = t.grad.copy()
    y.backward(g2)
    assert_close(first, 2 * x * g1, "first backward", TOL)
    assert_close(t.grad, 2 * x * (g1 + g2), "accumulated", TOL)


def test_separate_graphs_accumulate_into_the_same_leaf():
    t = Tensor([1.0, 2.0], requires_grad=True)
    (t * 3.0).sum().backward()
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad, [3.0 + 2.0, 3.0 + 4.0], rtol=0, atol=1e-15)


def test_intermediate_tensors_keep_no_grad():
    t = Tensor([1.0, 2.0], requires_grad=True)
    y = t * 2.0
    y.sum().backward()
    assert y.grad is None
    np.testing.assert_array_equal(t.grad, [2.0, 2.0])


def test_deep_chain_does_not_hit_recursion_limit():
    steps = 1500                                    # 3000 ops, > the recursion limit
    assert 2 * steps > sys.getrecursionlimit()
    t = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = t
    for _ in range(steps):
        y = y * 1.0005 + 0.25
    y.backward(np.array([1.0, 2.0]))
    np.testing.assert_allclose(t.grad, np.array([1.0, 2.0]) * 1.0005 ** steps, rtol=1e-12)


# ----------------------------------------------------- requires_grad / errors
def test_constants_get_no_grad(rng):
    a = Tensor(rng.standard_normal(3), requires_grad=True)
    b = Tensor(rng.standard_normal(3))               # requires_grad defaults to False
    (a * b + b).sum().backward()
    assert b.grad is None
    assert_close(a.grad, b.data, "da", TOL)


def test_ops_on_constants_are_not_recorded():
    out = Tensor([1.0, 2.0]) * 3.0
    assert not out.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        out.sum().backward()


def test_no_grad_disables_recording_and_restores():
    t = Tensor([1.0, 2.0], requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()                 # the inner exit restores the outer state
        out = t * 2.0
    assert is_grad_enabled()
    assert not out.requires_grad
    with pytest.raises(RuntimeError):
        out.sum().backward()
    assert t.grad is None


def test_backward_on_non_scalar_needs_a_gradient():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 3\)"):
        y.backward()


def test_backward_without_argument_on_size_one_tensor():
    t = Tensor(np.array([[2.0]]), requires_grad=True)
    (t * t).backward()
    np.testing.assert_array_equal(t.grad, [[4.0]])


def test_backward_rejects_wrong_gradient_shape():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        y.backward(np.ones((3, 2)))


# ---------------------------------------------------------- Function API
class Square(Function):
    """Exactly the example of the ``tensor`` module docstring."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, grad_out):
        return (2 * self.x * grad_out,)


class ScaledAffine(Function):
    """y = scale * (x @ w) (+ b): a setting in __init__, an optional input, a None gradient."""

    def __init__(self, scale):
        self.scale = scale

    def forward(self, x, w, b):
        self.x, self.w, self.has_bias = x, w, b is not None
        out = self.scale * (x @ w)
        return out + b if b is not None else out

    def backward(self, g):
        dx = self.scale * g @ self.w.T
        dw = self.scale * self.x.T @ g
        return dx, dw, (g.sum(axis=0) if self.has_bias else None)


def test_custom_function_square(rng):
    x = rng.standard_normal((3, 2))
    check_against_torch(lambda t: Square()(t), lambda t: t * t, [x], rng)


def test_custom_function_instances_do_not_share_state(rng):
    def f(t):
        return Square()(t) + Square()(t * 3.0)       # two applications, two saved inputs
    check_against_torch(f, lambda t: t * t + (t * 3.0) ** 2, inputs([(4,)], rng), rng)


def test_custom_function_accepts_arrays_and_returns_a_graph_tensor():
    t = Tensor([1.0, -2.0], requires_grad=True)
    y = Square()(t)
    assert isinstance(y, Tensor) and y.requires_grad
    np.testing.assert_array_equal(Square()([3.0]).data, [9.0])   # non-Tensor input is lifted
    assert not Square()([3.0]).requires_grad


@pytest.mark.parametrize("bias", [True, False])
def test_custom_function_with_optional_input(bias, rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    check_against_torch(lambda x, w, *b: ScaledAffine(0.5)(x, w, b[0] if b else None),
                        lambda x, w, *b: 0.5 * (x @ w) + (b[0] if b else 0.0),
                        [x, w, b] if bias else [x, w], rng)


def test_backward_may_return_none_and_extra_trailing_none():
    class FirstOnly(Function):
        def forward(self, a, b):
            return a * 2.0 + b

        def backward(self, g):
            return 2.0 * g, None, None               # None for b, plus a trailing None

    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    FirstOnly()(a, b).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(a.grad, [2.0, -2.0])
    assert b.grad is None


def test_backward_with_wrong_number_of_gradients_raises():
    class TooFew(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, g):
            return (g,)

    y = TooFew()(Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True))
    with pytest.raises(RuntimeError, match="TooFew.backward returned 1 gradients for 2 inputs"):
        y.backward()


def test_backward_with_wrong_gradient_shape_raises():
    class BadShape(Function):
        def forward(self, a):
            return a * 1.0

        def backward(self, g):
            return (np.ones(5),)

    y = BadShape()(Tensor(np.ones(3), requires_grad=True))
    with pytest.raises(RuntimeError, match=r"BadShape.backward returned a gradient of shape \(5,\)"):
        y.backward(np.ones(3))


def test_unimplemented_function_raises():
    with pytest.raises(NotImplementedError, match="Function.forward"):
        Function()(Tensor([1.0]))


# ------------------------------------------------------------- layers
def test_linear_shapes_and_parameters():
    layer = Linear(4, 3)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (3,)          # (in, out), unlike torch
    assert layer.weight.requires_grad and layer.bias.requires_grad
    assert layer.parameters() == [layer.weight, layer.bias]
    no_bias = Linear(4, 3, bias=False)
    assert no_bias.bias is None and no_bias.parameters() == [no_bias.weight]
    assert ReLU().parameters() == []
    model = Sequential(layer, ReLU(), no_bias, layer)                           # shared layer counted once
    assert model.parameters() == [layer.weight, layer.bias, no_bias.weight]


def test_linear_uniform_init_scale():
    np.random.seed(0)
    layer = Linear(400, 300)
    bound = 1.0 / np.sqrt(400)
    w, b = layer.weight.data, layer.bias.data
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.999 * bound and np.abs(b).max() > 0.95 * bound  # fills the range
    assert abs(w.std() / (bound / np.sqrt(3)) - 1) < 0.02                     # uniform: std = bound/sqrt(3)
    assert abs(w.mean()) < 0.02 * bound


@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(x_shape, bias, rng):
    layer = Linear(4, 3, bias=bias)
    tw = to_torch(layer.weight.data, True)
    tb = to_torch(layer.bias.data, True) if bias else None
    params = [("dweight", layer.weight, tw)] + ([("dbias", layer.bias, tb)] if bias else [])
    check_against_torch(layer, lambda tx: F.linear(tx, tw.T, tb), [rng.standard_normal(x_shape)], rng, params)


def test_linear_rejects_bad_sizes_and_inputs():
    for sizes in [(0, 3), (3, 0), (-1, 2)]:
        with pytest.raises(ValueError, match="positive"):
            Linear(*sizes)
    with pytest.raises(ValueError, match=r"last dimension 4.*\(2, 5\)"):
        Linear(4, 3)(Tensor(np.zeros((2, 5))))


def test_relu_values_and_gradient(rng):
    x = np.array([-3.0, -0.5, -1e-300, 0.0, 1e-300, 0.5, 3.0])
    t = Tensor(x, requires_grad=True)
    out = ReLU()(t)
    np.testing.assert_array_equal(out.data, [0, 0, 0, 0, 1e-300, 0.5, 3.0])
    g = rng.standard_normal(x.shape)
    out.backward(g)
    tx = to_torch(x, True)
    torch.relu(tx).backward(to_torch(g))
    np.testing.assert_array_equal(t.grad, tx.grad.numpy())     # g where x > 0, 0 elsewhere (also at 0)
    np.testing.assert_array_equal(t.grad, g * (x > 0))


def test_relu_of_minus_infinity_is_zero():
    """Documented as max(0, x); x * (x > 0) gives -inf * 0 = nan instead."""
    out = ReLU()(Tensor([-np.inf, np.inf]))
    np.testing.assert_array_equal(out.data, [0.0, np.inf])


# ---------------------------------------------------------------- loss
def check_cross_entropy(logits, targets, upstream=1.0):
    t = Tensor(logits, requires_grad=True)
    loss = cross_entropy(t, targets)
    assert loss.shape == ()
    tl = to_torch(logits, True)
    ref = F.cross_entropy(tl, torch.as_tensor(np.asarray(targets), dtype=torch.int64))   # mean reduction
    loss.backward(np.asarray(upstream))
    ref.backward(to_torch(upstream))
    assert np.isfinite(loss.item()) and np.all(np.isfinite(t.grad))
    assert_close(loss.data, ref.detach().numpy(), "loss", TOL)
    assert_close(t.grad, tl.grad.numpy(), "dlogits", TOL)


@pytest.mark.parametrize("n, c", [(1, 2), (5, 4), (16, 10)])
def test_cross_entropy_matches_torch(n, c, rng):
    check_cross_entropy(rng.standard_normal((n, c)) * 3, rng.integers(0, c, n), upstream=rng.standard_normal())


def test_cross_entropy_is_stable_for_large_logits(rng):
    logits = rng.standard_normal((6, 5)) * 50 + 1e6              # huge values, moderate gaps
    check_cross_entropy(logits, rng.integers(0, 5, 6))
    check_cross_entropy(np.array([[1000.0, 999.0, 998.0], [-1e4, -1e4, -1e4 + 30]]), [2, 0])


def test_cross_entropy_of_confidently_wrong_prediction():
    """The true loss is z_max - z_target: 2000 here; it must not saturate at -log(tiny) ~ 708."""
    check_cross_entropy(np.array([[1000.0, 0.0, -1000.0]]), [2])


def test_cross_entropy_float32_large_gap_is_not_capped():
    loss = cross_entropy(Tensor(np.array([[100.0, 0.0]], np.float32)), [1])
    assert abs(loss.item() - 100.0) < 1e-4, loss.item()               # not -log(float32 tiny) = 87.34


def test_cross_entropy_wrapper_and_tensor_targets(rng):
    logits = rng.standard_normal((4, 3))
    expected = cross_entropy(Tensor(logits), [0, 2, 1, 2]).item()
    assert CrossEntropyLoss()(Tensor(logits), Tensor([0, 2, 1, 2])).item() == expected


@pytest.mark.parametrize("logits, targets, fragment", [
    (np.zeros(3), [0], "(N, C)"),
    (np.zeros((2, 3)), [0], "targets of shape (2,)"),
    (np.zeros((2, 3)), [0, 3], "[0, 3)"),
    (np.zeros((2, 3)), [-1, 0], "[0, 3)"),
])
def test_cross_entropy_rejects_bad_inputs(logits, targets, fragment):
    with pytest.raises(ValueError) as info:
        cross_entropy(Tensor(logits), targets)
    assert fragment in str(info.value)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_matches_torch(axis, rng):
    z = rng.standard_normal((4, 5)) * 10
    z[0] += 1e5
    p = softmax(z, axis=axis)
    assert_close(p, torch.softmax(to_torch(z), dim=axis).numpy(), "softmax", TOL)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-14)


# ----------------------------------------------------------- optimizers
SHAPES = [(3, 4), (4,)]


def fake_grad(p, step, i):
    """A gradient that depends on the current parameter values, so any drift compounds."""
    return np.cos(2.0 * p) + 0.3 * (step + 1) * (-1.0) ** i


def run_optimizers(make_tiny, make_torch, rng, steps=6, no_grad_at=lambda step, i: False):
    """Both optimizers on the same parameters and gradients; ``no_grad_at(step, i)``: parameter i gets none."""
    starts = [rng.standard_normal(s) for s in SHAPES]
    params = [Tensor(s.copy(), requires_grad=True) for s in starts]
    ref_params = [to_torch(s, True) for s in starts]
    opt, ref_opt = make_tiny(params), make_torch(ref_params)
    for step in range(steps):
        for i, (p, r) in enumerate(zip(params, ref_params)):
            if no_grad_at(step, i):
                p.grad, r.grad = None, None
                continue
            p.grad = fake_grad(p.data, step, i)
            r.grad = torch.from_numpy(fake_grad(r.detach().numpy(), step, i))
        opt.step()
        ref_opt.step()
        for p, r in zip(params, ref_params):
            assert_close(p.data, r.detach().numpy(), f"parameters after step {step + 1}", TOL)
    for p, start in zip(params, starts):
        assert not np.allclose(p.data, start)


@pytest.mark.parametrize("lr, momentum", [(0.1, 0.0), (0.05, 0.9), (0.3, 0.5)])
def test_sgd_matches_torch(lr, momentum, rng):
    run_optimizers(lambda ps: SGD(ps, lr=lr, momentum=momentum),
                   lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum), rng)


@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (0.05, (0.8, 0.99), 1e-6),
                                            (0.5, (0.0, 0.9), 1e-3)])
def test_adam_matches_torch(lr, betas, eps, rng):
    run_optimizers(lambda ps: Adam(ps, lr=lr, betas=betas, eps=eps),
                   lambda ps: torch.optim.Adam(ps, lr=lr, betas=betas, eps=eps), rng)


@pytest.mark.parametrize("make_tiny, make_torch", [
    (lambda ps: Adam(ps, lr=0.1), lambda ps: torch.optim.Adam(ps, lr=0.1)),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
], ids=["adam", "sgd"])
def test_a_parameter_that_misses_steps_is_updated_as_torch_does(make_tiny, make_torch, rng):
    """Each parameter keeps its own step count (Adam's bias correction) and state."""
    # the second parameter gets no gradient at the first step, and again at steps 2 and 3, once it has
    # state (momentum / moments): skipping it then differs from updating it with a zero gradient
    run_optimizers(make_tiny, make_torch, rng, steps=6, no_grad_at=lambda step, i: i == 1 and step in (0, 2, 3))


def test_optimizer_defaults_match_torch(rng):
    run_optimizers(lambda ps: SGD(ps), lambda ps: torch.optim.SGD(ps, lr=0.01), rng, steps=2)
    run_optimizers(lambda ps: Adam(ps), lambda ps: torch.optim.Adam(ps), rng, steps=2)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps, lr=0.1)],
                         ids=["sgd", "adam"])
def test_optimizer_skips_params_without_grad_and_zero_grad_clears(make):
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0], requires_grad=True)
    opt = make(iter([a, b]))                         # any iterable of parameters
    (a * a).sum().backward()
    opt.step()
    np.testing.assert_array_equal(b.data, [3.0])     # no grad: left alone
    assert np.all(a.data < [1.0, 2.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    (a * 2.0).sum().backward()                       # a fresh gradient, not accumulated on the old one
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])


def test_module_zero_grad():
    layer = Linear(3, 2)
    layer(Tensor(np.ones((1, 3)))).sum().backward()
    assert layer.weight.grad is not None
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


@pytest.mark.parametrize("make", [lambda ps, lr: SGD(ps, lr=lr), lambda ps, lr: Adam(ps, lr=lr)],
                         ids=["sgd", "adam"])
def test_optimizer_rejects_bad_arguments(make):
    with pytest.raises(ValueError, match="empty"):
        make([], 0.1)
    for lr in (0.0, -0.1):
        with pytest.raises(ValueError, match="learning rate"):
            make([Tensor([1.0], requires_grad=True)], lr)


def test_training_steps_match_torch(rng):
    """Linear -> ReLU -> Linear, cross-entropy, Adam: three full steps against torch."""
    np.random.seed(5)
    model = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    ref = [to_torch(p.data, True) for p in model.parameters()]
    opt, ref_opt = Adam(model.parameters(), lr=0.01), torch.optim.Adam(ref, lr=0.01)
    x, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    for _ in range(3):
        opt.zero_grad()
        ref_opt.zero_grad()
        loss = cross_entropy(model(Tensor(x)), y)
        w1, b1, w2, b2 = ref
        ref_loss = F.cross_entropy(F.linear(torch.relu(F.linear(to_torch(x), w1.T, b1)), w2.T, b2),
                                   torch.from_numpy(y))
        assert_close(loss.data, ref_loss.detach().numpy(), "loss", TOL)
        loss.backward()
        ref_loss.backward()
        opt.step()
        ref_opt.step()
    for p, r in zip(model.parameters(), ref):
        assert_close(p.data, r.detach().numpy(), "parameters", TOL)


# ----------------------------------------------------------------- data
def dataset(n):
    return np.arange(n * 2).reshape(n, 2), np.arange(n)


@pytest.mark.parametrize("n, batch_size, sizes", [(10, 3, [3, 3, 3, 1]), (9, 3, [3, 3, 3]), (5, 8, [5]),
                                                  (4, 1, [1, 1, 1, 1]), (0, 4, [])])
def test_loader_batch_sizes(n, batch_size, sizes):
    loader = DataLoader(*dataset(n), batch_size=batch_size)
    assert len(loader) == len(sizes)
    assert [len(yb) for _, yb in loader] == sizes


def test_loader_without_shuffle_keeps_order():
    x, y = dataset(7)
    batches = list(DataLoader(x, y, batch_size=3))
    xb, yb = batches[0]
    assert isinstance(xb, Tensor) and xb.dtype == np.float64 and not xb.requires_grad
    np.testing.assert_array_equal(xb.data, x[:3])
    np.testing.assert_array_equal(np.concatenate([b for _, b in batches]), y)


def test_loader_shuffle_visits_every_sample_once_per_epoch():
    x, y = dataset(23)
    loader = DataLoader(x, y, batch_size=5, shuffle=True, seed=0)
    epochs = []
    for _ in range(3):
        ys, xs = [], []
        for xb, yb in loader:
            xs.append(xb.data)
            ys.append(yb)
        ys, xs = np.concatenate(ys), np.concatenate(xs)
        np.testing.assert_array_equal(np.sort(ys), y)              # each sample exactly once
        np.testing.assert_array_equal(xs, x[ys])                    # x and y stay paired
        epochs.append(ys)
    assert not np.array_equal(epochs[0], y)                         # actually shuffled
    assert not np.array_equal(epochs[0], epochs[1])                 # reshuffled every epoch


def test_loader_shuffle_is_reproducible_with_a_seed():
    def orders(seed):
        loader = DataLoader(*dataset(20), batch_size=6, shuffle=True, seed=seed)
        return [np.concatenate([yb for _, yb in loader]) for _ in range(2)]
    first, again, other = orders(42), orders(42), orders(43)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(x=np.zeros((4, 2)), y=np.zeros(3)), "same length"),
    (dict(x=np.zeros((4, 2)), y=np.zeros(4), batch_size=0), "batch_size must be positive"),
    (dict(x=np.zeros((4, 2)), y=np.zeros(4), batch_size=-2), "batch_size must be positive"),
])
def test_loader_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        DataLoader(**kwargs)
