"""The sandbox's mechanisms, its loud degraded modes, and the per-notebook time limit."""
from __future__ import annotations

import logging
import os
import subprocess

import nbformat
import pytest
from traitlets.config import Config

from grader import batch, course, sandbox
from grader.nbgrader_ext.execute import TrustedExecute
from grader.samples import cells as sample_cells
from grader.sandbox import Sandbox, SandboxPolicy, SandboxUnavailable

from ..conftest import REPO

RELEASE = os.path.join(REPO, "release", course.ASSIGNMENT)


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
    with caplog.at_level(logging.WARNING, logger="grader.sandbox"):
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
    with caplog.at_level(logging.WARNING, logger="grader.sandbox"):
        with Sandbox(SandboxPolicy()) as box:
            assert not box.disk_bounded and not mounted(box.root)
            assert box.describe().endswith("disk 256 MiB (disk unbounded: no tmpfs)")
    assert "SANDBOX DEGRADED: could not mount a 256 MiB tmpfs" in caplog.text
    assert "mount: permission denied" in caplog.text


def test_disk_bytes_zero_is_announced(caplog):
    with caplog.at_level(logging.WARNING, logger="grader.sandbox"):
        with Sandbox(SandboxPolicy(disk_bytes=0)) as box:
            assert box.describe().endswith("(disk unbounded: no tmpfs)")
    assert "disk_bytes = 0" in caplog.text


def test_the_notebook_time_limit_stops_grading_and_is_recorded():
    release_nb = nbformat.read(os.path.join(RELEASE, f"{course.ASSIGNMENT}.ipynb"), as_version=4)
    nb = sample_cells.build_notebook(release_nb, sample_cells.read_style("im2col"))
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
        nb, files, {"nbgrader": {"student": "slow", "assignment": course.ASSIGNMENT, "notebook": course.ASSIGNMENT}})
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
