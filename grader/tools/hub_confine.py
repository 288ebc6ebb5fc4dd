"""Start a student's single-user server in bubblewrap and hand it the hub's signals (``make hub``'s students).

JupyterHub's ``LocalProcessSpawner`` stops a server by signalling the process it started: SIGINT, then
SIGTERM, then SIGKILL, to that one pid. Started through bubblewrap, that pid would be bubblewrap's
monitor, which passes no signal on (containers/bubblewrap#369): the first SIGINT would end the monitor
and, through ``--die-with-parent``, SIGKILL the server before it could stop its kernels. So the
students' ``Spawner.cmd`` (grader/tools/hub.py, :func:`~grader.tools.hub.confined_command`) starts this
file, which starts bubblewrap and stays as the spawner's process:

* SIGINT, SIGTERM and SIGHUP are passed on to the server, the command bubblewrap runs: bubblewrap is
  started with ``--unshare-pid``, so the command is the only child of bubblewrap's init, itself the only
  child of bubblewrap's monitor, this process's child. Before the server exists the signal goes to the
  monitor, which ends (and takes the sandbox with it).
* when bubblewrap ends, this process ends with its status; when this process is killed (SIGKILL after
  the hub's timeouts), ``--die-with-parent`` ends bubblewrap and the PID namespace, every process in it.

Run as a script by the student's uid, outside the sandbox (``python -I -S hub_confine.py BWRAP ARGS...``):
the standard library only, nothing of the course imported.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (its main thread's; a bubblewrap process has no other)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except FileNotFoundError:
        if not os.path.exists(f"/proc/{pid}"):
            return []
    found = []  # a kernel without CONFIG_PROC_CHILDREN: every process's parent
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
    return sorted(found)


def sandboxed_command(monitor: int) -> int | None:
    """The command bubblewrap (run with ``--unshare-pid``) started: the child of its init, or None yet."""
    for init in children(monitor):
        for command in children(init):
            return command
    return None


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -I -S hub_confine.py BWRAP [ARGS...] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    started: list[subprocess.Popen] = []
    pending: list[int] = []

    def forward(signum, frame):
        if not started:
            pending.append(signum)
            return
        monitor = started[0].pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(sandboxed_command(monitor) or monitor, signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    started.append(subprocess.Popen(argv))
    for signum in pending:
        forward(signum, None)
    code = started[0].wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
