"""`python -m grader grade` killed with SIGKILL mid-batch, then run again: it finishes only what was missing."""
from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from nbgrader.api import Gradebook

from grader.engine import batch, course

from ..conftest import REPO
from .conftest import ASSIGNMENT, AUTO_CELLS, EXPECTED, MANUAL_CELLS, assert_scores, gradebook_rows, small_course

pytestmark = pytest.mark.slow
# six students, each notebook executed once (each submission draws hidden inputs of its own)
STUDENTS = {"ada": "im2col", "bo": "bug", "cai": "im2col", "dee": "bug", "eve": "im2col", "fay": "bug"}
SUMMARY = re.compile(r"^(\d+) graded \((\d+) with incidents\), (\d+) failed, (\d+) skipped \(unchanged\) in "
                     r"([\d.]+) s$", re.M)


def _states(root):
    return {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(batch.Paths(root, ASSIGNMENT).state, "*.json"))}


def _autograded(root):
    """Students whose autograded notebook has been written (by nbgrader, after it created their submission)."""
    return {p.split(os.sep)[-3] for p in glob.glob(os.path.join(root, "autograded", "*", ASSIGNMENT,
                                                                f"{ASSIGNMENT}.ipynb"))}


def _cached(root):
    """Executions in the content-addressed cache (written atomically: a file is a finished execution)."""
    return glob.glob(os.path.join(batch.Paths(root, ASSIGNMENT).cache, "*", "*.json"))


def _mtimes(paths):
    return {p: os.stat(p).st_mtime_ns for p in paths}


def _cli(root):
    """`python -m grader grade --workers 1` in the course directory (its own copy of the package: the CLI
    grades the course it is installed in)."""
    cmd = [sys.executable, "-m", "grader", "grade", "--workers", "1"]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
               PYTHONUNBUFFERED="1")
    env.pop("NBGRADER_DB_URL", None)
    return cmd, dict(cwd=root, env=env)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """A batch killed inside nbgrader autograde, then resumed: (root, facts about the kill and the resume)."""
    root = small_course(str(tmp_path_factory.mktemp("resume") / "course"), STUDENTS)
    for package in ("grader", "gradekit", "assignments", "tinytorch_ref"):
        shutil.copytree(os.path.join(REPO, package), os.path.join(root, package),
                        ignore=shutil.ignore_patterns("__pycache__"))
    facts = {}
    cmd, opts = _cli(root)
    with open(os.path.join(root, "killed.log"), "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **opts)
        deadline = time.monotonic() + 300
        try:
            # kill inside nbgrader autograde (recording overlaps execution): a student's notebook is
            # written, their state is not (yet), another student is finished
            while time.monotonic() < deadline and proc.poll() is None:
                states, started = _states(root), _autograded(root)
                if states and started - states:
                    break
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    with open(os.path.join(root, "killed.log")) as fh:
        facts["killed_log"] = fh.read()
    assert proc.returncode == -signal.SIGKILL, "the batch ended before it could be killed:\n" + facts["killed_log"]
    facts["states"], facts["interrupted"] = _states(root), _autograded(root) - _states(root)
    facts["state_mtimes"] = _mtimes(batch.Paths(root, ASSIGNMENT).state_file(s) for s in facts["states"])
    facts["cached_mtimes"] = _mtimes(_cached(root))
    facts["rows_after_kill"] = gradebook_rows(course.load_config(root).CourseDirectory.db_url)
    for _ in range(100):  # the whole process group (pool worker included) is gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("processes of the killed batch are still running")

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **opts)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    facts["resume_stdout"] = result.stdout
    return root, facts


def test_the_kill_landed_inside_a_recording_and_left_no_partial_rows(resumed):
    _, facts = resumed
    assert 1 <= len(facts["states"]) < len(STUDENTS)
    assert len(facts["interrupted"]) == 1
    # nbgrader creates a submission with all its grade rows in one transaction (before it writes the
    # notebook): the gradebook has the interrupted student, and no submission lacks a row.
    assert facts["interrupted"] | facts["states"] <= set(facts["rows_after_kill"])
    for student, row in facts["rows_after_kill"].items():
        assert sorted(row) == sorted(AUTO_CELLS + MANUAL_CELLS), student
    assert "executing 6 notebooks on 1 local workers" in facts["killed_log"]
    assert len(facts["states"] | facts["interrupted"]) <= len(facts["cached_mtimes"])


