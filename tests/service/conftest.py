"""Scratch courses with an exchange, students submitting in process, and the grading service."""
from __future__ import annotations

import os
import shutil

import nbformat
import pytest

from grader.engine.assignment import load
from grader.harness import students
from grader.harness.samples import build_notebook

ASSIGNMENT = "09_spatial"


def notebook(root: str, style: str = "im2col", mutant: str | None = None):
    """The released notebook filled with a correct style, or with a catalogued mutant of one."""
    assignment = load(root, ASSIGNMENT)
    if mutant is None:
        return students.style_notebook(root, ASSIGNMENT, assignment.styles_dir, style)
    catalog = {m.name: m for m in assignment.module("samples.mutants").CATALOG}
    release_nb = nbformat.read(f"{root}/release/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", as_version=4)
    return build_notebook(release_nb, catalog[mutant].cells())


@pytest.fixture(scope="session")
def released_course(tmp_path_factory) -> str:
    """A scratch course whose 09_spatial is released to its own exchange, made once per session."""
    return students.exchange_course(str(tmp_path_factory.mktemp("service") / "course"), [ASSIGNMENT])


@pytest.fixture()
def make_course(released_course, tmp_path):
    """make_course(config="") -> the root of a private copy of ``released_course``, with ``config`` appended to
    its nbgrader_config.py (every path in the copy is its own: the config derives them from its location)."""
    count = iter(range(100))

    def make(config: str = "") -> str:
        root = str(tmp_path / f"course{next(count)}")
        shutil.copytree(released_course, root, symlinks=True)
        with open(os.path.join(root, "nbgrader_config.py"), "a", encoding="utf-8") as fh:
            fh.write("\n" + config)
        return root
    return make
