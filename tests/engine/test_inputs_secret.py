"""Unit: grader.engine.inputs (the course secret, each submission's salt) and where the engine uses the salt."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import threading

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from grader.engine import inputs, jobs
from grader.engine.inputs import InputsSecret, SecretProblem, course_secret, submission_salt, write_course_secret
from grader.engine.nbgrader_ext.execute import TrustedExecute

from ..conftest import REPO

SECRET = bytes(range(32))
NB = new_notebook(cells=[new_code_cell("x = 1", id="c0")])
FILES = {"timestamp.txt": b"2026-11-20 12:00:00.000000 UTC", "helper.py": b"y = 2\n"}


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ------------------------------------------------------------------ the secret file
def test_a_missing_secret_is_created_with_32_random_bytes_mode_0600_in_a_0700_folder(tmp_path):
    path = InputsSecret().location(str(tmp_path))
    assert path == str(tmp_path / ".secrets" / "inputs.key")
    secret = course_secret(path)
    assert len(secret) == 32 and secret != bytes(32)
    assert mode(path) == 0o600 and mode(tmp_path / ".secrets") == 0o700
    assert os.stat(path).st_uid == os.getuid()
    assert course_secret(path) == secret                     # read back, not made again
    assert os.listdir(tmp_path / ".secrets") == ["inputs.key"]   # no temporary file left
    other = tmp_path / "other"
    other.mkdir()
    assert course_secret(InputsSecret().location(str(other))) != secret   # each course its own


def test_the_path_is_a_config_option_relative_to_the_course_root(tmp_path):
    config = Config()
    config.InputsSecret.path = "private/key.bin"
    assert InputsSecret(config=config).location(str(tmp_path)) == str(tmp_path / "private" / "key.bin")
    config.InputsSecret.path = str(tmp_path / "elsewhere")
    assert InputsSecret(config=config).location("/no/such/course") == str(tmp_path / "elsewhere")
    assert InputsSecret(config=config).read("/no/such/course") == course_secret(str(tmp_path / "elsewhere"))


def test_concurrent_first_uses_agree_on_one_secret(tmp_path):
    path = str(tmp_path / ".secrets" / "inputs.key")
    seen, barrier = [], threading.Barrier(8)

    def read():
        barrier.wait()
        seen.append(course_secret(path))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len(set(seen)) == 1
    assert os.listdir(tmp_path / ".secrets") == ["inputs.key"]


def test_a_written_secret_replaces_the_old_one_with_mode_0600(tmp_path):
    path = str(tmp_path / "s" / "inputs.key")
    course_secret(path)
    write_course_secret(path, SECRET)
    assert course_secret(path) == SECRET and mode(path) == 0o600
    with pytest.raises(ValueError, match="32 bytes"):
        write_course_secret(path, b"short")


def test_a_secret_others_can_read_is_refused(tmp_path):
    path = tmp_path / "inputs.key"
    path.write_bytes(SECRET)
    path.chmod(0o644)
    with pytest.raises(SecretProblem, match=r"mode 0644: others could read .*chmod 600"):
        course_secret(str(path))
    path.chmod(0o620)
    with pytest.raises(SecretProblem, match="mode 0620"):
        course_secret(str(path))
    path.chmod(0o400)
    assert course_secret(str(path)) == SECRET


def test_a_secret_of_another_size_is_refused(tmp_path):
    path = tmp_path / "inputs.key"
    path.write_bytes(SECRET + b"\n")
    path.chmod(0o600)
    with pytest.raises(SecretProblem, match="holds 33 bytes, not 32"):
        course_secret(str(path))


def test_a_link_or_a_folder_in_place_of_the_secret_is_refused(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(SECRET)
    target.chmod(0o600)
    os.symlink(target, tmp_path / "link")
    with pytest.raises(SecretProblem, match="a symbolic link"):
        course_secret(str(tmp_path / "link"))
    os.symlink(tmp_path / "missing", tmp_path / "dangling")
    with pytest.raises(SecretProblem, match="a symbolic link"):
        course_secret(str(tmp_path / "dangling"))
    assert not (tmp_path / "missing").exists()
    (tmp_path / "folder").mkdir(mode=0o700)
    with pytest.raises(SecretProblem, match="not a regular file"):
        course_secret(str(tmp_path / "folder"))


def test_a_secret_where_the_sandbox_can_see_it_is_refused():
    inside = os.path.join(sys.prefix, "course-secret.key")
    with pytest.raises(SecretProblem, match="which every sandboxed kernel sees"):
        course_secret(inside)
    assert not os.path.exists(inside)


def test_the_course_secret_is_ignored_by_git():
    done = subprocess.run(["git", "-C", REPO, "check-ignore", "-q", os.path.join(REPO, inputs.DEFAULT_PATH)])
    assert done.returncode == 0


# ------------------------------------------------------------------ the salt of a submission
def test_the_salt_is_an_hmac_of_assignment_student_and_content():
    salt = submission_salt(SECRET, "09_spatial", "ada", NB, FILES)
    identity = json.dumps(["hidden-inputs/1", "09_spatial", "ada", jobs.content_digest(NB, FILES)]).encode()
    assert salt == hmac.new(SECRET, identity, hashlib.sha256).digest()
    assert submission_salt(SECRET, "09_spatial", "ada", NB, dict(reversed(FILES.items()))) == salt


@pytest.mark.parametrize("change", [
    {"secret": bytes(range(1, 33))},
    {"assignment": "04_losses"},
    {"student": "bob"},
    {"nb": new_notebook(cells=[new_code_cell("x = 2", id="c0")])},
    {"files": {**FILES, "timestamp.txt": b"2026-11-20 12:00:01.000000 UTC"}},   # resubmitted, same content
    {"files": {**FILES, "notes.txt": b""}},
])
def test_any_part_of_the_identity_changes_the_salt(change):
    args = {"secret": SECRET, "assignment": "09_spatial", "student": "ada", "nb": NB, "files": FILES, **change}
    assert submission_salt(**args) != submission_salt(SECRET, "09_spatial", "ada", NB, FILES)


def test_the_salt_needs_a_32_byte_secret():
    with pytest.raises(ValueError, match="32 bytes"):
        submission_salt(b"short", "a", "s", NB, FILES)


# ------------------------------------------------------------------ the salt in keys, jobs and the executor
def test_the_execution_key_covers_the_salt():
    key = jobs.fingerprint(NB, FILES, "{}", "0123456789abcdef", SECRET)
    assert key == jobs.fingerprint(NB, FILES, "{}", "0123456789abcdef", SECRET)
    assert key != jobs.fingerprint(NB, FILES, "{}", "0123456789abcdef", bytes(range(1, 33)))
    assert key != jobs.fingerprint(NB, FILES, "{}", "0123456789abcdef")


def executor(root) -> TrustedExecute:
    config = Config()
    config.CourseDirectory.root = str(root)
    return TrustedExecute(config=config)


def resources(student="ada", assignment="09_spatial"):
    return {"nbgrader": {"student": student, "assignment": assignment, "notebook": assignment}}


def test_the_executor_derives_the_salt_from_its_courses_secret(tmp_path):
    write_course_secret(str(tmp_path / ".secrets" / "inputs.key"), SECRET)
    salt = executor(tmp_path).salt_for(NB, FILES, resources())
    assert salt == submission_salt(SECRET, "09_spatial", "ada", NB, FILES)
    assert executor(tmp_path).salt_for(NB, FILES, resources("bob")) != salt


def test_a_job_without_a_salt_is_refused_not_graded_on_name_only_inputs(tmp_path):
    job = jobs.ExecutionJob("k" * 64, "ada", "09_spatial", "09_spatial", nbformat.writes(NB), {}, {}, REPO, "")
    with pytest.raises(RuntimeError, match="needs a hidden-inputs salt"):
        jobs.execute_job(job)
