"""One grader at a time per course: the grading service, a batch (``make grade``) and nbgrader's autograde.

Each of them collects into, and writes, the course's ``autograded/`` folders and the gradebook's scores. Two
at once would grade the same student's folder twice over (nbgrader's autograde removes the folder it is about
to write), and a batch would replace the score the service keeps as the counting one. So whichever starts
first holds the course's grading lock and the others refuse, naming who holds it:

* the grading service holds it for as long as it runs, a batch while it grades;
* nbgrader's autograde from formgrader or the command line checks it before it touches a submission
  (:mod:`grader.engine.nbgrader_ext.guard`) and refuses while another process holds it; inside the service
  or a batch, which autograde through nbgrader's API in their own process, it is theirs.

The lock is an ``flock`` on ``<course>/.grading/grading.lock``, whose text says who holds it. The operating
system releases it when its process ends, however it ends (``kill -9`` included), and the worker processes
it forked with it (which end with it), so a grader that crashed never leaves a stale lock behind.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import time
from collections.abc import Iterator

LOCK_FILE = os.path.join(".grading", "grading.lock")   # under the course root

ORPHAN_GRACE_SECONDS = 15.0   # how long a holder's processes may keep the lock after the holder has ended
_held: dict[str, int] = {}   # lock path -> how many holds of this process are open on it


class CourseBusy(RuntimeError):
    """Another process grades this course."""


def lock_path(root: str) -> str:
    return os.path.realpath(os.path.join(root, LOCK_FILE))


def _open(path: str) -> int:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CourseBusy(f"cannot open the course's grading lock {path}: {exc}") from exc


def _holder(fd: int) -> tuple[str, int | None]:
    """Who holds the lock, as its text says, and the pid that took it (None if unreadable)."""
    try:
        about = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"{about['what']} (pid {about['pid']}, since {about['since']})", int(about["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another process", None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's live process
        return True
    return True


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _acquire(root: str, what: str, grace: float) -> int:
    """An open, locked descriptor of the course's lock file, with ``what`` written in it; or CourseBusy."""
    path = lock_path(root)
    fd = _open(path)
    try:
        deadline = time.monotonic() + grace
        while not _lock(fd):
            holder, pid = _holder(fd)   # read again each time: the holder may change while this waits
            alive = _alive(pid)
            if alive or time.monotonic() >= deadline:
                ended = "" if alive else ", which has ended, or the workers it started,"
                raise CourseBusy(f"{holder}{ended} is grading the course in {os.path.realpath(root)} "
                                 f"({path} is locked); {what} would write the same autograded/ folders and "
                                 "gradebook scores. Stop it first, or leave the grading to it.")
            time.sleep(0.1)   # a holder that has ended leaves the lock to the workers it forked until they end
        since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"what": what, "pid": os.getpid(), "since": since}).encode(), 0)
    except BaseException:
        os.close(fd)   # releases the flock if it was taken
        raise
    return fd


@contextlib.contextmanager
def hold(root: str, what: str, grace: float = ORPHAN_GRACE_SECONDS) -> Iterator[None]:
    """Hold the grading lock of the course at ``root`` while the block runs, as ``what`` (e.g. "the grading
    service"); raise :class:`CourseBusy` at once if another live process holds it. A holder that has ended
    leaves the lock to the workers it forked until they end too (waited here for at most ``grace``
    seconds). Holds nest within a process."""
    path = lock_path(root)
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    fd = _acquire(root, what, grace)
    _held[path] = 1
    try:
        yield
    finally:
        del _held[path]
        os.close(fd)   # releases the flock
