from __future__ import annotations

import pytest

from grader import batch, demo

from ..conftest import make_course_copy


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory):
    """The demo's sample submissions, graded once through the real pipeline."""
    root = make_course_copy(str(tmp_path_factory.mktemp("demo") / "course"))
    students = demo.build_samples(root)
    outcomes = batch.grade_batch(root, workers=2, progress=False)
    return root, students, {o.student: o for o in outcomes}
