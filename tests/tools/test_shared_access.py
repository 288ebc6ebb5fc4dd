"""grader.tools.shared_access: which directories stop other users, and opening only traversal on them."""
from __future__ import annotations

import os
import pathlib
import shutil
import stat
import tempfile

import pytest

from grader.tools.shared_access import blocking_directories, open_traversal


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture()
def base():
    """A folder right under the system's temporary folder (pytest's own lies in a folder only root may enter)."""
    path = tempfile.mkdtemp()
    yield pathlib.Path(path)
    shutil.rmtree(path)


def test_only_the_directories_that_stop_others_are_opened_and_only_for_passing_through(base):
    tmp_path = base
    outer, inner, leaf = tmp_path / "outer", tmp_path / "outer" / "inner", tmp_path / "outer" / "inner" / "leaf"
    leaf.mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(outer, 0o700)
    os.chmod(inner, 0o750)
    os.chmod(leaf, 0o755)
    target = str(leaf / "python")
    assert blocking_directories([target, str(inner)]) == [str(outer), str(inner)]
    lines = []
    assert open_traversal([target], log=lines.append) == [str(outer), str(inner)]
    assert (mode(outer), mode(inner), mode(leaf)) == (0o701, 0o751, 0o755)
    assert lines == [f"shared access: {outer} 0700 -> 0701 (others may pass through, not list)",
                     f"shared access: {inner} 0750 -> 0751 (others may pass through, not list)"]
    assert blocking_directories([target]) == []
