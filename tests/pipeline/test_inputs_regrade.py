"""Per-submission hidden inputs through the real pipeline (grader.engine.inputs, batch.grade_batch, nbgrader).

One buggy 04_losses notebook (it ignores the upstream gradient, which only the hidden checks catch,
and their failure message prints values drawn from the hidden inputs) is handed in by two students,
graded, graded again from scratch (no cache, no state), and handed in again by one of them with a
new timestamp.  Re-grading reproduces every record and score exactly; another student or another
hand-in draws other inputs for the same verdicts.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import stat

import nbformat
import pytest

from grader.engine import batch, course
from grader.engine.assignment import load as load_assignment
from grader.engine.records import GradingRecord
from grader.harness import mutation
from grader.harness import samples as sample_cells
from grader.harness.scratch import scratch_course

from ..conftest import REPO

pytestmark = pytest.mark.slow

ASSIGNMENT = "04_losses"
MUTANT = "mse_grad_ignores_upstream"
RESUBMITTED = "2026-11-20 12:30:00.000000 UTC"


def record_of(root: str, student: str) -> GradingRecord:
    path = os.path.join(root, "autograded", student, ASSIGNMENT, f"{ASSIGNMENT}.grading.json")
    with open(path, encoding="utf-8") as fh:
        return GradingRecord.from_json(fh.read())


def comparable(record: GradingRecord) -> GradingRecord:
    return dataclasses.replace(record, seconds=0.0)


def cache_entries(root: str) -> int:
    return sum(len(files) for _, _, files in os.walk(batch.Paths(root, ASSIGNMENT).cache))


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    """(root, [records and scores after each round]): graded, re-graded from scratch, ada handed in again."""
    root = scratch_course(str(tmp_path_factory.mktemp("inputs") / "course"), [ASSIGNMENT], repo=REPO, release=True)
    losses = load_assignment(root, ASSIGNMENT)
    release_dir = os.path.join(root, "release", ASSIGNMENT)
    release_nb = nbformat.read(os.path.join(release_dir, f"{ASSIGNMENT}.ipynb"), as_version=4)
    cells = mutation.catalog(losses)[MUTANT].cells(mutation.source_notebook(losses))
    nb = sample_cells.build_notebook(release_nb, cells)
    for student in ("ada", "bob"):
        sample_cells.write_submission(root, ASSIGNMENT, student, nb, release_dir)
    seen = []

    def grade(**kwargs):
        outcomes = {o.student: o for o in batch.grade_batch(ASSIGNMENT, root, workers=2, progress=False,
                                                            log=lambda *a: None, **kwargs)}
        scores, maxima = course.cell_scores(ASSIGNMENT, root), course.autograded_maxima(ASSIGNMENT, root)
        seen.append({"outcomes": outcomes, "scores": scores, "cache": cache_entries(root),
                     "points": {s: course.autograded_points(scores[s], maxima) for s in ("ada", "bob")},
                     "records": {s: record_of(root, s) for s in ("ada", "bob")}})

    grade()
    shutil.rmtree(os.path.join(root, ".grading"))   # no cache, no state: executed again
    grade(force=True)
    sample_cells.write_submission(root, ASSIGNMENT, "ada", nb, release_dir, timestamp=RESUBMITTED)
    grade(students=["ada"])
    return root, seen


def test_the_scratch_course_grades_with_a_secret_of_its_own(rounds):
    root, _ = rounds
    key = os.path.join(root, ".secrets", "inputs.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and os.path.getsize(key) == 32


def test_a_regrade_reproduces_every_record_and_score_exactly(rounds):
    _, (first, again, _) = rounds
    for student in ("ada", "bob"):
        assert comparable(again["records"][student]) == comparable(first["records"][student])
        assert again["outcomes"][student].key == first["outcomes"][student].key == first["records"][student].key
    assert again["scores"] == first["scores"]
    total, lost = first["points"]["ada"]
    assert lost == ("test_mse_backward",) and 0 < total < 40


def test_recording_reuses_the_execution_the_batch_planned(rounds):
    """The salt nbgrader's autograde derives equals the batch's: one cached execution per submission."""
    _, (first, again, third) = rounds
    assert first["cache"] == again["cache"] == 2
    assert third["cache"] == 3


def test_each_student_and_each_hand_in_draws_its_own_inputs_for_the_same_verdicts(rounds):
    _, (first, again, third) = rounds
    ada, bob, ada_again = first["records"]["ada"], first["records"]["bob"], third["records"]["ada"]
    salts = {ada.inputs_salt, bob.inputs_salt, ada_again.inputs_salt}
    assert len(salts) == 3 and all(len(bytes.fromhex(s)) == 32 for s in salts)
    assert third["records"]["bob"] == again["records"]["bob"]      # bob handed nothing in: untouched

    def failures(record):
        return {(c.cell, c.check): c.message for c in record.checks if not c.passed}

    assert failures(ada).keys() == failures(bob).keys() == failures(ada_again).keys()
    assert {cell for cell, _ in failures(ada)} == {"test_mse_backward"}
    upstream = ("test_mse_backward", "test_mse_backward.mse_backward_upstream")
    messages = {failures(r)[upstream] for r in (ada, bob, ada_again)}
    assert len(messages) == 3, messages   # the values in the message come from each one's own inputs
    assert third["points"]["ada"] == first["points"]["ada"] == first["points"]["bob"]
