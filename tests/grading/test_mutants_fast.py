"""The in-process kill matrix: the main guard that the hidden checks stay strong.

Every mutant of assignments/09_spatial/samples/mutants.py and every correct style is run
without notebooks or kernels: the notebook's setup cell and the sample's
solution cells are executed into a namespace, and at each graded cell the
visible and hidden checks it names run through a LocalStudent
(grader.harness.mutation.evaluate_in_process).  A mutant that stops being caught, a
mutant that starts failing a cell it does not declare, or a correct style
that loses a point fails the build.
"""
from __future__ import annotations

import pytest

from grader.harness import mutation
from grader.harness import samples as sample_cells
from grader.harness.samples import Mutant

from ..conftest import MUTANTS, SPATIAL, STYLES

CATALOG = list(MUTANTS.values())

GRADED = ["test_conv_output_size", "test_receptive_field", "test_conv2d_init", "test_conv2d_forward",
          "test_conv2d_backward", "test_maxpool2d_forward", "test_maxpool2d_backward", "test_avgpool2d_forward",
          "test_avgpool2d_backward", "test_flatten", "test_simplecnn_structure", "test_simplecnn_forward",
          "test_simplecnn_training"]
NEW_STYLES = {"einsum", "strided", "float32", "offsets", "fullconv"}
EQUIVALENT = {"cnn_pool_before_relu", "maxpool_fancy_index_per_window", "maxpool_last_tie_wins"}


@pytest.fixture(scope="module")
def matrix(spatial_matrix) -> dict[tuple[str, str], mutation.InProcessOutcome]:
    return spatial_matrix


# ------------------------------------------------------------------ the catalog itself
def test_the_notebook_grades_exactly_these_cells():
    plan = mutation.notebook_plan(mutation.source_notebook(SPATIAL))
    assert [gid for kind, gid, _ in plan if kind == "grade"] == GRADED
    # every graded cell runs its visible checks, then its hidden ones
    assert all(calls == [(gid, False), (gid, True)] for kind, gid, calls in plan if kind == "grade")


def test_catalog_size_styles_and_coverage():
    assert len(CATALOG) == 87
    assert len(MUTANTS) == len(CATALOG)
    assert {m.name for m in CATALOG if m.equivalent} == EQUIVALENT
    live = [m for m in CATALOG if not m.equivalent]
    assert len(live) == 84
    for m in CATALOG:
        assert set(m.fails) <= set(GRADED), m.name
        assert m.about, m.name
        assert bool(m.fails) != bool(m.equivalent), f"{m.name}: declare cells, or an equivalence reason"
    # every graded cell is the declared target of several mutants
    declared = {cell: sum(cell in m.fails for m in live) for cell in GRADED}
    assert min(declared.values()) >= 3, declared
    # mutants start from many correct styles, old and new
    used = {m.style for m in CATALOG}
    assert {"loops", "im2col", "reference"} | NEW_STYLES <= used
    assert set(mutation.alternative_styles(SPATIAL)) == {"reference", "loops", "im2col"} | NEW_STYLES


def test_the_demo_mutants_are_still_in_the_catalog():
    assert set(SPATIAL.module("samples.demo").BUGGY.values()) <= set(MUTANTS)


def test_a_find_that_does_not_occur_exactly_once_is_an_error():
    nb = mutation.source_notebook(SPATIAL)
    missing = Mutant("x", "loops", "flatten", "no such text", "", ("test_flatten",), styles_dir=STYLES)
    with pytest.raises(ValueError, match="occurs 0 times"):
        missing.cells(nb)
    twice = Mutant("x", "loops", "conv2d_op", "kh", "", ("test_conv2d_forward",), styles_dir=STYLES)
    with pytest.raises(ValueError, match="occurs [2-9][0-9]* times"):
        twice.cells(nb)


def test_verdicts():
    m = Mutant("m", "loops", "flatten", "a", "b", ("test_flatten", "test_simplecnn_training"), styles_dir=STYLES)
    assert mutation.Verdict(m, ("test_flatten",)).verdict == "killed"
    assert mutation.Verdict(m, ()).verdict == "SURVIVED"
    stray = mutation.Verdict(m, ("test_flatten", "test_conv2d_init"))
    assert (stray.killed, stray.ok, stray.undeclared) == (True, False, ("test_conv2d_init",))
    assert stray.verdict == "LOST POINTS ON UNDECLARED CELLS (killed)"
    eq = Mutant("e", "loops", "flatten", "a", "b", (), "x", equivalent="because", styles_dir=STYLES)
    assert (mutation.Verdict(eq, ()).ok, mutation.Verdict(eq, ("test_flatten",)).ok) == (True, False)
    assert mutation.kill_rate([mutation.Verdict(m, ("test_flatten",)), mutation.Verdict(m, ()),
                               mutation.Verdict(eq, ())]) == (1, 2)
    assert mutation.Verdict(m, ("test_flatten",), visible_lost=()).hidden_only


