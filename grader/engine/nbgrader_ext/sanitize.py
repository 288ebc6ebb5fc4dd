"""Sanitize-step helper that keeps nbgrader's own preprocessors working on mangled notebooks."""
from __future__ import annotations

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor


class ForgetUnknownCells(NbGraderPreprocessor):
    """Turn cells whose nbgrader metadata the gradebook does not know into ordinary cells.

    Runs after DeduplicateIds and before OverwriteCells.  It covers three
    student edits that make nbgrader 0.9.6 abort the whole submission with
    ``KeyError: 'grade_id'`` when ``OverwriteCells.add_missing_cells`` is on:

    * a duplicated graded cell (DeduplicateIds leaves its metadata as ``{}``);
    * a renamed grade id (OverwriteCells deletes the id but keeps ``grade: true``);
    * a cell the student marked as graded themselves.

    The original cell is then restored by ``add_missing_cells`` where needed,
    and the student's copy runs as ordinary code, worth no points.
    """

    def preprocess(self, nb, resources):
        nbg = resources["nbgrader"]
        with Gradebook(nbg["db_url"]) as gb:
            try:
                known = {c.name for c in gb.find_notebook(nbg["notebook"], nbg["assignment"]).source_cells}
            except MissingEntry:
                known = set()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            if not meta or meta.get("grade_id") not in known:
                if meta:
                    self.log.warning("Cell with unknown grade id %r is graded as an ordinary cell",
                                     meta.get("grade_id"))
                del cell.metadata["nbgrader"]
        return nb, resources
