"""The sandbox started by an ordinary user: user namespaces instead of root's per-slot uids.

Each test runs a short program as ``grading_user`` (tests/users.py) that builds sandboxes with
grader.engine.sandbox and prints what it saw as JSON.  The whole attack suite also runs as that user
(tests/security/test_attacks.py).
"""
from __future__ import annotations

import json
import sys

import pytest

from grader.engine import sandbox
from grader.engine.sandbox import Sandbox, SandboxPolicy, SandboxUnavailable

from ..users import owned_dir, remove_tree, run_as

pytestmark = pytest.mark.slow


def seen_by(user, program: str, timeout: float) -> dict:
    """What ``program`` (Python source) prints as JSON when ``user`` runs it from a home of its own."""
    home = owned_dir(user, "rootless-")
    try:
        done = run_as(user, [sys.executable, "-c", program], home=home, timeout=timeout)
    finally:
        remove_tree(home)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


CONFINEMENT = '''
import errno, json, os, subprocess, sys
from grader.engine.sandbox import Sandbox, SandboxPolicy
INSIDE = r"""
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def refused(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode[exc.errno]
def fill():
    n = 0
    try:
        while True:
            with open(f"junk{n}", "wb") as fh:
                fh.write(bytes(1 << 20))
            n += 1
    except OSError as exc:
        return [n, errno.errorcode[exc.errno]]
seen = {"uid": os.getuid(), "files": sorted(os.listdir(".")), "copied": open("pkg/a.txt").read(),
        "parent": refused(lambda: open("../planted", "w")), "dev_shm": refused(lambda: open("/dev/shm/x", "w")),
        "tmp": refused(lambda: open("/tmp/x", "w").close()),
        "staged": refused(lambda: open("../files/pkg/a.txt", "a")),
        "unshare": "EPERM" if libc.syscall(272, 0x10000000) < 0 else "ok", "fill": fill()}
print(json.dumps(seen))
"""
policy = SandboxPolicy(disk_bytes=8 * 2 ** 20)
with Sandbox(policy, {"pkg/a.txt": b"hello"}) as box:
    cmd = box.wrap([sys.executable, "-c", INSIDE])
    done = subprocess.run(cmd, pass_fds=box.inherit_fds, capture_output=True, text=True, timeout=120)
    box.release_fds()
    host_files = sorted(os.listdir(box.work))
    print(json.dumps({"inside": json.loads(done.stdout) if done.returncode == 0 else done.stderr,
                      "rootless": box.rootless, "slot": box.slot is None, "describe": box.describe(),
                      "flags": [f for f in ("--unshare-user", "--disable-userns", "setpriv") if f in cmd],
                      "host_files": host_files, "uid": os.getuid(),
                      "modes": [os.stat(p).st_mode & 0o777 for p in (box.root, box.work, box.io)]}))
'''


def test_an_ordinary_users_sandbox_confines_like_roots(grading_user):
    seen = seen_by(grading_user, CONFINEMENT, timeout=180)
    assert seen["rootless"] and seen["slot"] and seen["uid"] == grading_user.pw_uid
    assert seen["flags"] == ["--unshare-user", "--disable-userns"]   # no setpriv: the uid stays the user's
    assert seen["describe"].endswith("disk 8 MiB, rootless (user namespace)")
    inside = seen["inside"]
    assert inside["uid"] == grading_user.pw_uid and inside["copied"] == "hello"
    assert inside["files"] == [".config", "pkg"]
    refused = (inside["parent"], inside["dev_shm"], inside["tmp"], inside["unshare"], inside["staged"])
    assert refused == ("EACCES", "EACCES", "ok", "EPERM", "EROFS")   # the scratch directory it was filled from
    # the working directory is the sandbox's own tmpfs of disk_bytes: full after 7 MiB files, nothing reached the host
    assert inside["fill"] == [7, "ENOSPC"]
    assert seen["host_files"] == [".config", "pkg"]
    assert seen["modes"] == [0o700, 0o700, 0o700]   # the grader's alone: no other account reads a submission


ISOLATION = '''
import json, os, subprocess, sys, time
from grader.engine.sandbox import Sandbox, SandboxPolicy
HOLD = r"""
import subprocess, sys, time
children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "mark-of-sandbox-a"])
            for _ in range(int(sys.argv[1]))]
print("holding", flush=True)
sys.stdin.read()
"""
PROBE = r"""
import json, os, sys
def forks(n):
    made = 0
    try:
        for _ in range(n):
            if os.fork() == 0:
                import time; time.sleep(5); os._exit(0)
            made += 1
    except OSError:
        pass
    return made
seen = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        seen.append(open(f"/proc/{pid}/cmdline", "rb").read())
    except OSError:
        pass
print(json.dumps({"forks": forks(int(sys.argv[1])), "pids": len(seen),
                  "marks": sum(b"mark-of-" + b"sandbox-a" in c for c in seen)}), flush=True)
os._exit(0)
"""
policy = SandboxPolicy(max_processes=16)
def start(box, code, *args, **kw):
    cmd = box.wrap([sys.executable, "-c", code, *args])
    proc = subprocess.Popen(cmd, pass_fds=box.inherit_fds, text=True, stdout=subprocess.PIPE, **kw)
    box.release_fds()
    box.leader_pid = proc.pid
    return proc
with Sandbox(policy) as a, Sandbox(policy) as b, Sandbox(policy) as c:
    holder = start(a, HOLD, "12", stdin=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "holding"
    held = a.process_count()
    other = start(b, PROBE, "12")
    other_seen = json.loads(other.communicate(timeout=120)[0])
    over = start(c, PROBE, "20")
    over_seen = json.loads(over.communicate(timeout=120)[0])
    holder.stdin.close()
    holder.wait(timeout=60)
print(json.dumps({"held": held, "other": other_seen, "over": over_seen}))
'''


def test_concurrent_sandboxes_of_one_user_neither_see_nor_crowd_each_other(grading_user):
    """What a uid per slot gives under root, a user namespace per sandbox gives here: the process limit counts
    only the sandbox's own processes, and no sandbox sees another's."""
    seen = seen_by(grading_user, ISOLATION, timeout=300)
    assert seen["held"] == 13   # the holder and its 12 sleepers, counted from the host
    # beside the 13 processes of sandbox a, all of the same uid, b still forks 12 of its 16, and sees none of a's
    assert seen["other"] == {"forks": 12, "pids": 2, "marks": 0}
    # the limit holds: of 20 forks asked for, those beyond 16 processes in the sandbox fail
    assert seen["over"] == {"forks": 14, "pids": 2, "marks": 0}   # 16 less its init and the probe itself


def test_without_user_namespaces_an_ordinary_user_is_refused_with_the_sysctl_to_check(monkeypatch):
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sandbox, "user_namespace_problem",
                        lambda: "bwrap: No permissions to create new namespace")
    with pytest.raises(SandboxUnavailable) as refused:
        Sandbox(SandboxPolicy())
    message = str(refused.value)
    assert "bwrap: No permissions to create new namespace" in message
    assert "sysctl user.max_user_namespaces" in message and "kernel.unprivileged_userns_clone" in message
    assert "c.SandboxPolicy.mode = 'none'" in message
    with pytest.raises(SandboxUnavailable, match="mode 'rlimits' needs root"):
        Sandbox(SandboxPolicy(mode="rlimits"))


def test_bubblewrap_makes_user_namespaces_on_this_machine():
    assert sandbox.user_namespace_problem() == ""
