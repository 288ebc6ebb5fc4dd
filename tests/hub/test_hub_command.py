"""`python -m grader hub --serve` as a person runs it: it prints the URL and every login, runs the grading
service as the instructor, and Ctrl-C stops it all cleanly.

The command's own code (grader.tools.hub.main) runs in a process of its own for throw-away accounts,
with its state in the test's tmp dir; SIGINT is what Ctrl-C sends to it.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from .sites import throwaway_site

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

COMMAND = """\
import json, sys
from grader.tools import hub
site = hub.Site(**json.loads(sys.argv[1]))
sys.exit(hub.main(site, serve=True))
"""


def processes_of(uids: set[int]) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{entry}").st_uid in uids:
                found.append(int(entry))
        except OSError:
            continue
    return found


def command_lines(pids: list[int]) -> dict[int, list[str]]:
    lines = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                lines[pid] = [part.decode() for part in fh.read().split(b"\0") if part]
        except OSError:
            continue
    return lines


def test_the_command_prints_the_url_and_logins_serves_and_stops_on_ctrl_c(tmp_path):
    with throwaway_site(str(tmp_path / "state"), "s", generate=False) as site:
        options = {"instructor": site.instructor, "students": list(site.students), "public_dir": site.public_dir,
                   "state_dir": site.state_dir, "generate": False}
        out = tmp_path / "out.txt"
        with open(out, "w") as fh:
            command = subprocess.Popen([sys.executable, "-c", COMMAND, json.dumps(options)], stdout=fh,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 180
            while "Ctrl-C stops the hub" not in out.read_text():
                assert command.poll() is None, out.read_text()[-3000:]
                assert time.monotonic() < deadline, out.read_text()[-3000:]
                time.sleep(0.5)
            text = out.read_text()
            url = re.search(r"JupyterHub for the course ml-systems: (http://127\.0\.0\.1:\d+/)", text).group(1)
            for name in site.users:   # every login with its new password
                assert re.search(rf"{re.escape(name)}\s+password: ([a-z2-9]{{4}}-){{3}}[a-z2-9]{{4}}", text), text
            assert f"formgrader (instructor): {url}user/{site.instructor}/formgrader" in text
            # the grading service, as the instructor, on the instructor's course copy
            assert f"grading service: grades each submission as it arrives and releases its feedback to its " \
                   f"student; runs as {site.instructor} in {site.course_dir}" in text, text
            instructor_uid = pwd.getpwnam(site.instructor).pw_uid
            serving = [cmd for cmd in command_lines(processes_of({instructor_uid})).values()
                       if cmd[1:] == ["-m", "grader", "serve", "--root", site.course_dir]]
            assert len(serving) == 1, command_lines(processes_of({instructor_uid}))
            # the course's folders in the exchange, watched before any release: nbgrader's modes, the instructor's
            modes = {name: (os.stat(os.path.join(site.exchange, site.course_id, name)).st_uid,
                            oct(os.stat(os.path.join(site.exchange, site.course_id, name)).st_mode & 0o7777))
                     for name in ("", "outbound", "inbound", "feedback")}
            assert modes == {"": (instructor_uid, "0o755"), "outbound": (instructor_uid, "0o755"),
                             "inbound": (instructor_uid, "0o2733"), "feedback": (instructor_uid, "0o711")}, modes
            port = int(url.rsplit(":", 1)[1].strip("/"))
            stopped = time.monotonic()
            command.send_signal(signal.SIGINT)
            assert command.wait(timeout=60) == 0, out.read_text()[-3000:]
            seconds = time.monotonic() - stopped
        finally:
            if command.poll() is None:
                command.kill()
        text = out.read_text()
        assert "stopping JupyterHub, its proxy and every user's server" in text and "stopped in" in text
        assert seconds < 30, seconds
        uids = {pwd.getpwnam(name).pw_uid for name in site.users}
        assert processes_of(uids) == []
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0   # nothing listens on the hub's port any more
        print(f"\n[hub command] stopped {seconds:.1f} s after Ctrl-C")
