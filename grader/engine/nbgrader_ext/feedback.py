"""Feedback preprocessors for the grading service.

* :class:`SubmissionNote` puts a short markdown cell at the top of a feedback page: when the
  submission was made and graded, whether it is the one the gradebook holds, the student's rate
  limit.  In ``GenerateFeedback.preprocessors`` (nbgrader_config.py); its ``text`` is empty (nothing
  added) unless the service sets it for one student's feedback.
* :class:`VisibleChecksOnly` keeps, in each graded test cell's outputs, the lines of the visible
  checks only: no hidden check's title, verdict or message, no points.  The service renders a
  student's feedback through it before the due date when ``ServicePolicy.feedback_before_deadline``
  is ``'visible'``.
* :class:`FeedbackHTMLExporter` is nbconvert's HTML exporter with its compiled templates kept for the
  life of the process (``c.GenerateFeedback.exporter_class``).
"""
from __future__ import annotations

import jinja2
import jinja2.bccache
import nbformat
from nbconvert.exporters import HTMLExporter
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


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled Jinja templates kept in memory for the life of the process, keyed by Jinja (template name,
    file and a checksum of its source, so an edited template is compiled again)."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


class FeedbackHTMLExporter(HTMLExporter):
    """nbconvert's HTMLExporter whose Jinja environment reuses compiled templates across instances.

    ``c.GenerateFeedback.exporter_class`` (nbgrader_config.py): nbgrader makes a new exporter for every
    ``generate_feedback`` run, and each compiled the feedback template and the templates it extends again;
    a process that makes feedback for many submissions (the grading service, ``make feedback``) now
    compiles them once.  The pages are the same.
    """

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _COMPILED
        return environment
