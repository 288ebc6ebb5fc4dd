"""The sandbox's mechanisms, its loud degraded modes, and the per-notebook time limit."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time

import nbformat
import pytest
from traitlets.config import Config

from grader.engine import batch, sandbox, seccomp
from grader.engine.nbgrader_ext.execute import TrustedExecute
from grader.engine.nbgrader_ext.skip import SKIP_TAG, SKIPPED_NOTE
from grader.engine.sandbox import Sandbox, SandboxPolicy, SandboxUnavailable
from grader.harness import samples as sample_cells

from ..conftest import ASSIGNMENT, REPO, STYLES

RELEASE = os.path.join(REPO, "release", ASSIGNMENT)


@pytest.fixture(autouse=True)
def _needs_root():
    assert os.geteuid() == 0, "the sandbox switches kernels to unprivileged uids: run the tests as root (as CI does)"


def mounted(path: str) -> bool:
    with open("/proc/mounts", encoding="utf-8") as fh:
        return any(line.split()[1] == path for line in fh)


def test_the_kernel_command_isolates_and_limits():
    policy = SandboxPolicy(memory_bytes=2 ** 30, max_processes=32)
    with Sandbox(policy, {"spatial_checks/__init__.py": b""}) as box:
        cmd = box.wrap(["python", "-m", "ipykernel_launcher"])
        for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--clearenv", "--die-with-parent",
                     "--new-session"):
            assert flag in cmd
        assert cmd[cmd.index("--chdir") + 1] == box.work
        assert f"--reuid={box.uid}" in cmd and box.uid >= policy.first_uid and "--no-new-privs" in cmd
        assert [a for a in cmd if a.startswith(("--as=", "--nproc="))] == [f"--as={2 ** 30}", "--nproc=32"]
        bound = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("--bind", "--ro-bind")]
        # what it needs is bound (the scratch and I/O directories, the Python environment), the course is not
        assert {box.work, box.io, *sandbox._python_roots()} <= set(bound), bound
        assert not any(p == REPO or p.startswith(REPO + os.sep) and ".venv" not in p for p in bound), bound
        assert cmd[-3:] == ["python", "-m", "ipykernel_launcher"]
        assert box.disk_bounded and mounted(box.root)
        assert os.stat(os.path.join(box.work, "spatial_checks", "__init__.py")).st_uid == box.uid
        # nobody else on the machine reads the submission: others may only pass through the root to the slot
        # uid's own directories
        modes = {path: (os.stat(path).st_mode & 0o777, os.stat(path).st_uid) for path in (box.root, box.work, box.io)}
        assert modes == {box.root: (0o711, 0), box.work: (0o700, box.uid), box.io: (0o700, box.uid)}
    assert not mounted(box.root) and not os.path.exists(box.root)


def test_files_that_would_escape_the_scratch_directory_are_dropped():
    with Sandbox(SandboxPolicy(), {"../escape.txt": b"x", "a/../../escape2.txt": b"y", "ok.txt": b"z"}) as box:
        assert sorted(os.listdir(box.work)) == [".config", "ok.txt"]
        assert not os.path.exists(os.path.join(box.root, "escape.txt"))
        assert not os.path.exists(os.path.join(box.root, "escape2.txt"))


def test_missing_bubblewrap_refuses_to_grade(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match=r"bubblewrap \(bwrap\) is not installed: install it"):
        Sandbox(SandboxPolicy())


def test_isolation_needs_root(monkeypatch):
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxUnavailable, match="needs root to switch to an unprivileged uid"):
        Sandbox(SandboxPolicy(mode="rlimits"))


def test_rlimits_mode_is_announced_as_degraded(caplog):
    with caplog.at_level(logging.WARNING, logger="grader.engine.sandbox"):
        with Sandbox(SandboxPolicy(mode="rlimits")) as box:
            cmd = box.wrap(["python"])
    assert "bwrap" not in cmd and cmd[0] == "setpriv"
    assert "SANDBOX DEGRADED: grading with mode='rlimits'" in caplog.text


def test_an_unmountable_disk_limit_is_announced_and_recorded(monkeypatch, caplog):
    real_run = subprocess.run

    def run(cmd, *args, **kwargs):
        if cmd[0] == "mount":
            raise subprocess.CalledProcessError(32, cmd, stderr="mount: permission denied")
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(sandbox.subprocess, "run", run)
    with caplog.at_level(logging.WARNING, logger="grader.engine.sandbox"):
        with Sandbox(SandboxPolicy()) as box:
            assert not box.disk_bounded and not mounted(box.root)
            assert box.describe().endswith("disk 256 MiB (disk unbounded: no tmpfs)")
    assert "SANDBOX DEGRADED: could not mount a 256 MiB tmpfs" in caplog.text
    assert "mount: permission denied" in caplog.text


def test_disk_bytes_zero_is_announced(caplog):
    with caplog.at_level(logging.WARNING, logger="grader.engine.sandbox"):
        with Sandbox(SandboxPolicy(disk_bytes=0)) as box:
            assert box.describe().endswith("(disk unbounded: no tmpfs)")
    assert "disk_bytes = 0" in caplog.text


def test_the_notebook_time_limit_stops_grading_and_is_recorded():
    release_nb = nbformat.read(os.path.join(RELEASE, f"{ASSIGNMENT}.ipynb"), as_version=4)
    nb = sample_cells.build_notebook(release_nb, sample_cells.read_style(STYLES, "im2col"))
    first_test = next(i for i, c in enumerate(nb.cells)
                      if c.metadata.get("nbgrader", {}).get("grade_id") == "test_conv_output_size")
    for k in range(6):  # 6 x 3 s, each under the cell limit, together over the notebook's limit
        nb.cells.insert(first_test + 1 + k, nbformat.v4.new_code_cell("import time\ntime.sleep(3)"))
    config = Config()
    config.SandboxPolicy.cell_timeout = 5
    config.SandboxPolicy.check_timeout = 5
    config.SandboxPolicy.submission_timeout = 14
    files = batch.kernel_files(RELEASE, RELEASE, [])
    executed, record = TrustedExecute(config=config).run_notebook(
        nb, files, {"nbgrader": {"student": "slow", "assignment": ASSIGNMENT, "notebook": ASSIGNMENT}})
    assert [i.kind for i in record.incidents] == ["time_limit"], record.incidents
    assert record.incidents[0].cell.startswith("cell ")  # one of the sleeping cells
    assert "14 s ran out here" in record.incidents[0].detail
    assert record.seconds < 14 + 10
    graded = {c.metadata.nbgrader["grade_id"]: c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade")
              and c.cell_type == "code" and not c.metadata.nbgrader.get("solution")}
    assert not any(o.output_type == "error" for o in graded["test_conv_output_size"].outputs)
    last = graded["test_simplecnn_training"].outputs
    assert any(o.output_type == "error" for o in last)
    assert "not run: the notebook reached its time limit" in last[0].text


def grade(cells: list, student: str, config: Config | None = None):
    """A notebook of ``cells`` graded in the sandbox (the release's files beside it) under ``config``."""
    files = batch.kernel_files(RELEASE, RELEASE, [])
    return TrustedExecute(config=config or Config()).run_notebook(
        nbformat.v4.new_notebook(cells=cells), files,
        {"nbgrader": {"student": student, "assignment": ASSIGNMENT, "notebook": ASSIGNMENT}})


def grade_between(source: str, student: str, config: Config):
    """``x = 1``, the cell ``source``, then ``print(x + 1)``: graded in the sandbox under ``config``."""
    return grade([nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(source),
                  nbformat.v4.new_code_cell("print(x + 1)")], student, config)


def test_a_cell_that_ignores_the_interrupt_among_its_own_processes_is_a_process_limit_and_a_timeout():
    # the cell ignores the interrupt and leaves 40 processes behind: the kernel is restarted without it, and the
    # record names the same two incidents whether or not the kernel went idle after the interrupt
    config = Config()
    config.SandboxPolicy.cell_timeout = 3
    config.TrustedExecute.interrupt_grace = 2   # the kernel ignores the interrupt: unresponsive after 2 s
    executed, record = grade_between(
        "import signal, subprocess, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "kids = [subprocess.Popen(['sleep', '60']) for _ in range(40)]\ntime.sleep(60)", "crowd", config)
    assert [(i.kind, i.cell) for i in record.incidents] == [("process_limit", "cell 1"), ("timeout", "cell 1")]
    assert record.incidents[0].detail == "41 processes in the sandbox"
    assert record.kernel_starts == 2
    assert [o.get("ename") for o in executed.cells[1].outputs if o.output_type == "error"][-1] == "ProcessLimit"
    assert executed.cells[2].outputs[0].text == "2\n"   # the earlier cell was replayed in the new kernel


def test_a_cell_slow_to_stop_after_the_interrupt_is_a_timeout_and_the_kernel_goes_on():
    # the interrupted cell takes 6 s to stop, as a busy machine can make it: within the grace, not unresponsive
    config = Config()
    config.SandboxPolicy.cell_timeout = 2
    executed, record = grade_between(
        "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    time.sleep(6)\n    raise",
        "slow_stop", config)
    assert [(i.kind, i.cell, i.detail) for i in record.incidents] == [("timeout", "cell 1", "interrupted after 2 s")]
    assert record.kernel_starts == 1
    assert [o.get("ename") for o in executed.cells[1].outputs if o.output_type == "error"] == [
        "KeyboardInterrupt", "CellTimeoutError"]
    assert executed.cells[2].outputs[0].text == "2\n"


def test_a_cell_tagged_skip_when_grading_is_not_run_and_says_so():
    # the sanitize step leaves the tag only where the source notebook put it (tests/engine/test_skip_when_grading.py)
    executed, record = grade([
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("x = 100\nraise SystemExit", metadata={"tags": [SKIP_TAG]}),
        nbformat.v4.new_code_cell("print(x + 1)")], "demo_cell")
    assert executed.cells[1].outputs == [nbformat.v4.new_output("stream", name="stdout", text=SKIPPED_NOTE)]
    assert executed.cells[1].execution_count is None
    assert executed.cells[2].outputs[0].text == "2\n"
    assert record.incidents == [] and record.kernel_starts == 1


def test_the_kernel_starts_without_its_debugger_which_the_sandbox_leaves_out():
    executed, record = grade([nbformat.v4.new_code_cell(
        "import sys\nprint(sorted(m for m in sys.modules if m.startswith('debugpy') or 'pydev' in m))\n"
        "try:\n    import debugpy\nexcept ImportError as exc:\n    print(type(exc).__name__)")], "no_debugger")
    assert SandboxPolicy().unused_packages == ["debugpy"]
    assert "".join(o.text for o in executed.cells[0].outputs) == "[]\nModuleNotFoundError\n"
    assert record.incidents == [] and record.kernel_starts == 1


def test_descendants_are_the_whole_process_tree_below_a_pid():
    # sh -> (sleep, sh -> sleep): three processes below the outer shell, one below the inner
    outer = subprocess.Popen(["sh", "-c", "sleep 30 & sh -c 'sleep 30 & wait' & wait"])
    below: set[int] = set()
    try:
        comm: dict[int, str] = {}
        for _ in range(200):   # until the shells have started all three (a forked child is "sh" until its exec)
            below = sandbox.descendants(outer.pid)
            comm = {pid: open(f"/proc/{pid}/comm", encoding="ascii").read().strip() for pid in below}
            if sorted(comm.values()) == ["sh", "sleep", "sleep"]:
                break
            time.sleep(0.05)
        assert sorted(comm.values()) == ["sh", "sleep", "sleep"]
        inner = next(pid for pid, name in comm.items() if name == "sh")
        assert len(sandbox.descendants(inner)) == 1
        assert sandbox.descendants(outer.pid) >= sandbox.descendants(inner)
    finally:
        for pid in below:
            os.kill(pid, 9)
        outer.wait()

# ------------------------------------------------------------------ seccomp and small leaks
def test_the_seccomp_program_for_one_denied_call():
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050001, 0x00050026
    assert seccomp.instructions({"keyctl": (250, 219)}) == [
        (ld, 0, 0, 4),                     # 0: the architecture
        (jeq, 0, 7, 0xC000003E),           # 1: x86_64, else to 9
        (ld, 0, 0, 0),                     # 2: the syscall number
        (jge, 19, 0, 0x40000000),          # 3: x32 ABI: deny (23)
        (jeq, 12, 0, 56),                  # 4: clone: its flags (17)
        (jeq, 18, 0, 435),                 # 5: clone3: ENOSYS (24)
        (jeq, 13, 0, 135),                 # 6: personality: its argument (20)
        (jeq, 15, 0, 250),                 # 7: keyctl: deny (23)
        (ret, 0, 0, allow),                # 8
        (jeq, 0, 6, 0xC00000B7),           # 9: aarch64, else to 16
        (ld, 0, 0, 0),                     # 10
        (jeq, 5, 0, 220),                  # 11: clone (17)
        (jeq, 11, 0, 435),                 # 12: clone3 (24)
        (jeq, 6, 0, 92),                   # 13: personality (20)
        (jeq, 8, 0, 219),                  # 14: keyctl (23)
        (ret, 0, 0, allow),                # 15
        (ret, 0, 0, eperm),                # 16: any other architecture
        (ld, 0, 0, 16),                    # 17: clone's flags
        (jset, 4, 0, 0x7E020000),          # 18: a new namespace: deny (23)
        (ret, 0, 0, allow),                # 19
        (ld, 0, 0, 16),                    # 20: personality's argument
        (jeq, 3, 0, 0),                    # 21: the default persona (25)
        (jeq, 2, 0, 0xFFFFFFFF),           # 22: a query (25)
        (ret, 0, 0, eperm),                # 23: deny
        (ret, 0, 0, enosys),               # 24
        (ret, 0, 0, allow),                # 25
    ]
    code = seccomp.program({"keyctl": (250, 219)})
    assert len(code) == 26 * 8
    assert code[:16] == b"\x20\x00\x00\x00\x04\x00\x00\x00\x15\x00\x00\x07\x3e\x00\x00\xc0"  # u16 code, u8, u8, u32


def test_the_policy_records_the_seccomp_filter():
    assert "seccomp denies 49 syscalls, disk 256 MiB" in SandboxPolicy().describe()
    assert "no seccomp, disk" in SandboxPolicy(seccomp=False).describe()
    assert "no seccomp (bwrap mode only)" in SandboxPolicy(mode="rlimits").describe()
    assert len(seccomp.DENIED) == 49 and ({"add_key", "request_key", "keyctl", "unshare", "ptrace"}
                                          <= set(seccomp.DENIED))


def test_the_filter_is_handed_to_bwrap_on_a_descriptor_closed_after_use():
    with Sandbox(SandboxPolicy()) as box:
        cmd = box.wrap(["python"])
        fd = int(cmd[cmd.index("--seccomp") + 1])
        assert box.inherit_fds == [fd] and os.read(fd, 1 << 16) == seccomp.program()
        box.release_fds()
        assert box.inherit_fds == [] and not is_open(fd)
        cmd = box.wrap(["python"])   # never started: closing the sandbox closes it
        fd = int(cmd[cmd.index("--seccomp") + 1])
    assert box.inherit_fds == [] and not is_open(fd)
    with Sandbox(SandboxPolicy(seccomp=False)) as box:
        assert "--seccomp" not in box.wrap(["python"]) and box.inherit_fds == []


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


INSIDE = """\
import ctypes, errno, json, os, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"x86_64": {"add_key": 248, "keyctl": 250, "unshare": 272}, \
"aarch64": {"add_key": 217, "keyctl": 219, "unshare": 97}}
nr = NR[os.uname().machine]

def call(*args):
    result = libc.syscall(*args)
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]

seen = {  # KEY_SPEC_PROCESS_KEYRING (-2): a keyring that ends with this process
    "add_key": call(nr["add_key"], b"user", b"probe", b"x", ctypes.c_size_t(1), ctypes.c_int(-2)),
    "keyctl": call(nr["keyctl"], 0, ctypes.c_int(-2), 1),   # KEYCTL_GET_KEYRING_ID, create
}
if os.getuid() != 0:  # as root outside, a user namespace would be made for real: not asked for there
    seen["unshare(CLONE_NEWUSER)"] = call(nr["unshare"], 0x10000000)
    seen["personality(ADDR_NO_RANDOMIZE)"] = "ok" if libc.personality(0x0040000) >= 0 else "EPERM"
import numpy, zmq
seen["numpy"] = float(numpy.linalg.norm(numpy.arange(4.0).reshape(2, 2) @ numpy.eye(2)) ** 2)
ctx = zmq.Context()
a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
a.bind("inproc://probe"); b.connect("inproc://probe"); a.send(b"ping")
seen["zmq"] = b.recv().decode()
thread = threading.Thread(target=lambda: None); thread.start(); thread.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
seen["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
print(json.dumps(seen, sort_keys=True))
"""


def run_inside(policy: SandboxPolicy, code: str) -> str:
    with Sandbox(policy) as box:
        cmd = box.wrap([sys.executable, "-c", code])
        try:
            done = subprocess.run(cmd, pass_fds=box.inherit_fds, capture_output=True, text=True, timeout=120)
        finally:
            box.release_fds()
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_filter_refuses_the_keyring_and_namespaces_inside_and_numpy_and_zmq_work():
    inside = json.loads(run_inside(SandboxPolicy(), INSIDE))
    assert inside == {"add_key": "EPERM", "keyctl": "EPERM", "unshare(CLONE_NEWUSER)": "EPERM",
                      "personality(ADDR_NO_RANDOMIZE)": "EPERM", "numpy": 14.0, "zmq": "ping", "fork": 7}
    outside = subprocess.run([sys.executable, "-c", INSIDE], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(outside.stdout) == {"add_key": "ok", "keyctl": "ok", "numpy": 14.0, "zmq": "ping", "fork": 7}
    # the same sandbox without the filter: the calls go through, so the filter is what refuses them
    unfiltered = json.loads(run_inside(SandboxPolicy(seccomp=False), INSIDE))
    assert unfiltered == {**inside, "add_key": "ok", "keyctl": "ok", "unshare(CLONE_NEWUSER)": "ok",
                          "personality(ADDR_NO_RANDOMIZE)": "ok"}


LEAKS = """\
import glob, json
paths = ["/proc/1/cmdline", "/proc/1/task/1/cmdline"] + json.loads(__INSTALL__)
print(json.dumps({path: open(path, "rb").read().decode() for path in paths}))
"""


def test_the_sandbox_reads_neither_bwraps_command_line_nor_the_editable_installs_paths():
    install = sandbox._install_paths()
    names = sorted(os.path.basename(p) for p in install)
    assert any(n.startswith("__editable__") and n.endswith(".pth") for n in names), names
    assert any(n.startswith("__editable__") and n.endswith("finder.py") for n in names), names
    assert all(REPO.encode() in open(p, "rb").read() for p in install if p.endswith(("finder.py", ".json")))
    seen = json.loads(run_inside(SandboxPolicy(), LEAKS.replace("__INSTALL__", repr(json.dumps(install)))))
    assert seen == {path: "" for path in ["/proc/1/cmdline", "/proc/1/task/1/cmdline", *install]}


FDS = ("import json, os; print(json.dumps(sorted({os.readlink('/proc/self/fd/' + fd) "
       "for fd in os.listdir('/proc/self/fd')"
       " if os.path.exists('/proc/self/fd/' + fd)})))")


def test_the_kernel_holds_no_file_of_the_grader_open():
    async def kernel_fds(box):
        km = box.kernel_manager()
        await km.start_kernel()
        assert box.inherit_fds == []   # the filter's descriptor is closed once the kernel has started
        kc = km.client()
        kc.start_channels()
        texts = []
        try:
            await kc.wait_for_ready(timeout=60)
            await kc.execute_interactive(FDS, timeout=60,
                                         output_hook=lambda m: texts.append(m["content"].get("text", "")))
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        return json.loads("".join(texts))

    with Sandbox(SandboxPolicy()) as box:
        targets = asyncio.run(kernel_fds(box))
        assert "kernel.log" not in os.listdir(box.root)
    # pipes, sockets, event fds, and the kernel's original stdout/stderr, which are /dev/null
    assert [t for t in targets if t.startswith("/")] == ["/dev/null"], targets
