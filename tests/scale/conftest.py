"""Small, cheap courses for the scale tests (Dask, PostgreSQL, resume)."""
from __future__ import annotations

import os
import socket

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.harness import samples as cells

from ..conftest import ASSIGNMENT, MUTANTS, STYLES, make_course_copy

AUTO_CELLS = ["test_conv_output_size", "test_receptive_field", "test_conv2d_init", "test_conv2d_forward",
              "test_conv2d_backward", "test_maxpool2d_forward", "test_maxpool2d_backward",
              "test_avgpool2d_forward", "test_avgpool2d_backward", "test_flatten", "test_simplecnn_structure",
              "test_simplecnn_forward", "test_simplecnn_training"]
MANUAL_CELLS = ["answer_sharing", "answer_im2col"]
# The cheapest notebooks to execute: a correct im2col solution, the blank release, and an im2col
# solution whose conv_output_size returns a float: it loses test_conv_output_size, 2 points (it passes only
# the visible worked examples, whose spans the stride divides, and a visible check earns nothing alone).
BUG = "outsize_true_division"
EXPECTED = {"im2col": 44.0, "blank": 0.0, "bug": 42.0}
LOST = {"im2col": {}, "blank": {c: 0.0 for c in AUTO_CELLS}, "bug": {"test_conv_output_size": 0.0}}


def small_course(dest: str, students: dict[str, str]) -> str:
    """A copy of the course's 09_spatial with one submission per student; kinds are the keys of EXPECTED.
    Its gradebook is where NBGRADER_DB_URL says (the course's default: gradebook.db in it)."""
    root = make_course_copy(dest, [ASSIGNMENT], local_gradebook=False)
    with open(os.path.join(root, "nbgrader_config.py"), "a", encoding="utf-8") as fh:
        fh.write("\nc.SandboxPolicy.cell_timeout = 10\nc.SandboxPolicy.submission_timeout = 90\n")
    release_dir = os.path.join(root, "release", ASSIGNMENT)
    release_nb = nbformat.read(os.path.join(release_dir, f"{ASSIGNMENT}.ipynb"), as_version=4)
    source_nb = nbformat.read(os.path.join(root, "source", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), as_version=4)
    notebooks = {"blank": release_nb,
                 "im2col": cells.build_notebook(release_nb, cells.read_style(STYLES, "im2col", source_nb)),
                 "bug": cells.build_notebook(release_nb, MUTANTS[BUG].cells(source_nb))}
    for student, kind in students.items():
        cells.write_submission(root, ASSIGNMENT, student, notebooks[kind], release_dir)
    return root


def gradebook_rows(db_url: str) -> dict[str, dict[str, float | None]]:
    """student -> {grade cell -> auto score}, read through nbgrader's Gradebook on ``db_url``."""
    table: dict[str, dict[str, float | None]] = {}
    with Gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            assert submission.student.id not in table, f"two submissions for {submission.student.id}"
            row = table[submission.student.id] = {}
            for nb in submission.notebooks:
                for grade in nb.grades:
                    assert grade.name not in row, f"two grade rows for {submission.student.id}/{grade.name}"
                    row[grade.name] = grade.auto_score
    return table


def assert_scores(db_url: str, students: dict[str, str]) -> None:
    """Every student has one complete gradebook submission with exactly the expected cell scores."""
    rows = gradebook_rows(db_url)
    assert set(rows) == set(students)
    with Gradebook(db_url) as gb:
        maxima = {c.name: c.max_score for c in gb.find_notebook(ASSIGNMENT, ASSIGNMENT).grade_cells}
        totals = {s: gb.find_submission(ASSIGNMENT, s).score for s in students}
    for student, kind in students.items():
        assert sorted(rows[student]) == sorted(AUTO_CELLS + MANUAL_CELLS), student
        expected = {c: LOST[kind].get(c, maxima[c]) for c in AUTO_CELLS}
        assert {c: rows[student][c] for c in AUTO_CELLS} == expected, student
        assert totals[student] == pytest.approx(EXPECTED[kind]), student


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
