"""`make lab` (python -m grader lab): it prints a working URL with its token, and Ctrl-C stops it."""
from __future__ import annotations

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


def test_the_lab_command_prints_a_tokened_url_that_answers(tmp_path):
    root = make_course_copy(str(tmp_path / "course"))
    env = lab.isolated_env(str(tmp_path / "state"))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    log = tmp_path / "lab.log"   # JupyterLab logs to stderr: a file, so a full pipe can never block it
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "grader", "lab", "--root", root], env=env,
                                cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=stderr, text=True,
                                start_new_session=True)
    lab_url = None
    try:
        lines, deadline = [], time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C stops it."):
                break
        text = "".join(lines)
        urls = re.findall(r"http://127\.0\.0\.1:(\d+)/\S*\?token=([0-9a-f]{48})", text)
        assert len(urls) == 2, text            # JupyterLab and formgrader, both on loopback with the token
        assert f"course root {root}" in text
        lab_url = re.search(r"(http://\S+/lab\S*)", text).group(1)
        with urllib.request.urlopen(lab_url, timeout=30) as resp:
            assert resp.status == 200 and b"JupyterLab" in resp.read()
        assert os.path.isdir(os.path.join(root, ".exchange"))   # the course-local exchange was created
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    assert "stopping JupyterLab" in log.read_text()
    with pytest.raises(urllib.error.URLError):   # the server is gone with the command
        urllib.request.urlopen(lab_url, timeout=10)
