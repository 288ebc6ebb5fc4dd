"""Scenarios that checks run against a student's functions and losses, through the Student adapter.

Each driver calls the student's code with given arrays and returns plain arrays: a softmax, a
loss value, the gradients a loss's backward pass sent to its inputs.  Visible and hidden checks
share them, so a scenario is written once.  Every application of a loss gets a new instance of
its ``Function`` class, as the ``Function`` API prescribes.
"""
from __future__ import annotations

import numpy as np

from gradekit.checking import CheckFailure, answer_array

__all__ = ["describe", "describe_array", "normalise", "loss_value", "loss_forward", "loss_forward_backward"]

SCALAR_HINT = ("A loss is one number: return a 0-d array such as np.mean(...) or np.asarray(total), "
               "not an array of per-element losses.")


def describe(class_name: str, args: tuple = (), kwargs: dict | None = None) -> str:
    """``MSELoss(reduction='sum')``: how a check names the object it built."""
    parts = [describe_array(a) if isinstance(a, np.ndarray) else repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in (kwargs or {}).items()]
    return f"{class_name}({', '.join(parts)})"


def describe_array(x: np.ndarray) -> str:
    """A small array in full (on one line), a larger one by its shape."""
    x = np.asarray(x)
    if x.size <= 12:
        return " ".join(np.array2string(x, separator=", ", precision=4, max_line_width=10_000).split())
    return f"<array of shape {x.shape}>"


def normalise(s, name: str, x: np.ndarray, axis=None) -> np.ndarray:
    """``name(x)`` or ``name(x, axis=axis)`` for the student's softmax or log_softmax (on a copy of ``x``)."""
    if axis is None:
        return s.call(name, np.array(x, copy=True))
    return s.call(name, np.array(x, copy=True), axis=axis)


def loss_value(loss, what: str) -> float:
    """The student's loss as a float (NaN and infinity pass, for the comparison to report), or
    CheckFailure when it is not one number."""
    return float(answer_array(loss, (), f"{what}: the loss", hint=SCALAR_HINT))


def loss_forward(s, class_name: str, init_args: tuple, init_kwargs: dict, inputs: list[np.ndarray],
                 what: str) -> float:
    """``class_name(*init_args, **init_kwargs)(*inputs)`` on tensors; the loss as a float."""
    op = s.new(class_name, *init_args, **init_kwargs)
    out = s.apply(op, *(s.tensor(np.array(x, copy=True)) for x in inputs))
    return loss_value(s.data(out), what)


def loss_forward_backward(s, class_name: str, init_args: tuple, init_kwargs: dict, inputs: list[np.ndarray],
                          names: list[str], upstream: float, what: str) -> tuple[float, list]:
    """Apply the loss to tensors that require grad, back-propagate ``upstream``; return (loss, gradients).

    ``names`` says what each input is ("the predictions", "the targets") for the messages.  A
    gradient that never arrives is a CheckFailure saying which input's is missing.
    """
    op = s.new(class_name, *init_args, **init_kwargs)
    tensors = [s.tensor(np.array(x, copy=True), requires_grad=True) for x in inputs]
    out = s.apply(op, *tensors)
    loss = loss_value(s.data(out), what)
    s.backward(out, np.asarray(upstream, dtype=np.float64))
    grads = []
    for tensor, name in zip(tensors, names):
        g = s.grad(tensor)
        if g is None:
            raise CheckFailure(f"{what}: after backward(), the gradient of {name} is None. "
                               f"backward must return one gradient per input of forward, in order "
                               f"({', '.join(names)}), each shaped like its input.")
        grads.append(g)
    return loss, grads
