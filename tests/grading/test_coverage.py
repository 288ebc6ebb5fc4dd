"""The coverage model of the hidden checks: recording, matching, gaps, and the real table without gaps."""
from __future__ import annotations

import numpy as np

from grader.harness import coverage
from grader.harness.coverage import Cell, RecordingStudent

from ..conftest import SPATIAL

hidden_coverage = SPATIAL.module("hidden_coverage")


class Tensor:
    def __init__(self, data, requires_grad=False):
        self.data, self.grad = np.asarray(data, dtype=float), None


class Pool:
    """A stand-in layer: forward returns the input; backward sends the upstream gradient through."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.weight = Tensor(np.ones(2))

    def __call__(self, x):
        out = Tensor(x.data)
        out.backward = lambda g: setattr(x, "grad", np.asarray(g))
        return out


def namespace():
    return {"Tensor": Tensor, "Pool": Pool, "size": lambda n, k=3: n - k + 1}


def test_calls_are_recorded_with_given_and_default_arguments_shapes_and_the_check():
    s = RecordingStudent(namespace())
    s.check = "c1"
    layer = s.new("Pool", 2, padding=(1, 0))
    x = s.tensor(np.zeros((1, 2, 5, 4)), requires_grad=True)
    out = s.apply(layer, x)
    s.check = "c2"
    s.backward(out, np.ones((1, 2, 5, 4)))
    s.grad(x)
    s.grad(s.attr(layer, "weight"))
    s.call("size", 7)
    assert [(c.check, c.api, c.kind, c.given, c.shape, c.what) for c in s.calls] == [
        ("c1", "Pool", "new", {"kernel_size": 2, "padding": (1, 0)}, None, ""),
        ("c1", "Pool", "forward", {"kernel_size": 2, "padding": (1, 0)}, (1, 2, 5, 4), ""),
        ("c2", "Pool", "backward", {"kernel_size": 2, "padding": (1, 0)}, (1, 2, 5, 4), ""),
        ("c2", "Pool", "grad", {"kernel_size": 2, "padding": (1, 0)}, (1, 2, 5, 4), "input"),
        ("c2", "Pool", "grad", {"kernel_size": 2, "padding": (1, 0)}, None, "weight"),
        ("c2", "size", "call", {"n": 7}, None, ""),
    ]
    assert s.calls[0].values == {"kernel_size": 2, "stride": None, "padding": (1, 0)}
    assert s.calls[-1].values == {"n": 7, "k": 3}


def test_cells_hit_by_no_call_are_gaps_and_hits_name_each_check_once():
    s = RecordingStudent(namespace())
    s.check = "a.first"
    s.new("Pool", 3)
    s.new("Pool", 3, stride=1)
    s.check = "a.second"
    s.new("Pool", (2, 2))
    cells = [Cell("Pool", "stride", "default", hidden_coverage.arg("stride", "default", None)[2]),
             Cell("Pool", "stride", "int", hidden_coverage.arg("stride", "int", lambda v: isinstance(v, int))[2]),
             Cell("Pool", "padding", "> 0", hidden_coverage.arg("padding", "> 0", lambda v: v > 0)[2])]
    result = coverage.measure(cells, s.calls)
    assert result.hits == {0: ["a.first", "a.second"], 1: ["a.first"], 2: []}
    assert [c.value for c in result.gaps] == ["> 0"]
    text = coverage.table(result)
    assert text.splitlines()[-1] == "2/3 cells hit by a hidden check; 3 calls recorded"
    assert "GAP: no hidden check" in text.splitlines()[4]


def test_a_parameter_no_cell_names_is_reported():
    cells = [Cell("Pool", "arg kernel_size", "int", lambda c: True, ("kernel_size",)),
             Cell("Pool", "arg stride", "int", lambda c: True, ("stride",))]
    assert coverage.unmodelled_parameters(cells, namespace(), ["Pool", "size"]) == {
        "Pool": ["padding"], "size": ["n", "k"]}


def test_the_window_regimes_classify_a_call_by_its_arithmetic():
    cells = {(c.aspect, c.value): c for c in hidden_coverage.model() if c.api == "MaxPool2d"}
    call = coverage.Call("x", "MaxPool2d", "backward", {}, {"kernel_size": (2, 3), "stride": 3, "padding": (0, 1)},
                         (1, 1, 7, 4))
    hit = {key for key, cell in cells.items() if cell.hit(call)}
    # H: (7 + 0 - 2) % 3 = 2 > padding 0; W: (4 + 2 - 3) % 3 = 0, padding 1 = 3 // 2 (the largest)
    assert hit == {("backward H", "remainder > padding (uncovered edge)"), ("backward H", "stride > kernel (gaps)"),
                   ("backward H", "padding 0"), ("backward W", "remainder 0"), ("backward W", "padding > 0"),
                   ("backward W", "largest padding"), ("backward", "batch 1"), ("backward", "one channel"),
                   ("backward", "non-square input")}


def test_the_hidden_checks_hit_every_cell_of_the_model_and_every_parameter_is_modelled():
    result, unmodelled = coverage.run(SPATIAL)
    print(coverage.table(result))
    assert unmodelled == {}
    assert [(c.api, c.aspect, c.value) for c in result.gaps] == []
