"""``make test``'s pytest run: two lanes of the suite side by side, each in a pytest process of its own.

The *servers* lane holds the tests that mostly wait on servers and browsers (the hub, JupyterLab, the
grading service, PostgreSQL), on time limits (the attack suite's runaway submissions, the sandbox's limits) or on a
rate-limit window (the service bench, a ``long`` test); the *grading* lane holds everything else, which keeps
the cores busy grading. Run one after the other, the servers lane leaves a core idle for minutes; side by
side, the grading lane uses it.
Numpy's BLAS and torch run on one thread in both lanes: the lanes and the process pools inside them
already keep both cores busy, and BLAS threads on top only contend with them (OpenBLAS's idle threads
spin).
The lanes share no session fixture, temporary folder or account: each has its own ``--basetemp``, and
the fixtures that make Linux accounts name them after the pytest process.

    python -m tests.lanes [pytest options...]     # e.g. -m "not long" --durations=20

Each lane's output is printed whole when the lane ends (the servers lane's first if both are done), with
its wall time; the exit status is the first non-zero lane status.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SERVER_LANE = ["tests/hub", "tests/browser", "tests/service", "tests/security/test_attacks.py",
               "tests/security/test_sandbox.py", "tests/scale/test_postgres.py", "tests/scale/test_bench_service.py"]


def lane_commands(options: list[str], basetemp: str) -> dict[str, list[str]]:
    pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *options]
    return {
        "servers": pytest + [f"--basetemp={basetemp}/servers", *SERVER_LANE],
        "grading": pytest + [f"--basetemp={basetemp}/grading"] + [f"--ignore={path}" for path in SERVER_LANE]
        + ["tests"],
    }


def main(options: list[str]) -> int:
    root = os.path.dirname(HERE)
    basetemp = tempfile.mkdtemp(prefix="pytest-lanes-")
    env = dict(os.environ, **{name: "1" for name in ONE_THREAD})
    started = time.monotonic()
    running = {}
    for name, command in lane_commands(options, basetemp).items():
        log = open(os.path.join(basetemp, f"{name}.log"), "w+", encoding="utf-8")
        running[name] = (subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    status = 0
    while running:
        for name, (process, log) in list(running.items()):
            if process.poll() is None:
                continue
            log.seek(0)
            sys.stdout.write(f"\n======== {name} lane: exit {process.returncode} after "
                             f"{time.monotonic() - started:.0f} s ========\n{log.read()}")
            sys.stdout.flush()
            log.close()
            del running[name]
            status = status or process.returncode
        time.sleep(0.5)
    print(f"both lanes done in {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
