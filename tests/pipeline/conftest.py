from __future__ import annotations

import pytest

from grader import batch, course, demo

from ..conftest import make_course_copy


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory):
    """`make demo` (grader.demo.run_demo) on a copy of the course: (root, students, outcomes, score table)."""
    root = make_course_copy(str(tmp_path_factory.mktemp("demo") / "course"))
    table = demo.run_demo(root, workers=2, progress=False)
    return root, course.submitted_students(root), {o.student: o for o in batch.all_outcomes(root)}, table
