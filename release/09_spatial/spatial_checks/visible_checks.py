"""Visible checks: small, hand-computed examples a student can run and read.

Every expected value here was worked out by hand (see the comments); none
comes from a reference implementation.  Every answer is validated
(checking.py: ``answer_array``, ``expect_close``, ``expect_equal``,
``expect_shape``) before it is compared or computed with.
"""
from __future__ import annotations

import numpy as np

from gradekit.checking import Registry, answer_array, expect, expect_close, expect_equal, expect_shape

from .drivers import build, forward, forward_backward, load_params, param_grads

REGISTRY = Registry()
check = REGISTRY.check

RAMP_3x3 = np.arange(9.0).reshape(1, 1, 3, 3)          # [[0,1,2],[3,4,5],[6,7,8]]
DIAG_KERNEL = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # out[i,j] = x[i,j] - x[i+1,j+1] = -4
RAMP_4x4 = np.arange(16.0).reshape(1, 1, 4, 4)


# --------------------------------------------------------------- shape helpers
@check("test_conv_output_size", "conv_output_size on three worked examples")
def output_size_examples(s):
    for args, expected in [((32, 3, 1, 1), 32), ((28, 5, 1, 0), 24), ((7, 3, 2, 0), 3)]:
        expect_equal(s.call("conv_output_size", *args), expected, f"conv_output_size{args}")


@check("test_receptive_field", "receptive field of one and two stacked 3x3 convolutions")
def receptive_field_examples(s):
    expect_equal(s.call("receptive_field", 1, 3), 3, "receptive_field(1, 3)")
    expect_equal(s.call("receptive_field", 2, 3), 5, "receptive_field(2, 3)")


# ---------------------------------------------------------------------- Conv2d
@check("test_conv2d_init", "Conv2d(3, 32, 3) has 896 parameters, weight (32, 3, 3, 3), zero bias")
def conv_init_example(s):
    conv = build(s, "Conv2d", 3, 32, 3)
    params = s.parameters(conv)
    total = sum(s.data(p).size for p in params)
    expect_equal(total, 896, "number of parameters of Conv2d(3, 32, 3) (32*3*3*3 weights + 32 biases)")
    expect_shape(s.data(s.attr(conv, "weight")), (32, 3, 3, 3), "Conv2d(3, 32, 3).weight")
    expect_close(s.data(s.attr(conv, "bias")), np.zeros(32), "Conv2d(3, 32, 3).bias (should start at zero)")


@check("test_conv2d_forward", "2x2 kernel on a 3x3 ramp, with and without bias")
def conv_forward_example(s):
    conv = build(s, "Conv2d", 1, 1, 2, bias=False)
    load_params(s, conv, "Conv2d(1, 1, 2, bias=False)", weight=DIAG_KERNEL)
    out = forward(s, conv, RAMP_3x3, "Conv2d(1, 1, 2)")
    # every window computes x[i, j] - x[i+1, j+1] = -4 on the ramp
    expect_close(out, np.full((1, 1, 2, 2), -4.0), "Conv2d(1, 1, 2, bias=False) output on the 3x3 ramp")
    conv_b = build(s, "Conv2d", 1, 1, 2)
    load_params(s, conv_b, "Conv2d(1, 1, 2)", weight=DIAG_KERNEL, bias=np.array([2.0]))
    expect_close(forward(s, conv_b, RAMP_3x3, "Conv2d(1, 1, 2)"), np.full((1, 1, 2, 2), -2.0),
                 "Conv2d(1, 1, 2) output with bias 2 on the 3x3 ramp")


@check("test_conv2d_forward", "output shape with stride 2 and padding 1")
def conv_forward_shape(s):
    conv = build(s, "Conv2d", 3, 4, 3, stride=2, padding=1)
    out = forward(s, conv, np.ones((2, 3, 8, 8)), "Conv2d(3, 4, 3, stride=2, padding=1)")
    expect_shape(out, (2, 4, 4, 4), "Conv2d(3, 4, 3, stride=2, padding=1) on a (2, 3, 8, 8) input",
                 hint="Output size is (8 + 2*1 - 3) // 2 + 1 = 4.")


@check("test_conv2d_backward", "gradients of the 2x2 kernel example with an all-ones upstream gradient")
def conv_backward_example(s):
    conv = build(s, "Conv2d", 1, 1, 2)
    load_params(s, conv, "Conv2d(1, 1, 2)", weight=DIAG_KERNEL, bias=np.array([0.0]))
    _, dx, _ = forward_backward(s, conv, RAMP_3x3, np.ones, "Conv2d(1, 1, 2)")
    # d out[i,j] / d x = +1 at (i,j) and -1 at (i+1,j+1), summed over the four windows
    expect_close(dx, np.array([[[[1.0, 1, 0], [1, 0, -1], [0, -1, -1]]]]), "input gradient")
    grads = param_grads(s, conv, ["weight", "bias"], "Conv2d(1, 1, 2)")
    # weight gradient (a, b) = sum of the input under kernel tap (a, b) over the four windows
    expect_close(grads["weight"], np.array([[[[8.0, 12], [20, 24]]]]), "weight gradient")
    expect_close(grads["bias"], np.array([4.0]), "bias gradient (one per output position: 4)")


