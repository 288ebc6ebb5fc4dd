"""A grading worker killed in the middle of a batch fails only the submission it was executing."""
from __future__ import annotations

import os
import signal

import pytest

from grader.engine import batch, course, jobs

from .conftest import ASSIGNMENT, AUTO_CELLS, MANUAL_CELLS, gradebook_rows, small_course

pytestmark = pytest.mark.slow


def test_a_worker_killed_as_the_oom_killer_would_fails_its_submission_alone(tmp_path, monkeypatch):
    root = small_course(str(tmp_path / "course"), {"ada": "im2col", "victim": "blank", "zed": "bug"})
    execute = jobs.execute_job

    def dies_for_the_victim(job):
        if job.student == "victim":
            os.kill(os.getpid(), signal.SIGKILL)
        return execute(job)

    monkeypatch.setattr(jobs, "execute_job", dies_for_the_victim)   # the forked workers inherit it
    lines = []
    outcomes = {o.student: o for o in batch.grade_batch(ASSIGNMENT, root, workers=2, progress=False, log=lines.append)}
    assert (outcomes["victim"].status, outcomes["victim"].reasons) == ("failed", [
        "execution failed: WorkerDied: the grading worker process died (killed by SIGKILL, as the out-of-memory "
        "killer does) while executing this notebook"])
    assert {s: (o.status, o.score) for s, o in outcomes.items() if s != "victim"} == {
        "ada": ("graded", 44.0), "zed": ("graded", 42.0)}
    rows = gradebook_rows(course.load_config(root).CourseDirectory.db_url)
    assert rows["victim"] == {c: 0.0 for c in AUTO_CELLS + MANUAL_CELLS}
    assert sum(rows["ada"][c] for c in AUTO_CELLS) == 44.0
    assert lines[-1].startswith("2 graded (0 with incidents), 1 failed, 0 skipped (unchanged) in ")
    assert all(o.coordinator_seconds > 0 for o in outcomes.values())
    assert not os.path.exists(os.path.join(root, "autograded", "victim", ASSIGNMENT))
