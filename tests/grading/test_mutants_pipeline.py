"""The kill matrix through the real pipeline, on a representative subset.

grader.mutation.run_pipeline builds the samples in a scratch course (its own
source/, release/, nbgrader_config.py and gradebook under tmp_path), grades
them with batch.grade_batch (parallel workers, sandboxed kernels, trusted
checks, nbgrader bookkeeping) and reads the scores back from the gradebook.
The full catalog runs with ``python -m grader mutants``; this test keeps the
in-process matrix honest about the real thing, and checks the time budget of
an explicit-loop submission.
"""
from __future__ import annotations

import os

import pytest

from grader import course, mutation
from grader.samples.mutants import BY_NAME

pytestmark = pytest.mark.slow

# one or two per graded part, several base styles, one equivalent mutant
SUBSET = ["conv_bias_on_width_axis",       # einsum: five cells, visible and hidden
          "conv_pads_input_in_place",      # reference: mutates the caller's tensor (seen through the remote adapter)
          "conv_bwd_no_dilation",          # fullconv: strided backward only, hidden checks only
          "maxpool_grad_to_all_ties",      # strided: the tie check
          "avgpool_excludes_padding",      # im2col: count_include_pad=False
          "flatten_breaks_graph",          # einsum
          "cnn_graph_broken_before_fc",    # fullconv
          "cnn_pool_before_relu"]          # reference: equivalent, must keep full marks
STYLES = ["loops", "float32"]              # explicit loops (timing bar) and float32 internals (tolerances)
MAX_POINTS = 44.0                          # autograded points of the notebook


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    before = set(os.listdir(os.path.join(course.ROOT, "submitted"))) \
        if os.path.isdir(os.path.join(course.ROOT, "submitted")) else set()
    root = str(tmp_path_factory.mktemp("mutants") / "course")
    result = mutation.run_pipeline(SUBSET, STYLES, root=root, progress=False, log=lambda *a: None)
    after = set(os.listdir(os.path.join(course.ROOT, "submitted"))) \
        if os.path.isdir(os.path.join(course.ROOT, "submitted")) else set()
    result.repo_submissions_added = after - before
    return result


def test_the_scratch_course_is_separate(report):
    assert report.root != course.ROOT and not report.root.startswith(course.ROOT + os.sep)
    assert os.path.exists(os.path.join(report.root, "gradebook.db"))
    assert not {s for s in report.repo_submissions_added
                if s.startswith((mutation.MUTANT_PREFIX, mutation.STYLE_PREFIX))}
    assert sum(report.maxima.values()) == MAX_POINTS
    assert len(report.maxima) == 13


@pytest.mark.parametrize("name", SUBSET)
def test_mutant_loses_points_exactly_where_declared(report, name):
    verdict = next(v for v in report.verdicts if v.mutant.name == name)
    assert verdict.status == "graded", verdict.status
    failures = report.failures.get(mutation.student_id("mutant", name), {})
    if BY_NAME[name].equivalent:
        assert verdict.lost == (), failures
    else:
        assert verdict.verdict == "killed", (verdict.lost, failures)
        assert set(verdict.lost) == set(BY_NAME[name].fails), failures


def test_hidden_only_kills_are_visible_in_the_autograded_notebooks(report):
    by_name = {v.mutant.name: v for v in report.verdicts}
    assert by_name["conv_bwd_no_dilation"].hidden_only
    assert by_name["maxpool_grad_to_all_ties"].hidden_only
    assert not by_name["flatten_breaks_graph"].hidden_only      # the visible Flatten check sees it too


@pytest.mark.parametrize("style", STYLES)
def test_alternative_gets_full_marks(report, style):
    alt = next(a for a in report.alternatives if a.style == style)
    assert (alt.score, alt.max_score, alt.lost, alt.status) == (MAX_POINTS, MAX_POINTS, (), "graded"), \
        report.failures.get(mutation.student_id("alternative", style))


def test_explicit_loops_submission_grades_within_budget(report):
    assert report.loops_seconds is not None
    assert 0 < report.loops_seconds <= mutation.LOOPS_SECONDS_BAR
    assert report.ok
