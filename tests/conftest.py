"""Shared fixtures: throw-away copies of the course, graded once per session where possible."""
from __future__ import annotations

import os
import shutil

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_course_copy(dest: str) -> str:
    """A course directory with source/, release/ and nbgrader_config.py (symlinks resolved)."""
    os.makedirs(dest, exist_ok=True)
    for name in ("source", "release"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(dest, name), symlinks=False,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    shutil.copy(os.path.join(REPO, "nbgrader_config.py"), dest)
    return dest


@pytest.fixture(scope="session")
def repo() -> str:
    return REPO


@pytest.fixture()
def course_copy(tmp_path) -> str:
    return make_course_copy(str(tmp_path / "course"))
