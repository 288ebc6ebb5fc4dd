"""Units of grader.engine.batch: complete_submissions, summary_line, Paths.state_file, and the state
files (write_state, read_state, outcome_from_state, all_outcomes)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import pytest

from grader.engine import batch
from grader.engine.batch import Outcome, Paths

# nbgrader's own add_submission triggers SQLAlchemy autoflush warnings; they are not about the code under test
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

ASSIGNMENT = "01_unit_demo"


# ---------------------------------------------------------------- complete_submissions

def grade(gb, student, cell, notebook="p1", assignment=ASSIGNMENT):
    return gb.find_grade(cell, notebook, assignment, student)


@pytest.fixture()
def course_gradebook(gradebook):
    """01_unit_demo: notebook p1 with a test cell, a graded answer, a graded markdown cell and a task;
    notebook p2 with one test cell.  Also 02_other with one notebook."""
    gb = gradebook
    gb.add_assignment(ASSIGNMENT)
    gb.add_notebook("p1", ASSIGNMENT)
    gb.add_grade_cell("test_a", "p1", ASSIGNMENT, max_score=2, cell_type="code")
    gb.add_grade_cell("answer", "p1", ASSIGNMENT, max_score=3, cell_type="code")
    gb.add_solution_cell("answer", "p1", ASSIGNMENT)
    gb.add_grade_cell("essay", "p1", ASSIGNMENT, max_score=1, cell_type="markdown")
    gb.add_task_cell("task", "p1", ASSIGNMENT, max_score=1, cell_type="markdown")
    gb.add_notebook("p2", ASSIGNMENT)
    gb.add_grade_cell("test_b", "p2", ASSIGNMENT, max_score=1, cell_type="code")
    gb.add_assignment("02_other")
    gb.add_notebook("q", "02_other")
    gb.add_grade_cell("test_q", "q", "02_other", max_score=1, cell_type="code")
    return gb


def submit(gb, student, assignment=ASSIGNMENT, scored=True):
    """A submission as nbgrader autograde leaves it: every test cell with an auto score (when ``scored``)."""
    gb.update_or_create_student(student)
    gb.add_submission(assignment, student)
    if scored and assignment == ASSIGNMENT:
        grade(gb, student, "test_a").auto_score = 2
        grade(gb, student, "test_b", "p2").auto_score = 0   # zero is a score
    gb.db.commit()


def test_a_fully_recorded_submission_is_complete_though_answers_and_tasks_have_no_auto_score(course_gradebook):
    gb = course_gradebook
    submit(gb, "full")
    assert grade(gb, "full", "answer").auto_score is None and grade(gb, "full", "essay").auto_score is None
    assert batch.complete_submissions(gb.db_url, ASSIGNMENT) == {"full"}


def test_a_test_cell_without_an_auto_score_makes_the_submission_incomplete(course_gradebook):
    gb = course_gradebook
    submit(gb, "full")
    submit(gb, "interrupted", scored=False)
    submit(gb, "half")
    grade(gb, "half", "test_b", "p2").auto_score = None
    gb.db.commit()
    assert batch.complete_submissions(gb.db_url, ASSIGNMENT) == {"full"}


@pytest.mark.parametrize("cell, notebook", [("essay", "p1"), ("task", "p1"), ("test_b", "p2")])
def test_a_missing_grade_row_makes_the_submission_incomplete(course_gradebook, cell, notebook):
    gb = course_gradebook
    submit(gb, "full")
    submit(gb, "gap")
    gb.db.delete(grade(gb, "gap", cell, notebook))
    gb.db.commit()
    assert batch.complete_submissions(gb.db_url, ASSIGNMENT) == {"full"}


def test_a_missing_submitted_notebook_makes_the_submission_incomplete(gradebook):
    """Submitted while the assignment had one notebook; the gradebook then gained a second one."""
    gb = gradebook
    gb.add_assignment(ASSIGNMENT)
    gb.add_notebook("p1", ASSIGNMENT)
    gb.add_grade_cell("test_a", "p1", ASSIGNMENT, max_score=1, cell_type="code")
    gb.add_student("early")
    gb.add_submission(ASSIGNMENT, "early")
    grade(gb, "early", "test_a").auto_score = 1
    gb.db.commit()
    assert batch.complete_submissions(gb.db_url, ASSIGNMENT) == {"early"}
    gb.add_notebook("p2", ASSIGNMENT)
    assert batch.complete_submissions(gb.db_url, ASSIGNMENT) == set()


def test_a_notebook_without_graded_cells_needs_no_grade_rows(gradebook):
    gb = gradebook
    gb.add_assignment(ASSIGNMENT)
    gb.add_notebook("p1", ASSIGNMENT)
    gb.add_student("ada")
    gb.add_submission(ASSIGNMENT, "ada")
    assert batch.complete_submissions(gb.db_url, ASSIGNMENT) == {"ada"}


def test_only_the_asked_assignment_counts(course_gradebook):
    gb = course_gradebook
    submit(gb, "full")
    submit(gb, "other_only", "02_other")
    gb.update_or_create_student("no_submission")
    assert batch.complete_submissions(gb.db_url, ASSIGNMENT) == {"full"}
    assert batch.complete_submissions(gb.db_url, "02_other") == set()   # test_q has no auto score
    grade(gb, "other_only", "test_q", "q", "02_other").auto_score = 1
    gb.db.commit()
    assert batch.complete_submissions(gb.db_url, "02_other") == {"other_only"}


def test_an_unknown_assignment_has_no_complete_submissions(course_gradebook):
    submit(course_gradebook, "full")
    assert batch.complete_submissions(course_gradebook.db_url, "99_missing") == set()


# ---------------------------------------------------------------- summary_line

def outcome(student, status="graded", reasons=(), skipped=False, **extra):
    return Outcome(student, status, list(reasons), 1.0, 2.0, 0.5, skipped=skipped, **extra)


def test_summary_line_counts_each_kind_and_groups_reasons():
    outcomes = [
        outcome("a"),
        outcome("b", "graded_with_incidents", ["timeout", "crashed"]),
        outcome("c", "graded_with_incidents", ["timeout"]),
        outcome("d", "failed", ["nbgrader autograde failed: KeyError: 'x'", "not recorded: disk full"]),
        outcome("e", "failed", ["the notebook file is empty (in x.ipynb)"]),
        outcome("f", skipped=True),
        outcome("g", "failed", ["grader error while planning: boom"], skipped=True),
        outcome("h", "graded_with_incidents", ["timeout"], skipped=True),
    ]
    assert batch.summary_line(outcomes, 12.34) == (
        "3 graded (2 with incidents), 2 failed, 3 skipped (unchanged) in 12.3 s — reasons: crashed: 1, "
        "nbgrader autograde failed: 1, the notebook file is empty (in x.ipynb): 1, timeout: 2")


def test_summary_line_without_problems_has_no_reasons_part():
    assert batch.summary_line([], 0) == "0 graded (0 with incidents), 0 failed, 0 skipped (unchanged) in 0.0 s"
    assert batch.summary_line([outcome("a"), outcome("b")], 1.05) == (
        "2 graded (0 with incidents), 0 failed, 0 skipped (unchanged) in 1.1 s")


def test_summary_line_counts_only_the_first_reason_of_a_failure_up_to_its_colon():
    outcomes = [outcome("a", "failed", ["execution failed: WorkerDied: killed"]),
                outcome("b", "failed", ["execution failed: RuntimeError: x", "second: ignored"])]
    assert batch.summary_line(outcomes, 2).endswith("— reasons: execution failed: 2")


# ---------------------------------------------------------------- Paths.state_file

@pytest.fixture()
def paths(tmp_path):
    return Paths(str(tmp_path), ASSIGNMENT)


def test_paths_are_laid_out_under_the_course_root(tmp_path, paths):
    root = str(tmp_path)
    assert (paths.base, paths.staging, paths.state, paths.cache, paths.submitted, paths.source) == (
        f"{root}/.grading", f"{root}/.grading/staging/submitted", f"{root}/.grading/state/{ASSIGNMENT}",
        f"{root}/.grading/cache", f"{root}/submitted", f"{root}/source/{ASSIGNMENT}")


@pytest.mark.parametrize("student, name", [
    ("ada", "ada.json"),
    ("o'brien-2_x.y~z", "o%27brien-2_x.y~z.json"),
    ("ana maría", "ana%20mar%C3%ADa.json"),
    ("a/b", "a%2Fb.json"),
    ("..", "...json"),
    ("a%20b", "a%2520b.json"),
    ("bad\udcffid", "bad%FFid.json"),
])
def test_state_file_names_are_the_percent_encoded_id(paths, student, name):
    assert paths.state_file(student) == os.path.join(paths.state, name)


def test_state_file_names_over_200_characters_are_hashed(paths):
    assert paths.state_file("x" * 200) == os.path.join(paths.state, "x" * 200 + ".json")
    long = "x" * 201
    assert paths.state_file(long) == os.path.join(paths.state, f"id-{hashlib.sha256(long.encode()).hexdigest()}.json")
    short_but_wide = "é" * 34   # 34 characters, 204 once percent-encoded
    assert os.path.basename(paths.state_file(short_but_wide)) == (
        f"id-{hashlib.sha256(short_but_wide.encode()).hexdigest()}.json")


def test_distinct_ids_get_distinct_state_files(paths):
    ids = ["ada", "Ada", "a b", "a%20b", "a+b", "x" * 201, "x" * 202, "bad\udcffid", "bad\udcfeid"]
    assert len({paths.state_file(s) for s in ids}) == len(ids)


# ---------------------------------------------------------------- state files

FULL = Outcome("ana maría", "graded_with_incidents", ["timeout"], 7.5, 10.0, 3.25, key="k" * 64,
               notes=["graded 'x.ipynb' as '01_unit_demo.ipynb'"], skipped=False, coordinator_seconds=0.125)


def test_write_then_read_state_round_trips_the_outcome(paths):
    batch.write_state(paths, FULL, "sub-key")
    state = batch.read_state(paths, "ana maría")
    assert state == {"version": 1, "submission_key": "sub-key", **dataclasses.asdict(FULL)}
    assert batch.outcome_from_state(state) == FULL
    assert os.listdir(paths.state) == ["ana%20mar%C3%ADa.json"]   # no temporary file left behind


def test_writing_state_again_replaces_it(paths):
    batch.write_state(paths, FULL, "first")
    batch.write_state(paths, dataclasses.replace(FULL, score=9.0), "second")
    state = batch.read_state(paths, FULL.student)
    assert (state["submission_key"], state["score"]) == ("second", 9.0)


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", json.dumps({"version": 2, "student": "ada"}),
                                     json.dumps({"student": "ada"})])
def test_unreadable_or_foreign_state_reads_as_none(paths, content):
    os.makedirs(paths.state)
    with open(paths.state_file("ada"), "w", encoding="utf-8") as fh:
        fh.write(content)
    assert batch.read_state(paths, "ada") is None


def test_missing_state_reads_as_none(paths):
    assert batch.read_state(paths, "nobody") is None


def test_outcome_from_state_ignores_the_states_own_keys_and_fills_defaults():
    state = {"version": 1, "submission_key": "s", "future_field": 1, "student": "ada", "status": "failed",
             "reasons": ["why"], "score": 0.0, "max_score": 4.0, "seconds": 0.0}
    assert batch.outcome_from_state(state) == Outcome("ada", "failed", ["why"], 0.0, 4.0, 0.0, "", [], False, 0.0)


def test_outcome_from_state_needs_the_required_fields():
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'seconds'"):
        batch.outcome_from_state({"student": "ada", "status": "graded", "reasons": [], "score": 1.0,
                                  "max_score": 1.0})


def test_all_outcomes_reads_every_valid_state_in_byte_order_of_the_ids(tmp_path, paths):
    for student in ("bea", "Zed", "ada"):
        batch.write_state(paths, dataclasses.replace(FULL, student=student), "k")
    with open(os.path.join(paths.state, "broken.json"), "w") as fh:
        fh.write("{")
    with open(os.path.join(paths.state, "notes.txt"), "w") as fh:
        fh.write("{}")
    assert [o.student for o in batch.all_outcomes(ASSIGNMENT, str(tmp_path))] == ["Zed", "ada", "bea"]
    assert batch.all_outcomes("02_nothing", str(tmp_path)) == []
