"""The kill matrix through the real nbgrader pipeline: the whole catalog, every alternative.

grader.mutation.run_pipeline (what ``make mutants`` runs) builds every mutant
and every correct style as a submission in a scratch course (its own source/,
release/, nbgrader_config.py and gradebook under tmp_path), grades them with
batch.grade_batch (parallel workers, sandboxed kernels, trusted checks, nbgrader
bookkeeping) and reads the scores back from the gradebook.  A mutant that stops
being caught, or an alternative that loses a point, fails the build.
tests/grading/test_mutants_fast.py runs the same checks in process (seconds).
"""
from __future__ import annotations

import os

import pytest

from grader import course, mutation
from grader.samples.mutants import BY_NAME, CATALOG

pytestmark = pytest.mark.slow

MUTANTS = [m.name for m in CATALOG]
STYLES = mutation.alternative_styles()
MAX_POINTS = 44.0                          # autograded points of the notebook


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    before = set(os.listdir(os.path.join(course.ROOT, "submitted"))) \
        if os.path.isdir(os.path.join(course.ROOT, "submitted")) else set()
    root = str(tmp_path_factory.mktemp("mutants") / "course")
    result = mutation.run_pipeline(MUTANTS, STYLES, root=root, progress=False, log=lambda *a: None)
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


@pytest.mark.parametrize("name", MUTANTS)
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


def test_the_kill_rate_and_the_tables(report):
    killed, live = mutation.kill_rate(report.verdicts)
    assert (killed, live) == (84, 84) and len(report.verdicts) == 87
    assert report.ok
    text = mutation.summary(report.verdicts, report.alternatives, report.loops_seconds, report.failures,
                            report.loops_attempts, report.load)
    assert "kill rate: 84/84 = 100.0% of the non-equivalent mutants" in text and "survivors: none" in text
    assert text.count(" killed") == 84 and "EQUIVALENT BUT LOST POINTS" not in text
    assert [v.verdict for v in report.verdicts].count("equivalent") == 87 - 84


def test_the_explicit_loops_submission_was_timed_alone(report):
    # the time itself is a benchmark figure that `make mutants` prints against its bar, not a test assertion
    assert report.loops_attempts and report.loops_seconds == min(report.loops_attempts) > 0
    # re-timed only while over the bar, at most TIMING_ATTEMPTS times
    assert len(report.loops_attempts) <= mutation.TIMING_ATTEMPTS
    assert all(a > mutation.LOOPS_SECONDS_BAR for a in report.loops_attempts[:-1])
    text = mutation.summary([], [], report.loops_seconds, attempts=report.loops_attempts, load=report.load)
    assert f"was autograded in {report.loops_seconds:.1f} s" in text
