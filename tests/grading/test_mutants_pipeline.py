"""The kill matrix through the real nbgrader pipeline, on a subset that stands for the whole catalog.

grader.harness.mutation.run_pipeline (what ``make mutants`` runs on the whole catalog) builds
mutants and correct styles as submissions in a scratch course (its own source/, release/,
nbgrader_config.py and gradebook under tmp_path), grades them with batch.grade_batch (parallel
workers, sandboxed kernels, trusted checks, nbgrader bookkeeping) and reads the scores back from
the gradebook.  Here it grades every style and the representative mutants
(``mutation.representative_mutants``: every equivalent mutant and, per graded cell, one mutant the
visible checks catch and one only the hidden checks catch), and each verdict must equal the
in-process matrix's (tests/grading/test_mutants_fast.py covers the whole catalog in process).
"""
from __future__ import annotations

import dataclasses
import os

import pytest

from grader.engine import course
from grader.harness import mutation

from ..conftest import MUTANTS, SPATIAL

pytestmark = pytest.mark.slow

MAX_POINTS = 44.0                          # autograded points of the notebook


@pytest.fixture(scope="module")
def subset(spatial_matrix) -> list[str]:
    return mutation.representative_mutants(list(spatial_matrix.values()), MUTANTS, "loops")


@pytest.fixture(scope="module")
def report(tmp_path_factory, subset):
    before = set(os.listdir(os.path.join(course.ROOT, "submitted"))) \
        if os.path.isdir(os.path.join(course.ROOT, "submitted")) else set()
    root = str(tmp_path_factory.mktemp("mutants") / "course")
    result = mutation.run_pipeline(SPATIAL, subset, mutation.alternative_styles(SPATIAL), root=root,
                                   progress=False, log=lambda *a: None, timed=False)
    after = set(os.listdir(os.path.join(course.ROOT, "submitted"))) \
        if os.path.isdir(os.path.join(course.ROOT, "submitted")) else set()
    result.repo_submissions_added = after - before
    return result


def test_the_subset_stands_for_every_graded_cell_both_ways_it_is_caught(spatial_matrix, subset):
    mutants = {name: o for (kind, name), o in spatial_matrix.items() if kind == "mutant"}

    def caught(names, hidden_only):
        return {c for n in names for c in mutants[n].lost if (c not in mutants[n].visible_lost) == hidden_only}

    assert len(caught(mutants, False)) == 13 and caught(subset, False) == caught(mutants, False)
    assert len(caught(mutants, True)) >= 10 and caught(subset, True) == caught(mutants, True)
    assert {n for n, m in MUTANTS.items() if m.equivalent} <= set(subset)
    assert len(subset) <= 2 * 13 + 3 and sum(MUTANTS[n].style == "loops" for n in subset) <= 2


def test_the_scratch_course_is_separate(report):
    assert report.root != course.ROOT and not report.root.startswith(course.ROOT + os.sep)
    assert os.path.exists(os.path.join(report.root, "gradebook.db"))
    assert not {s for s in report.repo_submissions_added
                if s.startswith((mutation.MUTANT_PREFIX, mutation.STYLE_PREFIX))}
    assert sum(report.maxima.values()) == MAX_POINTS
    assert len(report.maxima) == 13


def test_every_pipeline_verdict_equals_the_in_process_one(report, spatial_matrix, subset):
    assert [v.mutant.name for v in report.verdicts] == subset
    assert mutation.disagreements(report, spatial_matrix) == {}


def test_hidden_only_kills_are_visible_in_the_autograded_notebooks(report, spatial_matrix):
    # the autograded notebooks' [PASS]/[FAIL] listings tell visible failures from hidden ones
    hidden_only = {v.mutant.name for v in report.verdicts if v.hidden_only}
    assert len(hidden_only) >= 5
    assert hidden_only == {v.mutant.name for v in report.verdicts
                           if spatial_matrix["mutant", v.mutant.name].lost
                           and not spatial_matrix["mutant", v.mutant.name].visible_lost}


@pytest.mark.parametrize("style", mutation.alternative_styles(SPATIAL))
def test_alternative_gets_full_marks(report, style):
    alt = next(a for a in report.alternatives if a.style == style)
    assert (alt.score, alt.max_score, alt.lost, alt.status) == (MAX_POINTS, MAX_POINTS, (), "graded"), \
        report.failures.get(mutation.student_id("alternative", style))


def test_the_tables(report, subset):
    killed, live = mutation.kill_rate(report.verdicts)
    equivalent = sum(bool(MUTANTS[n].equivalent) for n in subset)
    assert (killed, live) == (len(subset) - equivalent, len(subset) - equivalent)
    assert report.ok
    text = mutation.summary(report.verdicts, report.alternatives, report.failures, report)
    assert f"kill rate: {killed}/{live} = 100.0% of the non-equivalent mutants" in text and "survivors: none" in text
    assert "EQUIVALENT BUT LOST POINTS" not in text


def test_the_summary_reports_the_timed_style_against_its_bar(report):
    # the pipeline here grades every style in one parallel batch (timed=False); `make mutants` times the
    # assignment's slowest style alone, and its summary reports the attempts against the bar
    assert report.timed_attempts == [] and report.timed_seconds is None
    timed = dataclasses.replace(report, timed_seconds=9.5, timed_attempts=[17.0, 9.5], load=(1.0, 2.0, 3.0),
                                timed_style="loops", timed_bar=15.0)
    text = mutation.summary([], [], report=timed)
    assert "timing: the 'loops' submission was autograded in 9.5 s" in text and "bar 15 s): OK" in text
    assert "attempts: 17.0 s, 9.5 s (best counts)" in text and "load average when timed: 1.00 2.00 3.00" in text
    over = dataclasses.replace(timed, timed_seconds=16.0, timed_attempts=[16.0])
    assert "OVER THE BAR" in mutation.summary([], [], report=over)