# ------------------------------------------------------------------ the kill matrix
@pytest.mark.parametrize("name", [m.name for m in CATALOG])
def test_mutant_loses_points_exactly_where_declared(matrix, name):
    mutant, outcome = MUTANTS[name], matrix["mutant", name]
    assert outcome.errors == (), f"{name}: a solution cell raised while being defined: {outcome.errors}"
    lost = set(outcome.lost)
    if mutant.equivalent:
        assert lost == set(), f"equivalent mutant {name} lost points on {sorted(lost)}: {outcome.failures}"
        return
    assert lost & set(mutant.fails), f"{name} SURVIVED: no declared cell ({', '.join(mutant.fails)}) lost points"
    undeclared = lost - set(mutant.fails)
    assert not undeclared, {c: outcome.failures.get(c) for c in undeclared}
    assert lost == set(mutant.fails), f"{name}: declared cells that no longer lose points: " \
                                      f"{sorted(set(mutant.fails) - lost)}"


@pytest.mark.parametrize("style", mutation.alternative_styles(SPATIAL))
def test_alternative_gets_full_marks(matrix, style):
    outcome = matrix["alternative", style]
    assert outcome.errors == ()
    assert outcome.lost == (), outcome.failures


def test_kill_rate_is_total(matrix):
    verdicts = [mutation.Verdict(m, matrix["mutant", m.name].lost, "", matrix["mutant", m.name].visible_lost)
                for m in CATALOG]
    assert mutation.kill_rate(verdicts) == (84, 84)
    assert all(v.ok for v in verdicts)


def test_these_mutants_are_caught_only_by_the_hidden_checks(matrix):
    """The visible checks pass for these bugs; without the hidden checks they would get full marks."""
    hidden_only = {m.name for m in CATALOG if not m.equivalent
                   and matrix["mutant", m.name].lost and not matrix["mutant", m.name].visible_lost}
    assert {"outsize_ceil", "conv_stride_height_for_both", "conv_height_width_swapped", "conv_only_channel_0",
            "conv_bias_despite_bias_false", "conv_init_lecun", "conv_dw_transposed", "conv_bwd_first_item_only",
            "maxpool_zero_padding", "maxpool_grad_to_all_ties", "maxpool_argmax_wrong_width",
            "avgpool_divides_by_4", "avgpool_excludes_padding", "cnn_missing_relu"} <= hidden_only
    assert len(hidden_only) >= 35, sorted(hidden_only)   # 41 of 78 when written (before conv_returns_zeros)


def test_a_correct_style_and_its_mutant_differ_only_in_the_mutated_cell():
    nb = mutation.source_notebook(SPATIAL)
    for m in CATALOG:
        base, mutated = sample_cells.read_style(STYLES, m.style, nb), m.cells(nb)
        assert [c for c in base if base[c] != mutated[c]] == [m.cell], m.name


def test_disagreements_name_each_mutant_whose_pipeline_verdict_differs():
    m = Mutant("m", "loops", "flatten", "a", "b", ("test_flatten",), styles_dir=STYLES)
    n = Mutant("n", "loops", "flatten", "a", "b", ("test_flatten",), styles_dir=STYLES)
    in_process = {("mutant", "m"): mutation.InProcessOutcome("mutant", "m", ("test_flatten",), (), (), {}, 0.1),
                  ("mutant", "n"): mutation.InProcessOutcome("mutant", "n", ("test_flatten",), ("test_flatten",),
                                                             (), {}, 0.1)}
    report = mutation.PipelineReport("/x", [mutation.Verdict(m, ("test_flatten",), "graded", ()),
                                            mutation.Verdict(n, ("test_flatten",), "graded", ())],
                                     [], None, 1.0, {}, {"mut_n": {"test_flatten": "why"}})
    # n's visible check failed in process but not in the notebook: a disagreement, with its messages
    assert mutation.disagreements(report, in_process) == {
        "n": (("graded", {"test_flatten"}, set()), ("graded", {"test_flatten"}, {"test_flatten"}),
              {"test_flatten": "why"})}
    failed = mutation.PipelineReport("/x", [mutation.Verdict(m, ("test_flatten",), "failed", ())], [], None, 1.0, {})
    assert list(mutation.disagreements(failed, in_process)) == ["m"]
