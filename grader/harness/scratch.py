"""Throw-away courses for the harnesses and tests: nothing under the instructor's course changes.

A scratch course is a folder with copies of ``source/<assignment>/`` (links
resolved), optionally ``release/<assignment>/``, and ``nbgrader_config.py``.
Its gradebook is forced into the folder unless asked otherwise, so a run never
writes into whatever ``NBGRADER_DB_URL`` points at.  Without an ``assignments/``
folder of its own it grades with the repository's assignment content.  It has a
course secret of its own (grader.engine.inputs): a new random one on first use,
or the one given, for runs whose hidden inputs must reproduce.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from ..engine import course
from ..engine.assignment import names
from ..engine.inputs import InputsSecret, write_course_secret

LOCAL_GRADEBOOK = (
    "\n\n# Scratch course (grader.harness.scratch): the gradebook always lives here, whatever\n"
    "# NBGRADER_DB_URL says, so a scratch run never writes to a shared gradebook.\n"
    "c.CourseDirectory.db_url = f\"sqlite:///{os.path.join(ROOT, 'gradebook.db')}\"\n")
_IGNORE = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")


def scratch_course(dest: str | None = None, assignments: list[str] | None = None, repo: str = course.ROOT,
                   copy_release: bool = True, release: bool = False, local_gradebook: bool = True,
                   config: str = "", secret: bytes | None = None) -> str:
    """A scratch course at ``dest`` (default: a new temporary folder); returns its path.

    ``assignments``: which to copy (default: every assignment of ``repo``).  ``copy_release``
    copies the committed release; ``release`` runs nbgrader generate_assignment in the copy
    instead (and fills its gradebook).  ``config`` is appended to the copied nbgrader_config.py.
    ``secret``: the course secret to grade with (32 bytes); by default grading makes a random one.
    """
    root = os.path.abspath(dest) if dest else tempfile.mkdtemp(prefix="course-")
    os.makedirs(root, exist_ok=True)
    chosen = names(repo) if assignments is None else list(assignments)
    for name in chosen:
        for folder in ("source",) + (("release",) if copy_release and not release else ()):
            src, dst = os.path.join(repo, folder, name), os.path.join(root, folder, name)
            if os.path.isdir(src):
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, symlinks=False, ignore=_IGNORE)
    with open(os.path.join(repo, "nbgrader_config.py"), encoding="utf-8") as fh:
        text = fh.read()
    text += (LOCAL_GRADEBOOK if local_gradebook else "") + (f"\n{config}\n" if config else "")
    with open(os.path.join(root, "nbgrader_config.py"), "w", encoding="utf-8") as fh:
        fh.write(text)
    if secret is not None:
        write_course_secret(InputsSecret(config=course.load_config(root)).location(root), secret)
    if release:
        for name in chosen:
            course.release(name, root)
    return root