def test_the_second_run_grades_only_what_was_missing(resumed):
    root, facts = resumed
    done = len(facts["states"])
    summaries = SUMMARY.findall(facts["resume_stdout"])
    assert [s[:4] for s in summaries] == [(str(len(STUDENTS) - done), "0", "0", str(done))]
    # only the executions that had not finished before the kill run again; the finished ones are not rewritten
    missing = len(STUDENTS) - len(facts["cached_mtimes"])
    if missing:
        assert f"executing {missing} notebooks on 1 local workers" in facts["resume_stdout"]
    else:
        assert "executing" not in facts["resume_stdout"]
    assert _mtimes(facts["cached_mtimes"]) == facts["cached_mtimes"]
    assert len(_cached(root)) == len(STUDENTS)
    # the states written before the kill were not rewritten
    assert _mtimes(facts["state_mtimes"]) == facts["state_mtimes"]
    assert _states(root) == set(STUDENTS)
    assert {o.student: (o.status, o.score) for o in batch.all_outcomes(ASSIGNMENT, root)} == {
        s: ("graded", pytest.approx(EXPECTED[k])) for s, k in STUDENTS.items()}
    assert_scores(course.load_config(root).CourseDirectory.db_url, STUDENTS)
    for student in STUDENTS:
        assert os.path.isfile(os.path.join(root, "autograded", student, ASSIGNMENT, f"{ASSIGNMENT}.ipynb"))


def test_rerunning_the_finished_batch_does_no_work(resumed):
    root, _ = resumed
    files = [p for p in glob.glob(os.path.join(root, "autograded", "**"), recursive=True) if os.path.isfile(p)]
    watched = files + [os.path.join(root, "gradebook.db")]
    before = _mtimes(watched)
    cmd, opts = _cli(root)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **opts)
    assert result.returncode == 0, result.stderr[-3000:]
    (summary,) = SUMMARY.findall(result.stdout)
    assert summary[:4] == ("0", "0", "0", str(len(STUDENTS)))
    assert float(summary[4]) < 2.0
    assert "executing" not in result.stdout
    assert len(files) > len(STUDENTS) and _mtimes(watched) == before  # no autograde ran, the gradebook unwritten


def test_a_submission_missing_from_the_gradebook_or_autograded_is_recorded_again(resumed):
    """The state file alone does not make a submission done: the gradebook and autograded/ must still have it."""
    root, _ = resumed
    db_url = course.load_config(root).CourseDirectory.db_url
    with Gradebook(db_url) as gb:
        gb.remove_submission(ASSIGNMENT, "ada")                       # e.g. a gradebook restored from a backup
        submission = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "bo")
        next(g for g in submission.grades if g.name == "test_flatten").auto_score = None  # autograde cut short
        gb.db.commit()
    shutil.rmtree(os.path.join(root, "autograded", "cai"))           # autograded/ cleaned by hand
    lines = []
    outcomes = batch.grade_batch(ASSIGNMENT, root, progress=False, log=lines.append)
    assert lines[0] == ("3 submissions graded before are not (fully) in the gradebook or autograded/ any more; "
                        "recording them again: ada, bo, cai")
    assert not any(line.startswith("executing") for line in lines)
    assert {o.student for o in outcomes if not o.skipped} == {"ada", "bo", "cai"}
    assert_scores(db_url, STUDENTS)
    assert os.path.isfile(os.path.join(root, "autograded", "cai", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"))


class _LostWorkers:
    """An executor whose every job fails (a worker that vanished)."""

    peak_worker_kib = 0

    def __init__(self, workers, scheduler=None, deadline=None, assignment=None):
        self.jobs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, job):
        self.jobs.append(job)

    def finished(self):
        for job in self.jobs:
            yield job, RuntimeError("worker lost")


def test_a_failed_regrade_leaves_no_stale_autograded_notebook(resumed, monkeypatch):
    """A resubmission that cannot be executed gets zeros, and feedback cannot come from the old notebook."""
    root, _ = resumed
    release_nb = os.path.join(root, "release", ASSIGNMENT, f"{ASSIGNMENT}.ipynb")
    shutil.copy(release_nb, os.path.join(root, "submitted", "fay", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"))
    assert os.path.isdir(os.path.join(root, "autograded", "fay", ASSIGNMENT))
    monkeypatch.setattr(batch, "Executor", _LostWorkers)
    outcomes = {o.student: o for o in batch.grade_batch(ASSIGNMENT, root, progress=False, log=lambda line: None)}
    assert (outcomes["fay"].status, outcomes["fay"].score, outcomes["fay"].reasons) == (
        "failed", 0.0, ["execution failed: RuntimeError: worker lost"])
    assert not os.path.exists(os.path.join(root, "autograded", "fay", ASSIGNMENT))
    row = gradebook_rows(course.load_config(root).CourseDirectory.db_url)["fay"]
    assert row == {c: 0.0 for c in AUTO_CELLS + MANUAL_CELLS}
    assert [s for s, o in outcomes.items() if not o.skipped] == ["fay"]
