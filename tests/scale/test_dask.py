"""Grading on a real Dask cluster: a scheduler and two workers on loopback, started by the test."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from distributed import Client

from grader.engine import batch, course

from ..conftest import ASSIGNMENT, REPO
from .conftest import EXPECTED, assert_scores, small_course

pytestmark = pytest.mark.slow
DASK = os.path.join(os.path.dirname(sys.executable), "dask")
STUDENTS = {"ann_im2col": "im2col", "ben_blank": "blank", "cy_bug": "bug"}


def _stop(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture()
def cluster(tmp_path):
    """(scheduler address, pids of the two `dask worker` processes)."""
    scheduler_file = tmp_path / "scheduler.json"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    procs = []

    def start(name, *args):
        log = open(tmp_path / f"{name}.log", "w")
        procs.append(subprocess.Popen([DASK, *args], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file))
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            assert procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            time.sleep(0.2)
        assert scheduler_file.exists(), "the Dask scheduler did not start: " + (tmp_path / "scheduler.log").read_text()
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            start(f"worker{i}", "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                  "--no-dashboard", "--local-directory", str(tmp_path / f"worker{i}"))
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
            assert len(client.scheduler_info()["workers"]) == 2
        yield address, {p.pid for p in procs[1:]}
    finally:
        _stop(procs[1:])
        _stop(procs[:1])


def ran_on_workers(address: str) -> tuple[dict, list[str]]:
    """What the cluster executed: {worker: (its process's parent, the grading task keys it executed into
    memory)}, and the task keys the scheduler saw finish in memory.

    The probes are defined here, inside a function: the workers get them by value (cloudpickle), since
    they cannot import this test module."""
    def executed_here(dask_worker):
        # worker transition log entries: (key, start, recommended, final, recommendations, stimulus, time)
        return os.getppid(), sorted(entry[0] for entry in dask_worker.state.log
                                    if len(entry) == 7 and isinstance(entry[0], str)
                                    and entry[0].startswith("grade-") and entry[1] == "executing"
                                    and entry[3] == "memory")

    def finished_on_scheduler(dask_scheduler):
        return sorted(str(t.key) for t in dask_scheduler.transition_log if t.finish == "memory")

    with Client(address, timeout="30s") as client:
        return client.run(executed_here), client.run_on_scheduler(finished_on_scheduler)


def test_batch_runs_on_the_dask_workers(cluster, tmp_path):
    address, worker_cli_pids = cluster
    root = small_course(str(tmp_path / "course"), STUDENTS)
    lines = []
    outcomes = batch.grade_batch(ASSIGNMENT, root, scheduler=address, progress=False, log=lines.append)

    assert {o.student: (o.status, o.score) for o in outcomes} == {s: ("graded", pytest.approx(EXPECTED[k])) for s, k in
                                                                  STUDENTS.items()}
    assert lines[0] == f"executing 3 notebooks on Dask scheduler {address}"
    assert_scores(course.load_config(root).CourseDirectory.db_url, STUDENTS)

    # The executions ran in the worker processes: each task key the batch submitted went to memory
    # on one of the workers started above (their parent is the `dask worker` command).
    expected_keys = {f"grade-{o.key[:24]}" for o in outcomes}
    assert len(expected_keys) == 3
    ran, on_scheduler = ran_on_workers(address)
    assert {parent for parent, _ in ran.values()} == worker_cli_pids
    executed = [key for _, keys in ran.values() for key in keys]
    assert sorted(executed) == sorted(expected_keys)  # each exactly once, all on the cluster
    assert set(on_scheduler) == expected_keys


def test_the_grading_service_runs_on_the_dask_workers(cluster, tmp_path):
    """`python -m grader serve --scheduler`: the service's executions run on the cluster, its bookkeeping here."""
    from grader.engine.assignment import load
    from grader.engine.service.server import GradingService
    from grader.harness import students

    address, worker_cli_pids = cluster
    root = students.exchange_course(str(tmp_path / "course"), [ASSIGNMENT])
    styles = load(root, ASSIGNMENT).styles_dir
    for student, style in (("ann", "im2col"), ("bo", "strided")):
        students.submit(root, ASSIGNMENT, student, students.style_notebook(root, ASSIGNMENT, styles, style))
    lines = []
    GradingService(root, scheduler=address, log=lines.append).run(until_idle=True, timeout=240)
    assert f"Dask scheduler {address}" in lines[0]
    outcomes = batch.all_outcomes(ASSIGNMENT, root)
    assert sorted((o.student, o.status, o.score) for o in outcomes) == [("ann", "graded", 44.0), ("bo", "graded", 44.0)]
    expected_keys = {f"grade-{o.key[:24]}" for o in outcomes}
    ran, _ = ran_on_workers(address)
    assert {parent for parent, _ in ran.values()} == worker_cli_pids
    assert sorted(key for _, keys in ran.values() for key in keys) == sorted(expected_keys)
    for student in ("ann", "bo"):
        (page,) = students.fetch_feedback(root, ASSIGNMENT, student).values()
        assert students.page_score(page) == (44.0, 52.0)
