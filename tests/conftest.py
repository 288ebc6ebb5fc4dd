"""Shared fixtures: throw-away copies of the course, graded once per session where possible."""
from __future__ import annotations

import os

import pytest

from grader.engine.assignment import load

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The assignment most end-to-end tests grade.  This file imports only the standard library and the
# engine's assignment loader: the answer-handling tests also run where only numpy and pytest exist.
ASSIGNMENT = "09_spatial"
SPATIAL = load(REPO, ASSIGNMENT)
STYLES = SPATIAL.styles_dir


def __getattr__(name: str):
    """``MUTANTS`` (the assignment's mutants by name) and ``ATTACKS`` (its attack catalog module), on first use."""
    if name == "MUTANTS":
        return SPATIAL.module("samples.mutants").BY_NAME
    if name == "ATTACKS":
        return SPATIAL.module("samples.attacks")
    raise AttributeError(name)


def make_course_copy(dest: str, assignments: list[str] | None = None, local_gradebook: bool = True,
                     config: str = "") -> str:
    """A course directory with source/, release/ and nbgrader_config.py (symlinks resolved); see
    grader.harness.scratch.  Its gradebook lives in it unless ``local_gradebook`` is False (then
    NBGRADER_DB_URL chooses, as in the course itself); ``config`` is appended to its nbgrader_config.py."""
    from grader.harness.scratch import scratch_course
    return scratch_course(dest, assignments, repo=REPO, local_gradebook=local_gradebook, config=config)


@pytest.fixture(scope="session")
def repo() -> str:
    return REPO


@pytest.fixture(scope="session")
def grading_user():
    """An ordinary Linux user who grades without root (tests/users.py); removed with whatever it left running."""
    from .users import create_user, remove_user
    user = create_user("tt-grader")
    try:
        yield user
    finally:
        remove_user(user)


@pytest.fixture()
def course_copy(tmp_path) -> str:
    return make_course_copy(str(tmp_path / "course"))

