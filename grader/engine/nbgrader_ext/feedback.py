"""Feedback preprocessors for the grading service.

* :class:`SubmissionNote` puts a short markdown cell at the top of a feedback page: when the
  submission was made and graded, whether it is the one the gradebook holds, the student's rate
  limit.  In ``GenerateFeedback.preprocessors`` (nbgrader_config.py); its ``text`` is empty (nothing
  added) unless the service sets it for one student's feedback.
* :class:`VisibleChecksOnly` keeps, in each graded test cell's outputs, the lines of the visible
  checks only: no hidden check's title, verdict or message, no points.  The service renders a
  student's feedback through it before the due date when ``ServicePolicy.feedback_before_deadline``
  is ``'visible'``.
"""
from __future__ import annotations

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from .execute import HIDDEN_MARK

VERDICT_PREFIXES = ("[PASS] ", "[FAIL] ")


class SubmissionNote(NbGraderPreprocessor):
    """Insert ``text`` (markdown) as the notebook's first cell; nothing when it is empty."""

    text = Unicode("", help="Markdown shown above the feedback (set per student by the grading service)"
                   ).tag(config=True)

    def preprocess(self, nb, resources):
        if self.text.strip():
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(self.text))
        return nb, resources


def visible_lines(text: str) -> str:
    """The report lines of visible checks (each verdict line with its indented message), nothing else."""
    kept, keep = [], False
    for line in text.splitlines():
        if line.startswith(VERDICT_PREFIXES):
            keep = not line[len("[PASS] "):].startswith(HIDDEN_MARK)
            if keep:
                kept.append(line.split(" (an example")[0])
        elif line.startswith("       ") and keep:
            kept.append(line)
        else:
            keep = False
    return "\n".join(kept) + ("\n" if kept else "")


class VisibleChecksOnly(NbGraderPreprocessor):
    """Reduce each graded test cell to its visible checks' verdicts; drop every score."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                           if o.get("output_type") == "stream" and o.get("name") == "stdout")
            shown = visible_lines(text) or "Hidden checks run after the due date; no visible check in this cell.\n"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=shown)]
            for key in ("score", "points"):
                meta.pop(key, None)
        return nb, resources
