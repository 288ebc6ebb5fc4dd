"""grading_lock: one grader per course, released however its holder ends; nbgrader's autograde checks it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory

from grader.engine import batch, course, grading_lock
from grader.engine.nbgrader_ext.guard import GradingLockedExporter

from ..locking import held_elsewhere, refusal_elsewhere


def written_in_lock(root) -> tuple[str, int]:
    """What the course's lock file says: who holds it, and their pid."""
    with open(grading_lock.lock_path(str(root)), encoding="utf-8") as fh:
        about = json.load(fh)
    return about["what"], about["pid"]


@pytest.fixture()
def other_process_holds(tmp_path):
    """A separate process holding the lock of the course at tmp_path until the test ends or kills it."""
    with held_elsewhere(str(tmp_path), "the grading service (test)") as process:
        yield process


def test_a_second_holder_is_refused_with_who_holds_it(tmp_path, other_process_holds):
    with pytest.raises(grading_lock.CourseBusy) as refused:
        with grading_lock.hold(str(tmp_path), "a batch grading"):
            pass
    message = str(refused.value)
    assert message.startswith(f"the grading service (test) (pid {other_process_holds.pid}, since 20")
    assert (f"is grading the course in {os.path.realpath(tmp_path)} ({grading_lock.lock_path(str(tmp_path))} is "
            "locked); a batch grading would write") in message
    assert written_in_lock(tmp_path) == ("the grading service (test)", other_process_holds.pid)


def test_kill_9_releases_the_lock(tmp_path, other_process_holds):
    other_process_holds.send_signal(signal.SIGKILL)
    other_process_holds.wait()
    with grading_lock.hold(str(tmp_path), "a batch grading"):
        assert written_in_lock(tmp_path) == ("a batch grading", os.getpid())


def test_a_killed_holder_leaves_the_lock_to_its_last_worker_then_it_is_free(tmp_path):
    # the holder forks a worker (it inherits the lock) that ends only when the test closes its stdin: a new
    # holder waits for it instead of refusing, and gets the lock when it ends
    holder = subprocess.Popen([sys.executable, "-c", """\
import os, sys, time
from grader.engine import grading_lock
with grading_lock.hold(sys.argv[1], "the grading service (test)"):
    if os.fork() == 0:
        sys.stdin.read()
        os._exit(0)
    print("held", flush=True)
    time.sleep(120)
""", str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait()
    with pytest.raises(grading_lock.CourseBusy, match=r"\(pid \d+, since .*\), which has ended, or the workers it "
                                                      r"started, is grading"):
        with grading_lock.hold(str(tmp_path), "a batch grading", grace=0.5):   # the worker still holds it
            pass
    threading.Timer(1.0, holder.stdin.close).start()   # the worker ends a second after the wait begins
    with grading_lock.hold(str(tmp_path), "the grading service, restarted"):
        assert written_in_lock(tmp_path) == ("the grading service, restarted", os.getpid())


def test_holds_nest_within_a_process_and_free_the_lock_at_the_outermost(tmp_path):
    root = str(tmp_path)
    with grading_lock.hold(root, "the grading service"):
        with grading_lock.hold(root, "nbgrader autograde"):   # the service's own autograde
            pass
        with grading_lock.hold(root, "a batch grading"):
            pass
        assert refusal_elsewhere(root).startswith(f"the grading service (pid {os.getpid()}, since ")
    assert refusal_elsewhere(root) == ""


def test_a_batch_is_refused_before_it_touches_the_course(tmp_path, other_process_holds):
    shutil.copy(os.path.join(course.ROOT, "nbgrader_config.py"), tmp_path)
    with pytest.raises(grading_lock.CourseBusy, match=r"a batch grading \(python -m grader grade\) would write"):
        batch.grade_batch("09_spatial", str(tmp_path), progress=False, log=lambda line: None)
    assert sorted(os.listdir(tmp_path)) == [".grading", "nbgrader_config.py"]   # no gradebook, nothing staged


def _autograde_converter(root):
    shutil.copy(os.path.join(course.ROOT, "nbgrader_config.py"), root)
    config = course.load_config(str(root))
    converter = Autograde(coursedir=CourseDirectory(config=config), config=config)
    assert converter.exporter_class is GradingLockedExporter   # as the course configures it
    return converter, config


def test_nbgrader_autograde_refuses_before_its_first_step_while_another_process_grades(tmp_path,
                                                                                       other_process_holds):
    converter, config = _autograde_converter(tmp_path)
    with pytest.raises(NbGraderException, match=r"the grading service \(test\) \(pid \d+, since .*nbgrader "
                                                r"autograde would write"):
        converter.exporter_class(parent=converter, config=config)


def test_nbgrader_autograde_holds_the_lock_until_its_converter_has_converted(tmp_path):
    converter, config = _autograde_converter(tmp_path)
    converter.assignments = {}   # nothing to convert: convert_notebooks returns at once
    converter.exporter = converter.exporter_class(parent=converter, config=config)
    # a service or batch starting now is refused
    assert refusal_elsewhere(str(tmp_path)).startswith(f"nbgrader autograde (pid {os.getpid()}, since ")
    converter.convert_notebooks()
    assert refusal_elsewhere(str(tmp_path)) == ""


def test_an_unwritable_course_is_named(tmp_path):
    (tmp_path / ".grading").write_text("a file where the folder belongs")
    with pytest.raises(grading_lock.CourseBusy, match=r"cannot open the course's grading lock .*grading.lock"):
        with grading_lock.hold(str(tmp_path), "nbgrader autograde"):
            pass
