"""`make lab` (python -m grader lab): it prints a working URL with its token, and Ctrl-C stops it.

The command is started with SIGINT ignored, as every background job of a non-interactive shell is
(``make test &`` in a script): an ignored signal stays ignored across exec and Python then installs
no KeyboardInterrupt handler, so before the command installed its own, SIGINT did not stop it there
and this test failed after 60 s, while it passed when pytest ran in the foreground. Both ways of
starting the test now exercise the same handler.
"""
from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from grader.tools import lab

from ..conftest import make_course_copy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]   # a silent hang ends the test, not CI

STOP_TIMEOUT = 60   # lab.stop() gives the server 30 s after SIGTERM, then 5 s after SIGKILL
TAIL_LINES = 40


def tail(path, lines: int = TAIL_LINES) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def sigint_disposition(pid: int) -> str:
    """How the process treats SIGINT, from /proc/<pid>/status: ignored, caught (a handler) or default."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            masks = dict(line.split(":", 1) for line in fh if line.startswith(("SigIgn", "SigCgt")))
    except OSError:
        return "gone"
    bit = 1 << (signal.SIGINT - 1)
    return ("ignored" if int(masks["SigIgn"], 16) & bit else
            "caught" if int(masks["SigCgt"], 16) & bit else "default")


def server_pids(env: dict) -> list[int]:
    """The pids of the servers whose info file (jpserver-<pid>.json) is in this test's runtime dir."""
    pids = []
    for path in glob.glob(os.path.join(lab.runtime_dir(env), "jpserver-*.json")):
        with open(path, encoding="utf-8") as fh:
            pids.append(int(json.load(fh)["pid"]))
    return pids


def ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_the_lab_command_prints_a_tokened_url_that_answers(tmp_path):
    root = make_course_copy(str(tmp_path / "course"))
    env = lab.isolated_env(str(tmp_path / "state"))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    # files, never pipes: the server inherits both streams, and a pipe nobody reads could block it
    out_path, log_path = tmp_path / "lab.out", tmp_path / "lab.log"   # JupyterLab logs to stderr
    with open(out_path, "w") as out, open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grader", "lab", "--root", root], env=env,
                                cwd=str(tmp_path), stdin=subprocess.DEVNULL, stdout=out, stderr=log,
                                start_new_session=True, preexec_fn=ignore_sigint)
    lab_url, servers = None, []
    try:
        deadline = time.monotonic() + 180
        while ("Ctrl-C stops it." not in out_path.read_text() and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.2)
        text = out_path.read_text()
        urls = re.findall(r"http://127\.0\.0\.1:(\d+)/\S*\?token=([0-9a-f]{48})", text)
        assert len(urls) == 2, f"{text}\n--- stderr (end) ---\n{tail(log_path)}"   # JupyterLab and formgrader
        assert f"course root {root}" in text
        lab_url = re.search(r"(http://\S+/lab\S*)", text).group(1)
        with urllib.request.urlopen(lab_url, timeout=30) as resp:
            assert resp.status == 200 and b"JupyterLab" in resp.read()
        assert os.path.isdir(os.path.join(root, ".exchange"))   # the course-local exchange was created
        servers = server_pids(env)
        assert len(servers) == 1 and servers[0] != proc.pid, servers
        assert sigint_disposition(proc.pid) == "caught"   # its own handler, although started with SIGINT ignored
    finally:
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            how = sigint_disposition(proc.pid)
            for pid in [proc.pid, *server_pids(env)]:   # this test's processes, by id
                try:
                    os.killpg(pid, signal.SIGKILL)   # each leads its own session
                except ProcessLookupError:
                    pass
            proc.wait(10)
            pytest.fail(f"SIGINT did not stop `python -m grader lab` (pid {proc.pid}, SIGINT {how}) within "
                        f"{STOP_TIMEOUT} s; killed it.\n--- stdout (end) ---\n{tail(out_path)}\n"
                        f"--- stderr: the command's and the server's log (end) ---\n{tail(log_path)}")
    seconds = time.monotonic() - sent
    print(f"[lab] SIGINT to exit: {seconds:.1f} s")
    log_text = log_path.read_text()
    assert proc.returncode == 0, log_text[-3000:]
    assert "stopping JupyterLab" in log_text
    # the server shut down on the SIGTERM lab.stop() sent it, within its grace period, and was reaped
    assert re.search(r"JupyterLab stopped \(status 0\) in \d+\.\d s", log_text), log_text[-3000:]
    assert "received signal 15, stopping" in log_text
    assert not os.path.exists(f"/proc/{servers[0]}") and server_pids(env) == []
    with pytest.raises(urllib.error.URLError):   # the server is gone with the command
        urllib.request.urlopen(lab_url, timeout=10)
