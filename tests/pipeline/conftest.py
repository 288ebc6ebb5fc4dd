from __future__ import annotations

import shutil

import pytest

from grader.engine import batch, course
from grader.tools import demo

from ..conftest import ASSIGNMENT, make_course_copy


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory):
    """`make demo` (grader.tools.demo.run_demo) on a copy of the course: (root, students, outcomes, score table)."""
    # oscar's endless loop spins until the cell limit: 20 s here instead of the course's 30 s
    root = make_course_copy(str(tmp_path_factory.mktemp("demo") / "course"),
                            config="c.SandboxPolicy.cell_timeout = 20\n")
    tables = demo.run_demo(root, workers=3, progress=False)
    return (root, course.submitted_students(ASSIGNMENT, root),
            {o.student: o for o in batch.all_outcomes(ASSIGNMENT, root)}, tables[ASSIGNMENT])


@pytest.fixture()
def demo_course_copy(demo_course, tmp_path):
    """A private copy of the graded demo course, for tests that regrade or re-autograde it.

    The session-wide course stays as ``make demo`` left it, so the tests that read it
    do not depend on which tests ran before them.
    """
    root = str(tmp_path / "course")
    shutil.copytree(demo_course[0], root, symlinks=True)
    return root
