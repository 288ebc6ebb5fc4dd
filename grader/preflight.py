"""Preflight: turn whatever a student handed in into something nbgrader can grade, or say why not.

Submissions are copied into a staging area (``.grading/staging/submitted``,
which the batch points nbgrader at); ``submitted/`` itself is never changed.

* the expected ``<assignment>.ipynb`` is used when present; otherwise a single
  other notebook (a renamed file, "09_spatial (1).ipynb") is graded in its place;
* a notebook must be UTF-8 JSON that nbformat can read (old nbformat versions
  are converted); empty, binary, oversized or invalid files fail with a reason;
* other files are carried along up to a size budget (nbgrader then overwrites
  the course's own files with the instructor's versions).
"""
from __future__ import annotations

import dataclasses
import os
import shutil

import nbformat

MAX_NOTEBOOK_BYTES = 50 * 1024 ** 2
MAX_EXTRA_BYTES = 20 * 1024 ** 2


@dataclasses.dataclass
class Preflight:
    student: str
    ok: bool
    reason: str = ""                  # why it cannot be graded (ok=False)
    notes: list[str] = dataclasses.field(default_factory=list)   # what was adjusted (ok=True)


def _read_notebook(path: str):
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError("the notebook file is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the notebook file is {size} bytes, more than {MAX_NOTEBOOK_BYTES}")
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the notebook is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several types for bad JSON / schema
        raise ValueError(f"the notebook is not valid notebook JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError("the notebook has no list of cells")
    return nb


def stage(submitted_dir: str, staging_dir: str, student: str, assignment: str) -> Preflight:
    """Copy one submission into the staging area, normalised; report what happened."""
    source = os.path.join(submitted_dir, student, assignment)
    dest = os.path.join(staging_dir, student, assignment)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    result = Preflight(student, ok=True)
    expected = f"{assignment}.ipynb"
    notebooks = sorted(f for f in os.listdir(source) if f.endswith(".ipynb") and os.path.isfile(os.path.join(source, f)))
    if expected in notebooks:
        chosen = expected
    elif len(notebooks) == 1:
        chosen = notebooks[0]
        result.notes.append(f"graded {chosen!r} as {expected!r} (the only notebook submitted)")
    elif not notebooks:
        return Preflight(student, False, f"no notebook submitted (expected {expected})")
    else:
        return Preflight(student, False, f"{expected} is missing and {len(notebooks)} other notebooks were "
                                         f"submitted ({', '.join(notebooks[:5])}); cannot tell which to grade")
    try:
        nb = _read_notebook(os.path.join(source, chosen))
    except ValueError as exc:  # the problem first (reports group failures by it), then the file
        return Preflight(student, False, f"{exc} (in {chosen})")
    os.makedirs(dest)
    nbformat.write(nb, os.path.join(dest, expected))
    budget = MAX_EXTRA_BYTES
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints")]
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, source)
            if name.endswith(".ipynb") or os.path.islink(full) or not os.path.isfile(full):
                continue
            size = os.path.getsize(full)
            if size > budget:
                result.notes.append(f"left out {rel} ({size} bytes): over the size budget for extra files")
                continue
            budget -= size
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copyfile(full, os.path.join(dest, rel))
    return result
