"""Preflight: turn whatever a student handed in into something nbgrader can grade, or say why not.

A submission is data, never links.  :func:`read_submission` walks
``submitted/<student>/<assignment>/`` through directory file descriptors and
opens every file with ``O_NOFOLLOW``: a symbolic link anywhere (the student's
folder, the assignment folder, the notebook, any extra file), a device, a FIFO,
a socket, or a hard link to a file outside the submission refuses the whole
submission with a reason, before anything of it is read.  The walk is bounded
(entries, depth, bytes), so an odd tree costs the coordinator a bounded time.

:func:`stage` then writes the files it read into a staging area
(``.grading/staging/submitted``, which the batch points nbgrader at);
``submitted/`` itself is never changed:

* the expected ``<assignment>.ipynb`` is used when present; otherwise a single
  other notebook (a renamed file, "hw1 (1).ipynb") is graded in its place;
* a notebook must be UTF-8 JSON in nbformat 4 (the format nbgrader releases),
  inside the bounds of :class:`Preflight` (cells, source, outputs,
  attachments, metadata, nesting); empty, binary, oversized, invalid or
  over-bound notebooks fail with a reason, before nbgrader touches them;
* other files are carried along up to a size budget (nbgrader then overwrites
  the course's own files with the instructor's versions); a file whose name is
  not clean text is left out with a note.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import stat
import unicodedata

import nbformat
from traitlets import Integer
from traitlets.config import Configurable

IGNORED_DIRS = ("__pycache__", ".ipynb_checkpoints")
GLOB_CHARACTERS = set("*?[]")
STUDENT_ID_LENGTH = 128   # nbgrader's Student.id column


class Refused(ValueError):
    """The submission cannot be graded; the message says why, problem first."""


class Preflight(Configurable):
    """Bounds on what one submission may hand in (configure as ``c.Preflight.*``)."""

    max_notebook_bytes = Integer(50 * 1024 ** 2, help="Largest notebook file").tag(config=True)
    max_extra_bytes = Integer(20 * 1024 ** 2, help="Extra files carried into the kernel's directory, "
                                                   "in all (larger ones are left out with a note)").tag(config=True)
    max_entries = Integer(2000, help="Files and folders in one submission").tag(config=True)
    max_depth = Integer(16, help="Folder nesting in one submission").tag(config=True)
    max_read_bytes = Integer(256 * 1024 ** 2, help="Bytes read (and digested) from one submission").tag(config=True)
    max_cells = Integer(1000, help="Cells in the notebook").tag(config=True)
    max_source_bytes = Integer(2 * 1024 ** 2, help="Source of all cells together").tag(config=True)
    max_output_bytes = Integer(40 * 1024 ** 2, help="Stored outputs of all cells together "
                                                    "(nbgrader clears them before grading)").tag(config=True)
    max_attachment_bytes = Integer(10 * 1024 ** 2, help="Cell attachments together").tag(config=True)
    max_metadata_bytes = Integer(1024 ** 2, help="Notebook and cell metadata together").tag(config=True)
    max_json_depth = Integer(64, help="Nesting of the notebook's JSON").tag(config=True)
    max_json_values = Integer(4_000_000, help="JSON values (roughly: commas and brackets) in the notebook, "
                                              "checked before it is parsed").tag(config=True)


@dataclasses.dataclass
class Staged:
    """What preflight made of one submission."""

    student: str
    ok: bool
    reason: str = ""                  # why it cannot be graded (ok=False)
    notes: list[str] = dataclasses.field(default_factory=list)   # what was adjusted (ok=True)


@dataclasses.dataclass
class Entry:
    """One file or folder of a submission, as read through ``O_NOFOLLOW`` descriptors."""

    rel: str                  # path relative to the submission (str with surrogate escapes, as os gives it)
    is_dir: bool
    size: int = 0
    sha256: bytes = b""
    data: bytes | None = None  # kept for notebooks and for extra files inside the budget


@dataclasses.dataclass
class Submission:
    entries: list[Entry]
    digest: str               # names and contents of everything handed in
    notes: list[str]


def _text_problem(name: str) -> str:
    """Why a name is not clean text ("" when it is): not UTF-8, or control/unassigned characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        return "contains control or unassigned characters"
    return ""


def student_id_problem(student: str) -> str:
    """Why a folder name under ``submitted/`` cannot be used as a student id ("" when it can)."""
    problem = _text_problem(student)
    if problem:
        return problem
    if not student or student.startswith("."):
        return "is empty or starts with a dot"
    if len(student) > STUDENT_ID_LENGTH:
        return f"is {len(student)} characters long, more than nbgrader's {STUDENT_ID_LENGTH}"
    if GLOB_CHARACTERS & set(student):
        return "contains one of * ? [ ] (nbgrader reads student ids as glob patterns)"
    return ""


