"""Scenarios that checks run against a student's layers, through the Student adapter.

Each driver builds a layer, loads given parameter values, runs forward (and
backward with a given upstream gradient) and returns plain arrays.  Visible
and hidden checks share them, so a scenario is written once.
"""
from __future__ import annotations

import numpy as np

from gradekit.checking import CheckFailure, expect_shape

__all__ = ["describe_layer", "build", "load_params", "forward", "forward_backward", "param_grads"]


def describe_layer(class_name: str, args: tuple, kwargs: dict) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{class_name}({', '.join(parts)})"


def build(s, class_name: str, *args, **kwargs):
    return s.new(class_name, *args, **kwargs)


def load_params(s, layer, what: str, **values) -> None:
    """Set ``layer.<name>.data`` for each given array, checking the parameter's shape first."""
    for name, value in values.items():
        param = s.attr(layer, name)
        if value is None:
            if param is not None:
                raise CheckFailure(f"{what}: expected .{name} to be None, got a parameter")
            continue
        if param is None:
            raise CheckFailure(f"{what}: .{name} is None but this layer should have one")
        current = s.data(param)
        expect_shape(current, np.shape(value), f"{what}: .{name}")
        s.set_data(param, value)


def forward(s, layer, x: np.ndarray, what: str) -> np.ndarray:
    out = s.apply(layer, s.tensor(x))
    return s.data(out)


def forward_backward(s, layer, x: np.ndarray, upstream_fn, what: str):
    """Run ``layer(x)``, back-propagate ``upstream_fn(out_shape)``; return (out, dx, upstream)."""
    xt = s.tensor(x, requires_grad=True)
    out_ref = s.apply(layer, xt)
    out = s.data(out_ref)
    upstream = upstream_fn(out.shape)
    s.backward(out_ref, upstream)
    dx = s.grad(xt)
    if dx is None:
        raise CheckFailure(f"{what}: after backward(), the input's .grad is None — "
                           "the output is not connected to the input in the autograd graph "
                           "(build the output with your Function subclass so backward is recorded).")
    return out, dx, upstream


def param_grads(s, layer, names, what: str) -> dict:
    grads = {}
    for name in names:
        param = s.attr(layer, name)
        if param is None:
            grads[name] = None
            continue
        g = s.grad(param)
        if g is None:
            raise CheckFailure(f"{what}: after backward(), .{name}.grad is None — "
                               f"backward must return a gradient for the {name}.")
        grads[name] = g
    return grads
