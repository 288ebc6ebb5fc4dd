"""SkipWhenGrading: cells the instructor marks as demonstrations are not run when a submission is graded.

A course notebook often has read-only cells that only show something to the student: a figure of
feature maps, a timing table.  Under grading nobody sees them (figures are drawn for the ``agg``
backend and discarded), yet each costs its kernel the imports and the work; a plotting cell that
imports matplotlib costs about half a CPU-second per submission.  The instructor tags such a cell
``skip-when-grading`` in the source notebook (jupytext: ``# %% tags=["skip-when-grading"] ...``).

The tag counts only where the instructor put it.  A student's copy of the notebook is theirs to edit,
tags included, so this sanitize step (after ``OverwriteCells``, which has restored the locked cells'
source) takes the tag off every cell of the submission and puts it back on the cells whose grade id
the source notebook tags.  :class:`~grader.engine.nbgrader_ext.execute.TrustedExecute` then runs no
cell that carries it and shows :data:`SKIPPED_NOTE` as its output.  Only a locked cell that is neither
a solution nor a test may be marked: a marked solution or test cell is an error in the source notebook,
named when a submission is graded.  The tag is in the sanitized notebook, so it is part of the
execution key (grader.engine.jobs).
"""
from __future__ import annotations

import functools
import json
import os

from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

SKIP_TAG = "skip-when-grading"
SKIPPED_NOTE = ("Not run when grading: your instructor marked this cell as a demonstration. "
                "It does not change your score.\n")


class SkipTagError(ValueError):
    """The source notebook tags a cell that must run when grading."""


def is_skipped(cell) -> bool:
    """True for a cell that carries the tag (after :class:`SkipWhenGrading`, only where the instructor put it)."""
    return SKIP_TAG in (cell.get("metadata", {}).get("tags") or ())


@functools.lru_cache(maxsize=32)
def _marked(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    """The grade ids the source notebook at ``path`` tags (keyed by its mtime and size: read again when it
    changes); raises SkipTagError for a tagged cell that is not a locked, ungraded, non-solution cell."""
    with open(path, encoding="utf-8") as fh:
        cells = json.load(fh).get("cells", [])
    marked = set()
    for index, cell in enumerate(cells):
        if not is_skipped(cell):
            continue
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        name = meta.get("grade_id") or f"cell {index}"
        if cell.get("cell_type") != "code" or not meta.get("locked") or meta.get("solution") or meta.get("grade"):
            raise SkipTagError(
                f"{path}: {name} is tagged {SKIP_TAG!r}; the tag is for read-only code cells that are neither "
                f"solutions nor tests (expected a locked code cell, found cell_type={cell.get('cell_type')!r}, "
                f"locked={bool(meta.get('locked'))}, solution={bool(meta.get('solution'))}, "
                f"grade={bool(meta.get('grade'))})")
        marked.add(meta["grade_id"])
    return frozenset(marked)


def marked_cells(source_notebook: str) -> frozenset[str]:
    """The grade ids of the cells ``source_notebook`` tags ``skip-when-grading`` (none if it does not exist)."""
    try:
        stat = os.stat(source_notebook)
    except FileNotFoundError:
        return frozenset()
    return _marked(source_notebook, stat.st_mtime_ns, stat.st_size)


class SkipWhenGrading(NbGraderPreprocessor):
    """Sanitize step: the ``skip-when-grading`` tag on exactly the cells the source notebook tags."""

    def source_notebook(self, resources) -> str:
        nbg = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        folder = coursedir.format_path(coursedir.source_directory, ".", nbg["assignment"])
        return os.path.normpath(os.path.join(folder, f"{nbg['notebook']}.ipynb"))

    def preprocess(self, nb, resources):
        source = self.source_notebook(resources)
        marked = marked_cells(source)
        if not marked and not os.path.exists(source):
            self.log.warning("No source notebook at %s: every cell of the submission runs when grading", source)
        for cell in nb.cells:
            tags = cell.metadata.get("tags")
            if tags and SKIP_TAG in tags:
                cell.metadata["tags"] = [t for t in tags if t != SKIP_TAG]
                if not cell.metadata["tags"]:
                    del cell.metadata["tags"]
            meta = cell.metadata.get("nbgrader") or {}
            if (cell.cell_type == "code" and meta.get("grade_id") in marked and meta.get("locked")
                    and not meta.get("solution") and not meta.get("grade")):
                cell.metadata.setdefault("tags", []).append(SKIP_TAG)
        return nb, resources