def printable(name: str, limit: int = 80) -> str:
    """A name as it may appear in a reason: escapes shown, long names cut."""
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in name)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open_dir(name: str, dir_fd: int | None, shown: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # O_DIRECTORY | O_NOFOLLOW on a link gives either
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            raise Refused(f"{shown} is {'a symbolic link' if stat.S_ISLNK(mode) else _kind(mode)}; "
                          "submissions must be plain files and folders") from None
        raise Refused(f"{shown} cannot be opened: {exc.strerror}") from None


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


class _Walk:
    """One bounded walk of a submission through directory descriptors."""

    def __init__(self, limits: Preflight, keep):
        self.limits, self.keep = limits, keep
        self.entries: list[Entry] = []
        self.read = 0
        self.extra_budget = limits.max_extra_bytes
        self.notes: list[str] = []
        self.links: dict[tuple[int, int], list] = {}    # (dev, ino) -> [st_nlink, paths seen]

    def directory(self, fd: int, prefix: str, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise Refused(f"folders are nested more than {self.limits.max_depth} deep (at {printable(prefix)})")
        with os.scandir(fd) as it:
            listing = sorted(it, key=lambda e: os.fsencode(e.name))
        for entry in listing:
            rel = prefix + entry.name
            if len(self.entries) >= self.limits.max_entries:
                raise Refused(f"the submission holds more than {self.limits.max_entries} files and folders")
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                self.entries.append(Entry(rel, True))
                sub = _open_dir(entry.name, fd, printable(rel))
                try:
                    self.directory(sub, rel + "/", depth + 1)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(st.st_mode):
                self.file(fd, entry.name, rel, st)
            else:
                raise Refused(f"{printable(rel)} is {_kind(st.st_mode)}; submissions must be plain files and folders")

    def file(self, dir_fd: int, name: str, rel: str, st: os.stat_result) -> None:
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Refused(f"{printable(rel)} is a symbolic link; submissions must be plain files and folders") \
                    from None
            raise Refused(f"{printable(rel)} cannot be opened: {exc.strerror}") from None
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
                raise Refused(f"{printable(rel)} changed while it was read")
            if opened.st_nlink > 1:
                self.links.setdefault((opened.st_dev, opened.st_ino), [opened.st_nlink, []])[1].append(rel)
            if self.read + opened.st_size > self.limits.max_read_bytes:
                raise Refused(f"the submission holds more than {self.limits.max_read_bytes} bytes")
            keep = self.keep(rel, opened.st_size, self)
            digest, chunks = hashlib.sha256(), []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                self.read += len(chunk)
                if self.read > self.limits.max_read_bytes:
                    raise Refused(f"the submission holds more than {self.limits.max_read_bytes} bytes")
                if keep:
                    chunks.append(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks) if keep else None
        self.entries.append(Entry(rel, False, opened.st_size, digest.digest(), data))

    def check_hard_links(self) -> None:
        for nlink, paths in self.links.values():
            if len(paths) < nlink:
                raise Refused(f"{printable(paths[0])} is a hard link to a file outside the submission; "
                              "submissions must be plain files")


def _keep(limits: Preflight):
    """Which files' bytes a walk keeps: top-level notebooks, and extra files while the budget lasts."""
    def keep(rel: str, size: int, walk: _Walk) -> bool:
        if "/" not in rel and rel.endswith(".ipynb"):
            return size <= limits.max_notebook_bytes
        if rel.endswith(".ipynb") or any(part in IGNORED_DIRS for part in rel.split("/")[:-1]):
            return False
        if _text_problem(rel):
            walk.notes.append(f"left out {printable(rel)}: its name is not clean text")
            return False
        if size > walk.extra_budget:
            walk.notes.append(f"left out {printable(rel)} ({size} bytes): over the size budget for extra files")
            return False
        walk.extra_budget -= size
        return True
    return keep


def read_submission(submitted_dir: str, student: str, assignment: str, limits: Preflight | None = None) -> Submission:
    """Everything ``submitted/<student>/<assignment>/`` holds, read without following any link.

    Raises :class:`Refused` for links, special files, outside hard links and trees over the bounds.
    """
    limits = limits or Preflight()
    top = os.open(submitted_dir, _DIR_FLAGS)
    opened = [top]
    try:
        opened.append(_open_dir(student, top, f"the folder submitted/{printable(student)}"))
        opened.append(_open_dir(assignment, opened[-1], f"the folder submitted/{printable(student)}/{assignment}"))
        walk = _Walk(limits, _keep(limits))
        walk.directory(opened[-1], "", 0)
        walk.check_hard_links()
    finally:
        for fd in reversed(opened):
            os.close(fd)
    digest = hashlib.sha256()
    for entry in walk.entries:
        digest.update(os.fsencode(entry.rel) + (b"/\0" if entry.is_dir else b"\0") + entry.sha256)
    return Submission(walk.entries, digest.hexdigest(), walk.notes)


def _json_shape(data, limits: Preflight) -> None:
    """Refuse JSON nested deeper than the bound (iteratively: no recursion on hostile input)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limits.max_json_depth:
            raise Refused(f"the notebook's JSON is nested more than {limits.max_json_depth} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False)) if value is not None else 0


def _check_bounds(data: dict, limits: Preflight) -> None:
    cells = data["cells"]
    if len(cells) > limits.max_cells:
        raise Refused(f"the notebook has {len(cells)} cells, more than {limits.max_cells}")
    if not all(isinstance(cell, dict) for cell in cells):
        raise Refused("the notebook has a cell that is not a JSON object")
    _json_shape(data, limits)
    totals = {"source": 0, "output": 0, "attachment": 0, "metadata": _size(data.get("metadata"))}
    for cell in cells:
        source = cell.get("source", "")
        totals["source"] += len(source) if isinstance(source, str) else _size(source)
        totals["output"] += _size(cell.get("outputs"))
        totals["attachment"] += _size(cell.get("attachments"))
        totals["metadata"] += _size(cell.get("metadata"))
    labels = {"source": "cell sources", "output": "stored outputs", "attachment": "attachments",
              "metadata": "metadata"}
    for what, total in totals.items():
        bound = getattr(limits, f"max_{what}_bytes")
        if total > bound:
            raise Refused(f"the notebook's {labels[what]} are {total} bytes, more than {bound}")


def parse_notebook(raw: bytes, limits: Preflight | None = None) -> nbformat.NotebookNode:
    """A notebook node from a submitted file's bytes, or :class:`Refused` with the reason."""
    limits = limits or Preflight()
    if not raw:
        raise Refused("the notebook file is empty")
    if len(raw) > limits.max_notebook_bytes:
        raise Refused(f"the notebook file is {len(raw)} bytes, more than {limits.max_notebook_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"the notebook is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    values = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if values > limits.max_json_values:
        raise Refused(f"the notebook holds about {values} JSON values, more than {limits.max_json_values}")
    try:
        data = json.loads(text)
    except RecursionError:
        raise Refused(f"the notebook's JSON is nested more than {limits.max_json_depth} levels deep") from None
    except ValueError as exc:
        raise Refused(f"the notebook is not valid notebook JSON: NotJSONError: {str(exc)[:200]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise Refused("the notebook has no list of cells")
    _check_bounds(data, limits)
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Refused("the notebook holds text that is not valid Unicode (a lone surrogate escape)") from None
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several types for bad JSON / schema
        raise Refused(f"the notebook is not valid notebook JSON: {type(exc).__name__}: {str(exc)[:200]}") from None


def _choose_notebook(submission: Submission, expected: str) -> tuple[Entry | None, str]:
    """The notebook to grade, and a note (or, with no entry, the reason there is none)."""
    top = [e for e in submission.entries if "/" not in e.rel]
    notebooks = [e for e in top if not e.is_dir and e.rel.endswith(".ipynb")]
    named = [e for e in notebooks if e.rel == expected]
    if named:
        return named[0], ""
    if len(notebooks) == 1:
        return notebooks[0], f"graded {printable(notebooks[0].rel)!r} as {expected!r} (the only notebook submitted)"
    if not notebooks:
        folder = any(e.is_dir and e.rel == expected for e in top)
        return None, f"no notebook submitted (expected {expected}{'; ' + expected + ' is a folder' if folder else ''})"
    names = ", ".join(printable(e.rel, 40) for e in notebooks[:5])
    return None, (f"{expected} is missing and {len(notebooks)} other notebooks were submitted ({names}); "
                  "cannot tell which to grade")


def stage(submission: Submission, staging_dir: str, student: str, assignment: str,
          limits: Preflight | None = None) -> Staged:
    """Write one submission (as :func:`read_submission` read it) into the staging area, normalised."""
    limits = limits or Preflight()
    dest = os.path.join(staging_dir, student, assignment)
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    expected = f"{assignment}.ipynb"
    chosen, note = _choose_notebook(submission, expected)
    if chosen is None:
        return Staged(student, False, note)
    result = Staged(student, True, notes=[note] if note else [])
    if chosen.data is None:
        return Staged(student, False, f"the notebook file is {chosen.size} bytes, more than "
                                      f"{limits.max_notebook_bytes} (in {printable(chosen.rel)})")
    try:
        nb = parse_notebook(chosen.data, limits)
    except Refused as exc:  # the problem first (reports group failures by it), then the file
        return Staged(student, False, f"{exc} (in {printable(chosen.rel)})")
    os.makedirs(dest)
    nbformat.write(nb, os.path.join(dest, expected))
    for entry in submission.entries:
        if entry.is_dir or entry.data is None or entry.rel.endswith(".ipynb"):
            continue
        path = os.path.join(dest, entry.rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(entry.data)
    result.notes.extend(submission.notes)
    return result
