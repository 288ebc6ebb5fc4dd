"""The course secret behind the hidden inputs is the grader's alone: a sandboxed kernel can neither read nor find it.

The course's own secret (``<course root>/.secrets/inputs.key``, next to the ``.venv`` every sandbox
mounts) is read by the grader, and a kernel in each sandbox mode that claims isolation tries to
open, list and stat it.  The attack suite's ``read_secrets`` probe tries the same from a submission
graded by an ordinary user (tests/security/test_attacks.py).
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from grader.engine import course
from grader.engine.inputs import InputsSecret
from grader.engine.sandbox import Sandbox, SandboxPolicy

from ..conftest import REPO

PROBE = """\
import json, os, sys
seen = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            seen[path] = "LISTED " + json.dumps(sorted(os.listdir(path)))
        else:
            with open(path, "rb") as fh:
                seen[path] = f"READ {len(fh.read())} bytes"
    except OSError as exc:
        seen[path] = type(exc).__name__
    seen[path + " exists"] = os.path.exists(path)
print(json.dumps(seen))
"""


@pytest.fixture(autouse=True)
def _needs_root():
    assert os.geteuid() == 0, "the sandbox switches kernels to unprivileged uids: run the tests as root (as CI does)"


@pytest.fixture(scope="module")
def secret_path() -> str:
    """The course's own secret, made as grading makes it when it is missing."""
    secrets = InputsSecret(config=course.load_config(REPO))
    secrets.read(REPO)
    return secrets.location(REPO)


def probe(policy: SandboxPolicy, paths: list[str]) -> dict:
    with Sandbox(policy) as box:
        cmd = box.wrap([sys.executable, "-c", PROBE, *paths])
        try:
            done = subprocess.run(cmd, pass_fds=box.inherit_fds, capture_output=True, text=True, timeout=120)
        finally:
            box.release_fds()
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_course_secret_lies_beside_the_environment_and_is_its_owners_alone(secret_path):
    assert secret_path == os.path.join(REPO, ".secrets", "inputs.key")
    assert os.path.isdir(os.path.join(REPO, ".venv"))   # the one folder of the course every sandbox mounts
    info = os.stat(secret_path)
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_size == 32 and info.st_uid == os.getuid()
    assert stat.S_IMODE(os.stat(os.path.dirname(secret_path)).st_mode) == 0o700


def test_a_bubblewrap_sandbox_sees_no_secret(secret_path):
    folder = os.path.dirname(secret_path)
    seen = probe(SandboxPolicy(), [secret_path, folder, REPO])
    assert seen[secret_path] == "FileNotFoundError" and seen[secret_path + " exists"] is False
    assert seen[folder] == "FileNotFoundError" and seen[folder + " exists"] is False
    assert seen[REPO] == 'LISTED [".venv"]'     # the course is only its environment


def test_without_namespaces_the_files_mode_keeps_the_sandbox_uid_out(secret_path):
    """``mode = "rlimits"`` (a degraded mode) sees the host's files: the secret's 0600 and its folder's 0700 hold."""
    folder = os.path.dirname(secret_path)
    seen = probe(SandboxPolicy(mode="rlimits"), [secret_path, folder])
    assert seen[secret_path] == "PermissionError"
    assert seen[folder] == "PermissionError"
