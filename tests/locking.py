"""The course's grading lock (grader/engine/grading_lock.py) as another process holds it or meets it."""
from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

HOLDER = """\
import sys, time
from grader.engine import grading_lock
with grading_lock.hold(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""
PROBE = """\
import sys
from grader.engine import grading_lock
try:
    with grading_lock.hold(sys.argv[1], "a probe", grace=0):
        pass
except grading_lock.CourseBusy as exc:
    print(exc)
"""


@contextlib.contextmanager
def held_elsewhere(root: str, what: str) -> Iterator[subprocess.Popen]:
    """A separate process holding the lock of the course at ``root`` as ``what`` until the block ends."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), what], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "held\n"
        yield process
    finally:
        process.kill()
        process.wait()


def refusal_elsewhere(root: str) -> str:
    """What a separate process that tries to take the lock of the course at ``root`` is told now ("": it got it)."""
    probe = subprocess.run([sys.executable, "-c", PROBE, str(root)], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    return probe.stdout.strip()
