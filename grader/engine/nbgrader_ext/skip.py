"""SkipWhenGrading: cells the instructor marks as demonstrations are not run when a submission is graded.

A course notebook often has read-only cells that only show something to the student: a figure of
feature maps, a timing table.  Under grading nobody sees them (figures are drawn for the ``agg``
backend and discarded), yet each costs its kernel the imports and the work; a plotting cell that
imports matplotlib costs about half a CPU-second per submission.  The instructor tags such a cell
``skip-when-grading`` in the source notebook (jupytext: ``# %% tags=["skip-when-grading"] ...``).

The tag counts only where the instructor put it.  A student's copy of the notebook is theirs to edit,
tags included, so this sanitize step (after ``OverwriteCells``, which has restored the locked cells'
source, type and locked flag) takes the tag off every cell of the submission and puts it back on the
cells whose grade id the source notebook tags, unless the student's own code needs them: a marked cell
still runs when another cell that runs reads, as a global, a name only the marked cell binds (a
student who plots with the ``plt`` a demonstration imported).
:class:`~grader.engine.nbgrader_ext.execute.TrustedExecute` then runs no cell that carries the tag and
shows :data:`SKIPPED_NOTE` as its output.  Only a locked code cell with a grade id that is neither a
solution nor a test may be marked; a source that marks another is refused by name (:class:`SkipTagError`)
by ``make release`` and by grading.  The tag is in the sanitized notebook, so it is part of the
execution key (grader.engine.jobs).
"""
from __future__ import annotations

import json
import os
import symtable

from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from ..assignment import AssignmentError
from ..library_policy import python_source

SKIP_TAG = "skip-when-grading"
SKIPPED_NOTE = ("Not run when grading: your instructor marked this cell as a demonstration. "
                "It does not change your score.\n")


class SkipTagError(AssignmentError):
    """The source notebook tags a cell that must run when grading."""


def is_skipped(cell) -> bool:
    """True for a cell that carries the tag (after :class:`SkipWhenGrading`, only where the instructor put it)."""
    return SKIP_TAG in (cell.get("metadata", {}).get("tags") or ())


def _markable(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    return (cell.get("cell_type") == "code" and bool(meta.get("grade_id")) and bool(meta.get("locked"))
            and not meta.get("solution") and not meta.get("grade"))


def source_notebook(coursedir: CourseDirectory, assignment: str, notebook: str) -> str:
    """Where the instructor's notebook ``notebook`` of ``assignment`` is (``source/<assignment>/<notebook>.ipynb``)."""
    folder = coursedir.format_path(coursedir.source_directory, ".", assignment)
    return os.path.normpath(os.path.join(folder, f"{notebook}.ipynb"))


def marked_cells(path: str) -> frozenset[str]:
    """The grade ids of the cells the source notebook at ``path`` tags (none if there is no such file); raises
    SkipTagError for a tagged cell that is not a locked code cell with a grade id, neither solution nor test."""
    try:
        with open(path, encoding="utf-8") as fh:
            cells = json.load(fh).get("cells", [])
    except FileNotFoundError:
        return frozenset()
    marked = set()
    for index, cell in enumerate(cells):
        if not is_skipped(cell):
            continue
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if not _markable(cell):
            raise SkipTagError(
                f"{path}: {meta.get('grade_id') or f'cell {index}'} is tagged {SKIP_TAG!r}; the tag is for read-only "
                f"code cells that are neither solutions nor tests (expected a locked code cell with a grade id, "
                f"found cell_type={cell.get('cell_type')!r}, grade_id={meta.get('grade_id')!r}, "
                f"locked={bool(meta.get('locked'))}, solution={bool(meta.get('solution'))}, "
                f"grade={bool(meta.get('grade'))})")
        marked.add(meta["grade_id"])
    return frozenset(marked)


def _scopes(table: symtable.SymbolTable):
    yield table
    for child in table.get_children():
        yield from _scopes(child)


def cell_names(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """(the names a cell binds at its top level, the globals it reads that it does not bind itself).

    A read is a top-level reference, or a global reference inside a function or class the cell defines.
    A cell that does not parse binds and reads nothing (it cannot run either).
    """
    try:
        top = symtable.symtable(python_source(source), "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset(), frozenset()
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    read = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    for scope in list(_scopes(top))[1:]:
        read |= {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
    return frozenset(bound), frozenset(read - bound)


def needed_by_others(cells: list, candidates: list[int]) -> dict[int, set[str]]:
    """The ``candidates`` (indices of marked cells) that must run anyway, with the names that make them needed:
    a cell that runs reads a global that no cell that runs binds and the candidate does."""
    if not candidates:
        return {}
    names = {i: cell_names(c.source) for i, c in enumerate(cells) if c.cell_type == "code"
             and not ((c.metadata.get("nbgrader") or {}).get("grade") and
                      not (c.metadata.get("nbgrader") or {}).get("solution"))}   # test cells run in the grader
    running = set(names) - set(candidates)
    needed: dict[int, set[str]] = {}
    while True:
        bound = set().union(*(names[i][0] for i in running))
        read = set().union(*(names[i][1] for i in running))
        more = {i: (names[i][0] & read) - bound for i in candidates if i not in running and i in names}
        more = {i: found for i, found in more.items() if found}
        if not more:
            return needed
        needed.update(more)
        running |= set(more)


class SkipWhenGrading(NbGraderPreprocessor):
    """Sanitize step: the ``skip-when-grading`` tag on exactly the cells the source notebook tags and no cell
    that runs needs."""

    def preprocess(self, nb, resources):
        nbg = resources["nbgrader"]
        source = source_notebook(CourseDirectory(config=self.config), nbg["assignment"], nbg["notebook"])
        marked = marked_cells(source)
        if not marked and not os.path.exists(source):
            self.log.warning("No source notebook at %s: every cell of the submission runs when grading", source)
        for cell in nb.cells:
            tags = cell.metadata.get("tags")
            if tags and SKIP_TAG in tags:
                cell.metadata["tags"] = [t for t in tags if t != SKIP_TAG]
                if not cell.metadata["tags"]:
                    del cell.metadata["tags"]
        candidates = [i for i, c in enumerate(nb.cells)
                      if _markable(c) and c.metadata["nbgrader"]["grade_id"] in marked]
        needed = needed_by_others(nb.cells, candidates)
        for i in candidates:
            if i in needed:
                self.log.warning("%s runs although the source marks it %r: other cells read %s, which it defines",
                                 nb.cells[i].metadata["nbgrader"]["grade_id"], SKIP_TAG, ", ".join(sorted(needed[i])))
            else:
                nb.cells[i].metadata.setdefault("tags", []).append(SKIP_TAG)
        return nb, resources
