"""Ordinary Linux users for the tests that grade without root (created per session, removed after)."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile

from grader.tools.shared_access import blocking_directories, software_paths

from .conftest import REPO


def create_user(prefix: str) -> pwd.struct_passwd:
    """A system user named ``<prefix>-<pid>`` without a home directory or login shell."""
    name = f"{prefix}-{os.getpid()}"[:32]
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, text=True)
    return pwd.getpwnam(name)


def remove_user(user: pwd.struct_passwd) -> None:
    """Stop whatever still runs as ``user``, then delete the account."""
    subprocess.run(["pkill", "-KILL", "-u", str(user.pw_uid)], capture_output=True)
    subprocess.run(["userdel", user.pw_name], capture_output=True)


def owned_dir(user: pwd.struct_passwd, prefix: str) -> str:
    """A new directory under the system's temporary folder, owned by ``user``."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chown(path, user.pw_uid, user.pw_gid)
    return path


def run_as(user: pwd.struct_passwd, argv: list[str], home: str, timeout: float, **kwargs):
    """``argv`` as ``user`` (no capabilities, the user's own groups), from the checkout, with HOME=``home``."""
    blocked = blocking_directories(software_paths(REPO))
    assert not blocked, (f"{user.pw_name} cannot reach the course software through {blocked}: "
                         "run `make shared-access` (as root)")
    env = {"HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
           "--inh-caps=-all", "--", *argv]
    return subprocess.run(cmd, cwd=REPO, env=env, timeout=timeout, capture_output=True, text=True, **kwargs)


def remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
