"""The coverage model of the hidden checks: what they must exercise, cell by cell.

For every graded API of the assignment, the model lists the values each argument must be
exercised with (every default and non-default) and the regimes in which a plausible mistake
shows:

* ``softmax`` and ``log_softmax``: inputs of 1 to 4 dimensions; the axis left at its default,
  0, the last one named positively and as -1, a middle one, another negative one, an axis of
  length 1, a square input (where normalising the wrong axis keeps the shape); and the
  stability regimes, read from the recorded input itself: a slice whose maximum is >= 1000
  (``exp`` overflows without the shift), a slice entirely <= -1000 (``exp`` underflows to
  0 / 0), slices whose maxima lie >= 1000 apart (one global maximum fails), along the default
  axis and along another one;
* ``MSELoss`` and ``BCEWithLogitsLoss``: ``reduction`` left at its default, ``"mean"`` and
  ``"sum"`` given, each in the forward and the backward pass; inputs of 1 to 4 dimensions and
  of one element; for the mean, a first axis shorter than the element count (dividing by the
  batch size instead of the element count shows); the gradient of the first input read;
* ``SoftmaxCrossEntropy``: integer targets; batch 1, one class, two classes, more rows than
  classes and fewer; every row with one target, every class the target once, class 0 and the
  last class as targets; in the backward pass rows with different targets and a repeated
  target (``grad[:, targets]`` instead of ``grad[np.arange(N), targets]`` shows); the gradient
  of the logits read.

The recorder (grader/harness/coverage.py) sees a function's arguments in full, but of a loss
only its constructor arguments, the shape of its first input, that a backward pass ran and
which gradients of the first input were read.  The regimes it cannot see (loss inputs in the
thousands, soft BCE targets, the upstream gradient's value, the targets' gradients) are left
out of the model rather than matched on check names.  ``python -m grader coverage`` checks the
hidden checks against it.
"""
from __future__ import annotations

import numpy as np

from grader.harness.coverage import Call, Cell

GRADED_APIS = ["softmax", "log_softmax", "MSELoss", "SoftmaxCrossEntropy", "BCEWithLogitsLoss"]
NORMALISERS = ("softmax", "log_softmax")
LARGE = 1000.0   # |logits| from which exp overflows (e^1000) or underflows to 0 without the max shift


def arg(param: str, value: str, test, kinds=("new", "call")) -> tuple[str, str, callable, tuple[str, ...]]:
    """A cell about one argument: ``test(given value)``, or ``test is None`` for "left at its default"."""
    if test is None:
        return param, value, (lambda c: c.kind in kinds and param not in c.given), (param,)
    return param, value, (lambda c: c.kind in kinds and param in c.given and test(c.given[param])), (param,)


def arg_cells(api: str, specs: list[tuple[str, str, callable, tuple[str, ...]]]) -> list[Cell]:
    """The cells ``arg(...)`` specifies, under the aspect "arg <parameter>"."""
    return [Cell(api, f"arg {param}", value, hit, params) for param, value, hit, params in specs]


# ------------------------------------------------------------- softmax, log-softmax
def _x_axis(c: Call) -> tuple[np.ndarray, int | None]:
    """The input of a softmax call and its axis as a non-negative index (None when it names no axis of x)."""
    x = np.asarray(c.values["x"])
    axis = c.values["axis"]
    return x, (axis % x.ndim if isinstance(axis, (int, np.integer)) and -x.ndim <= axis < x.ndim else None)


def _slice_maxima(c: Call) -> np.ndarray:
    """The maximum of every slice the call normalises (empty when there is none)."""
    x, axis = _x_axis(c)
    return x.max(axis=axis) if axis is not None and x.size else np.zeros(0)


def _apart(c: Call) -> bool:
    maxima = _slice_maxima(c)
    return maxima.size > 1 and float(maxima.max() - maxima.min()) >= LARGE


def _on_axis(c: Call, test) -> bool:
    """``test(x, axis)`` for a call whose axis names an axis of ``x``."""
    x, axis = _x_axis(c)
    return axis is not None and test(x, axis)


def _call_cell(test):
    def hit(c: Call) -> bool:
        return c.kind == "call" and test(c)
    return hit


