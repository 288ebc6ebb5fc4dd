"""mutation.representative_mutants on a tiny made-up matrix: which mutants stand for the catalog end to end."""
from __future__ import annotations

from grader.harness.mutation import InProcessOutcome, representative_mutants
from grader.harness.samples import Mutant


def _mutant(name, style="im2col", equivalent=""):
    return Mutant(name, style, "cell", "a", "b", () if equivalent else ("t1",), equivalent=equivalent)


def _outcome(name, lost=(), visible_lost=()):
    return InProcessOutcome("mutant", name, tuple(lost), tuple(visible_lost), (), {}, 0.0)


def test_every_cell_both_ways_with_as_few_mutants_as_cover_them():
    mutants = {m.name: m for m in [
        _mutant("a_visible_t1"), _mutant("b_hidden_t1"), _mutant("c_both_cells"), _mutant("d_hidden_t2", "loops"),
        _mutant("e_hidden_t2"), _mutant("f_same", equivalent="no observable change")]}
    outcomes = [
        _outcome("a_visible_t1", ["t1"], ["t1"]),        # (t1, visible)
        _outcome("b_hidden_t1", ["t1"]),                 # (t1, hidden only)
        _outcome("c_both_cells", ["t1", "t2"], ["t1"]),  # (t1, visible) and (t2, hidden only)
        _outcome("d_hidden_t2", ["t2"]),                 # (t2, hidden only), of the slow style
        _outcome("e_hidden_t2", ["t2"]),
        _outcome("f_same"),
    ]
    # c covers two ways at once; b is the only other way (t1 hidden only); the equivalent one always
    assert representative_mutants(outcomes, mutants, "loops") == ["b_hidden_t1", "c_both_cells", "f_same"]
    # without c, t2 hidden-only comes from e (d is of the slow style) and t1 visible from a
    del mutants["c_both_cells"]
    assert representative_mutants(outcomes[:2] + outcomes[3:], mutants, "loops") == [
        "a_visible_t1", "b_hidden_t1", "e_hidden_t2", "f_same"]
    assert representative_mutants(outcomes[:2] + outcomes[3:], mutants, None) == [
        "a_visible_t1", "b_hidden_t1", "d_hidden_t2", "f_same"]
