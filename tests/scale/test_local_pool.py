"""The local pool runs each job in a process of its own: a worker that dies or overruns fails only its job."""
from __future__ import annotations

import os
import signal
import time

from grader.engine.batch import LocalPool, WorkerDied


def job(name: str):
    """What each test job does in its worker, by name."""
    if name == "killed":
        os.kill(os.getpid(), signal.SIGKILL)   # as the out-of-memory killer would
    if name == "raises":
        raise ValueError("bad input")
    if name == "hangs":
        time.sleep(60)
    if name == "big":
        return "x" * (8 * 1024 ** 2)   # larger than a pipe's buffer: read while the worker sends it
    return f"done {name} in {os.getpid()}"


def run_all(names, workers=2, deadline=None):
    pool = LocalPool(workers, job, deadline)
    try:
        for name in names:
            pool.submit(name)
        return {name: result for name, result in pool.finished()}, pool
    finally:
        pool.close()


def test_a_killed_worker_fails_its_own_job_and_the_others_finish():
    results, pool = run_all(["a", "killed", "b", "c"])
    assert isinstance(results["killed"], WorkerDied)
    assert str(results["killed"]) == ("the grading worker process died (killed by SIGKILL, as the out-of-memory "
                                      "killer does) while executing this notebook")
    assert {n: r.split(" in ")[0] for n, r in results.items() if n != "killed"} == {
        "a": "done a", "b": "done b", "c": "done c"}
    pids = {r.split(" in ")[1] for n, r in results.items() if n != "killed"}
    assert len(pids) == 3 and str(os.getpid()) not in pids    # a process of its own per job
    assert pool.peak_worker_kib > 0


def test_an_exception_in_a_job_comes_back_as_its_text():
    results, _ = run_all(["raises", "a"], workers=1)
    assert isinstance(results["raises"], RuntimeError) and str(results["raises"]) == "ValueError: bad input"
    assert results["a"].startswith("done a")


def test_a_worker_past_the_deadline_is_stopped_and_fails_its_job_alone():
    started = time.monotonic()
    results, _ = run_all(["hangs", "a"], workers=2, deadline=2)
    assert str(results["hangs"]) == "the grading worker ran longer than 2 s and was stopped"
    assert results["a"].startswith("done a")
    assert time.monotonic() - started < 30     # far below the job's own 60 s


def test_large_results_and_more_jobs_than_workers_all_arrive():
    results, _ = run_all(["big", "a", "b", "c", "d"], workers=2)
    assert len(results["big"]) == 8 * 1024 ** 2
    assert sorted(results) == ["a", "b", "big", "c", "d"]