def _normaliser(api: str) -> list[Cell]:
    cells = arg_cells(api, [arg("x", f"{n}-D", lambda v, n=n: np.ndim(v) == n) for n in (1, 2, 3, 4)])
    cells += arg_cells(api, [
        arg("axis", "default (-1)", None),
        arg("axis", "0", lambda v: v == 0),
        arg("axis", "-1 given", lambda v: v == -1),
        arg("axis", "negative, not -1", lambda v: v < -1)])
    cells += [
        Cell(api, "arg axis", "the last, named positively",
             _call_cell(lambda c: "axis" in c.given and c.given["axis"] > 0
                        and _on_axis(c, lambda x, axis: axis == x.ndim - 1)), ("axis",)),
        Cell(api, "arg axis", "a middle one (neither first nor last)",
             _call_cell(lambda c: _on_axis(c, lambda x, axis: 0 < axis < x.ndim - 1)), ("axis",))]
    cells += [Cell(api, "regime", label, _call_cell(test)) for label, test in [
        ("default axis on 1-D", lambda c: "axis" not in c.given and np.ndim(c.values["x"]) == 1),
        ("default axis on >= 3-D", lambda c: "axis" not in c.given and np.ndim(c.values["x"]) >= 3),
        ("axis of length 1", lambda c: _on_axis(c, lambda x, axis: x.shape[axis] == 1)),
        ("square 2-D input (the wrong axis keeps the shape)",
         lambda c: np.ndim(c.values["x"]) == 2 and len(set(np.shape(c.values["x"]))) == 1),
    ]]
    cells += [Cell(api, "stability", label, _call_cell(test)) for label, test in [
        ("a slice with maximum >= 1000 (exp overflows unshifted)", lambda c: bool(np.any(_slice_maxima(c) >= LARGE))),
        ("a slice entirely <= -1000 (exp underflows to 0 / 0)", lambda c: bool(np.any(_slice_maxima(c) <= -LARGE))),
        ("slices >= 1000 apart, default axis", lambda c: "axis" not in c.given and _apart(c)),
        ("slices >= 1000 apart, axis not the last",
         lambda c: _on_axis(c, lambda x, axis: axis != x.ndim - 1) and _apart(c)),
    ]]
    return cells


# ------------------------------------------------------------------ MSE, BCE
def _pass_cell(kind: str, test):
    def hit(c: Call) -> bool:
        return c.kind == kind and c.shape is not None and test(c)
    return hit


def _reduced_loss(api: str) -> list[Cell]:
    cells = arg_cells(api, [
        arg("reduction", "default ('mean')", None),
        arg("reduction", "'mean' given", lambda v: v == "mean"),
        arg("reduction", "'sum'", lambda v: v == "sum")])
    for kind in ("forward", "backward"):
        cells += [Cell(api, kind, label, _pass_cell(kind, test)) for label, test in [
            ("reduction default", lambda c: "reduction" not in c.given),
            ("reduction 'mean' given", lambda c: c.given.get("reduction") == "mean"),
            ("reduction 'sum'", lambda c: c.values["reduction"] == "sum"),
            ("one element", lambda c: int(np.prod(c.shape)) == 1),
            ("1-D", lambda c: len(c.shape) == 1),
            ("2-D", lambda c: len(c.shape) == 2),
            ("3-D", lambda c: len(c.shape) == 3),
            ("4-D", lambda c: len(c.shape) == 4),
            ("mean, first axis shorter than the element count",
             lambda c: c.values["reduction"] == "mean" and c.shape[0] < int(np.prod(c.shape))),
        ]]
    first = "dp" if api == "MSELoss" else "dz"
    cells.append(Cell(api, "backward outputs", first, lambda c: c.kind == "grad" and c.what == "input"))
    return cells


# ------------------------------------------------------------- cross-entropy
def _targets(c: Call) -> np.ndarray:
    return np.asarray(c.values["targets"])


def _ce_cell(kind: str, test):
    def hit(c: Call) -> bool:
        if c.kind != kind or c.shape is None or len(c.shape) != 2:
            return False
        n, classes = c.shape
        return test(n, classes, _targets(c))
    return hit


def _cross_entropy() -> list[Cell]:
    api = "SoftmaxCrossEntropy"
    cells = arg_cells(api, [
        arg("targets", "integer labels", lambda v: np.asarray(v).dtype.kind in "iu" and np.ndim(v) == 1)])
    shapes = [
        ("batch 1", lambda n, k, y: n == 1),
        ("one class", lambda n, k, y: k == 1),
        ("two classes", lambda n, k, y: k == 2),
        ("more rows than classes", lambda n, k, y: n > k),
        ("fewer rows than classes", lambda n, k, y: n < k),
    ]
    cells += [Cell(api, "forward", label, _ce_cell("forward", test)) for label, test in shapes + [
        ("every row the same target", lambda n, k, y: n > 1 and len(set(y.tolist())) == 1),
        ("every class the target once", lambda n, k, y: k > 1 and sorted(y.tolist()) == list(range(k))),
        ("class 0 a target", lambda n, k, y: k > 1 and 0 in y.tolist()),
        ("the last class a target", lambda n, k, y: k > 1 and k - 1 in y.tolist()),
    ]]
    cells += [Cell(api, "backward", label, _ce_cell("backward", test)) for label, test in shapes + [
        ("rows with different targets", lambda n, k, y: len(set(y.tolist())) > 1),
        ("a target repeated", lambda n, k, y: len(set(y.tolist())) < n),
    ]]
    cells.append(Cell(api, "backward outputs", "dz", lambda c: c.kind == "grad" and c.what == "input"))
    return cells


def model() -> list[Cell]:
    """Every cell the hidden checks of this assignment must hit."""
    cells = []
    for api in NORMALISERS:
        cells += _normaliser(api)
    cells += _reduced_loss("MSELoss")
    cells += _cross_entropy()
    cells += _reduced_loss("BCEWithLogitsLoss")
    return cells
