"""Flatten, SimpleCNN, parameter counts and initialisation."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from tinytorch_ref.core import SGD, Tensor, cross_entropy
from tinytorch_ref.spatial import Conv2d, Flatten, SimpleCNN, count_parameters

from .spatial_helpers import assert_close, to_torch


# ------------------------------------------------------------------ Flatten
@pytest.mark.parametrize("shape, start_dim", [((2, 3, 4, 5), 1), ((3, 2, 5, 4), 2), ((2, 3, 4, 5), 0), ((2, 3, 4), -2)])
def test_flatten_matches_torch(shape, start_dim, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    out = Flatten(start_dim)(x)
    tx = to_torch(x.data, True)
    ref = torch.flatten(tx, start_dim)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.data, ref.detach().numpy())   # pure reordering: exact
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(to_torch(upstream))
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


def test_flatten_is_c_order():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    out = Flatten()(Tensor(x))
    np.testing.assert_array_equal(out.data, np.arange(24.0).reshape(2, 12))
    assert Flatten().parameters() == []


# ---------------------------------------------------------------- counts
def test_conv2d_parameter_count_and_shapes():
    layer = Conv2d(3, 32, 3)
    assert count_parameters(layer) == 896                    # 32*3*3*3 + 32
    assert layer.weight.shape == (32, 3, 3, 3) and layer.bias.shape == (32,)
    assert layer.parameters() == [layer.weight, layer.bias]
    assert layer.kernel_size == (3, 3) and layer.stride == (1, 1) and layer.padding == (0, 0)
    assert (layer.in_channels, layer.out_channels) == (3, 32)
    assert count_parameters(Conv2d(3, 32, 3, bias=False)) == 864
    assert count_parameters(Conv2d(4, 6, (2, 5), stride=(1, 2), padding=(1, 0))) == 6 * 4 * 2 * 5 + 6


def test_simplecnn_parameter_counts():
    model = SimpleCNN()
    assert count_parameters(model) == 60362                  # not "~500K"
    assert [p.size for p in model.parameters()] == [864, 32, 18432, 64, 40960, 10]
    # 1 channel, 8x8 images: conv1 1*32*9 + 32 = 320, conv2 18,496, fc 64*2*2*10 + 10 = 2,570
    assert count_parameters(SimpleCNN(in_channels=1, image_size=8)) == 21386
    assert count_parameters(SimpleCNN(num_classes=100, in_channels=1, image_size=28)) == \
        320 + 18496 + 64 * 7 * 7 * 100 + 100


def test_simplecnn_structure():
    model = SimpleCNN()
    names = list(vars(model))
    order = ["conv1", "relu", "pool1", "conv2", "pool2", "flatten", "fc"]
    assert [n for n in names if n in order] == order
    assert model.parameters() == [model.conv1.weight, model.conv1.bias, model.conv2.weight,
                                  model.conv2.bias, model.fc.weight, model.fc.bias]
    assert model.fc.weight.shape == (4096, 10)
    assert model.conv1.padding == (1, 1) and model.pool1.kernel_size == (2, 2) and model.pool1.stride == (2, 2)
    assert model(np.zeros((2, 3, 32, 32))).shape == (2, 10)
    naive_model = SimpleCNN(impl="naive")
    assert [layer.impl for layer in (naive_model.conv1, naive_model.pool1, naive_model.conv2, naive_model.pool2)] \
        == ["naive"] * 4


# ------------------------------------------------------------ initialisation
def test_conv2d_he_normal_init_and_zero_bias():
    np.random.seed(0)
    layer = Conv2d(64, 128, 3)
    fan_in = 64 * 3 * 3
    target = np.sqrt(2.0 / fan_in)                            # 0.0589
    std = layer.weight.data.std()
    assert abs(std / target - 1.0) < 0.03, std                # 73,728 samples: sampling error ~0.3%
    assert abs(layer.weight.data.mean()) < 0.02 * target      # zero mean (sampling error ~0.4% of std)
    np.testing.assert_array_equal(layer.bias.data, np.zeros(128))
    assert layer.weight.requires_grad and layer.bias.requires_grad


def test_conv2d_init_follows_the_global_numpy_seed():
    np.random.seed(7)
    a = Conv2d(3, 4, 3).weight.data.copy()
    np.random.seed(7)
    b = Conv2d(3, 4, 3).weight.data.copy()
    np.testing.assert_array_equal(a, b)
    np.random.seed(7)
    expected = np.random.normal(0.0, np.sqrt(2.0 / 27), (4, 3, 3, 3))
    np.testing.assert_array_equal(a, expected)


# --------------------------------------------------------- SimpleCNN vs torch
def _torch_simplecnn(model: SimpleCNN) -> nn.Sequential:
    """The equivalent torch network in float64 with the same weights (Linear weight transposed)."""
    in_ch, size, classes = model.in_channels, model.image_size, model.num_classes
    net = nn.Sequential(
        nn.Conv2d(in_ch, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, classes),
    ).double()
    with torch.no_grad():
        net[0].weight.copy_(to_torch(model.conv1.weight.data))
        net[0].bias.copy_(to_torch(model.conv1.bias.data))
        net[3].weight.copy_(to_torch(model.conv2.weight.data))
        net[3].bias.copy_(to_torch(model.conv2.bias.data))
        net[7].weight.copy_(to_torch(model.fc.weight.data.T))
        net[7].bias.copy_(to_torch(model.fc.bias.data))
    return net


@pytest.mark.parametrize("impl, batch, in_channels, image_size, classes", [
    ("fast", 2, 3, 32, 10),
    ("fast", 3, 2, 12, 7),
    ("naive", 2, 1, 8, 10),
])
def test_simplecnn_matches_torch(impl, batch, in_channels, image_size, classes, rng):
    np.random.seed(1)
    model = SimpleCNN(num_classes=classes, in_channels=in_channels, image_size=image_size, impl=impl)
    for p in model.parameters():                 # non-zero biases so every gradient is exercised
        p.data = p.data + 0.1 * rng.standard_normal(p.shape)
    net = _torch_simplecnn(model)
    x = rng.standard_normal((batch, in_channels, image_size, image_size))

    xt = Tensor(x, requires_grad=True)
    logits = model(xt)
    upstream = rng.standard_normal(logits.shape)
    logits.backward(upstream)

    tx = to_torch(x, True)
    ref = net(tx)
    ref.backward(to_torch(upstream))

    assert_close(logits.data, ref.detach().numpy(), "logits")
    assert_close(xt.grad, tx.grad.numpy(), "input gradient")
    ours = model.parameters()
    theirs = [net[0].weight, net[0].bias, net[3].weight, net[3].bias, net[7].weight, net[7].bias]
    names = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]
    for name, p, t in zip(names, ours, theirs):
        expected = t.grad.numpy().T if name == "fc.weight" else t.grad.numpy()
        assert_close(p.grad, expected, f"{name} gradient")


def test_simplecnn_trains_on_a_tiny_batch(rng):
    """A few SGD steps on 8 random images reduce the cross-entropy."""
    np.random.seed(3)
    model = SimpleCNN(num_classes=4, in_channels=1, image_size=8)
    x = rng.standard_normal((8, 1, 8, 8))
    y = np.arange(8) % 4
    opt = SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