# ------------------------------------------------------------------- pooling
@check("test_maxpool2d_forward", "MaxPool2d(2) on a 4x4 ramp (stride defaults to the kernel size)")
def maxpool_forward_example(s):
    pool = build(s, "MaxPool2d", 2)
    expect_close(forward(s, pool, RAMP_4x4, "MaxPool2d(2)"), np.array([[[[5.0, 7], [13, 15]]]]),
                 "MaxPool2d(2) output on the 4x4 ramp", hint="Each 2x2 block keeps its bottom-right value.")


@check("test_maxpool2d_backward", "MaxPool2d(2) sends the gradient to each window's maximum")
def maxpool_backward_example(s):
    pool = build(s, "MaxPool2d", 2)
    _, dx, _ = forward_backward(s, pool, RAMP_4x4, np.ones, "MaxPool2d(2)")
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 1::2, 1::2] = 1.0
    expect_close(dx, expected, "input gradient of MaxPool2d(2) with an all-ones upstream gradient")


@check("test_avgpool2d_forward", "AvgPool2d(2) on a 4x4 ramp")
def avgpool_forward_example(s):
    pool = build(s, "AvgPool2d", 2)
    expect_close(forward(s, pool, RAMP_4x4, "AvgPool2d(2)"), np.array([[[[2.5, 4.5], [10.5, 12.5]]]]),
                 "AvgPool2d(2) output on the 4x4 ramp")


@check("test_avgpool2d_backward", "AvgPool2d(2) spreads each gradient evenly over its window")
def avgpool_backward_example(s):
    pool = build(s, "AvgPool2d", 2)
    _, dx, _ = forward_backward(s, pool, RAMP_4x4, np.ones, "AvgPool2d(2)")
    expect_close(dx, np.full((1, 1, 4, 4), 0.25), "input gradient of AvgPool2d(2) with an all-ones upstream")


# ------------------------------------------------------------------- Flatten
@check("test_flatten", "Flatten keeps the batch axis and orders values channel by channel")
def flatten_example(s):
    flat = build(s, "Flatten")
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    out, dx, upstream = forward_backward(s, flat, x, lambda shape: np.arange(float(np.prod(shape))).reshape(shape),
                                         "Flatten()")
    expect_close(out, np.arange(24.0).reshape(2, 12), "Flatten() output on a (2, 3, 2, 2) ramp")
    expect_close(dx, np.arange(24.0).reshape(2, 3, 2, 2), "Flatten() input gradient (reshaped back)")


# ----------------------------------------------------------------- SimpleCNN
@check("test_simplecnn_structure", "SimpleCNN() has 60,362 parameters and maps (2, 3, 32, 32) to (2, 10)")
def cnn_structure_example(s):
    model = build(s, "SimpleCNN")
    expect_equal(s.call("count_parameters", model), 60362, "count_parameters(SimpleCNN())",
                 hint="conv1 896 + conv2 18,496 + fc 64*8*8*10 + 10 = 40,970.")
    expect_shape(forward(s, model, np.zeros((2, 3, 32, 32)), "SimpleCNN()"), (2, 10),
                 "SimpleCNN() logits for a batch of 2")


@check("test_simplecnn_forward", "with every weight zero, the logits equal the classifier's bias")
def cnn_forward_zero_weights(s):
    model = build(s, "SimpleCNN", num_classes=10, in_channels=1, image_size=8)
    params = s.parameters(model)
    expect(len(params) == 6, f"SimpleCNN.parameters() should return 6 tensors "
                             f"(conv1 weight/bias, conv2 weight/bias, fc weight/bias), got {len(params)}")
    for p in params[:-1]:
        s.set_data(p, np.zeros_like(s.data(p)))
    s.set_data(params[-1], np.arange(10.0))
    out = forward(s, model, np.random.default_rng(0).normal(size=(3, 1, 8, 8)), "SimpleCNN")
    expect_close(out, np.tile(np.arange(10.0), (3, 1)), "logits of SimpleCNN(in_channels=1, image_size=8) "
                 "with zero weights and fc bias 0..9")


@check("test_simplecnn_training", "backward reaches the first convolution's weights")
def cnn_gradient_reaches_conv1(s):
    model = build(s, "SimpleCNN", num_classes=10, in_channels=1, image_size=8)
    x = np.random.default_rng(1).normal(size=(2, 1, 8, 8))
    out = s.apply(model, s.tensor(x))
    s.backward(out, np.ones(s.data(out).shape))
    conv1_weight = s.parameters(model)[0]
    g = s.grad(conv1_weight)
    expect(g is not None, "after backward(), conv1.weight.grad is None: the gradient does not reach the "
                          "first convolution (is every layer built from autograd-tracked operations?)")
    g = answer_array(g, (32, 1, 3, 3), "conv1.weight.grad of SimpleCNN(in_channels=1)")
    expect(bool(np.any(g != 0)), "after backward(), conv1.weight.grad is all zeros")
