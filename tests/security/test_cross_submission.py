"""No state crosses from one sandbox to the next that runs as the same uid.

The leave_state submission plants a mark in every channel a later sandbox could share (the uid's
kernel keyrings, /tmp, /dev/shm, System V IPC, a POSIX message queue, an abstract Unix socket held
by a lingering process, a double-forked sleeper, files in $HOME/.cache, MPLCONFIGDIR, the IPython
directory, the working directory and its parent, the environment); look_for_state, graded after it,
looks for the mark in each.  The course hands out a single uid slot from its own slot directory, so
the two are graded, in two batches one after the other, as the same uid: the case of a batch whose
later submissions reuse a slot.
"""
from __future__ import annotations

import os

import nbformat
import pytest

from grader.engine import batch, course
from grader.harness import attack_suite, mutation
from grader.harness.scratch import scratch_course

from ..conftest import ASSIGNMENT, ATTACKS, SPATIAL

pytestmark = pytest.mark.slow
UID = 61900   # outside the default slots (61000 + 0..63), so graders running alongside never use it
CONFIG = {**attack_suite.LIMITS, "first_uid": UID, "slots": 1}


def marked_host_processes() -> list[int]:
    """Processes on the host whose command line holds the leave submission's mark."""
    mark = b"grader-cross-submission-mark"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if mark in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def grade_one(root: str, name: str) -> tuple[batch.Outcome, dict]:
    """Write the attack's submission, grade the batch (earlier students are unchanged and skipped)."""
    release_dir = os.path.join(root, "release", ASSIGNMENT)
    release_nb = nbformat.read(os.path.join(release_dir, f"{ASSIGNMENT}.ipynb"), as_version=4)
    student = ATTACKS.build(ATTACKS.BY_NAME[name], root, release_nb, mutation.source_notebook(SPATIAL), release_dir)
    outcomes = {o.student: o for o in batch.grade_batch(ASSIGNMENT, root, workers=1, progress=False,
                                                        log=lambda *a: None)}
    return outcomes[student], attack_suite.probe_outputs(root, ASSIGNMENT, student)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = scratch_course(str(tmp_path_factory.mktemp("cross") / "course"), [ASSIGNMENT], release=True)
    with open(os.path.join(root, "nbgrader_config.py"), "a", encoding="utf-8") as fh:
        fh.write("".join(f"c.SandboxPolicy.{k} = {v!r}\n" for k, v in CONFIG.items()))
        fh.write(f"c.SandboxPolicy.slot_dir = {os.path.join(root, 'slots')!r}\n")
    leave, leave_probes = grade_one(root, "leave_state")
    left_running = marked_host_processes()
    look, look_probes = grade_one(root, "look_for_state")
    return {"leave": (leave, leave_probes.get("leave")), "look": (look, look_probes.get("look")),
            "left_running": left_running, "root": root}


def test_both_submissions_are_graded_in_full(graded):
    scores, maxima = (course.cell_scores(ASSIGNMENT, graded["root"]),
                      course.autograded_maxima(ASSIGNMENT, graded["root"]))
    for outcome, _ in (graded["leave"], graded["look"]):
        total, lost = course.autograded_points(scores[outcome.student], maxima)
        assert (outcome.status, total, lost) == ("graded", 44.0, ()), outcome.reasons


def test_both_ran_as_the_same_uid(graded):
    assert graded["leave"][1]["uid"] == graded["look"][1]["uid"] == UID


def test_the_leave_submission_planted_its_mark_where_it_could_and_the_keyring_refused_it(graded):
    planted = graded["leave"][1]
    assert {k: planted[k] for k in ("keyring_user", "keyring_session")} == {"keyring_user": "EPERM",
                                                                            "keyring_session": "EPERM"}
    assert {k: planted[k] for k in attack_suite.LEAVE_PLANTED} == {k: "PLANTED" for k in attack_suite.LEAVE_PLANTED}
    assert (planted["cwd_parent"], planted["dev_shm"], planted["processes_left"]) == ("EACCES", "EACCES", 2)
    assert attack_suite.leave_problems(planted) == []


def test_its_processes_ended_with_its_sandbox(graded):
    assert graded["left_running"] == []


def test_the_later_submission_found_nothing_in_any_channel(graded):
    found = graded["look"][1]
    assert found == {"uid": UID, "keyring_user": "EPERM", "keyring_session": "EPERM", "tmp": "absent",
                     "dev_shm": "absent", "home_cache": "absent", "mplconfigdir": "absent", "ipythondir": "absent",
                     "cwd": "absent", "cwd_parent": "absent", "sysv_shm": "ENOENT", "sysv_msg": "ENOENT",
                     "sysv_sem": "ENOENT", "posix_mqueue": "ENOENT", "sleeper_process": "absent",
                     "abstract_socket": "ECONNREFUSED", "environment": "absent"}
    assert attack_suite.look_problems(found) == []
