"""Feedback preprocessors for the grading service.

* :class:`SubmissionNote` puts a short markdown cell at the top of a feedback page: when the
  submission was made and graded, whether it is the one the gradebook holds, the student's rate
  limit.  In ``GenerateFeedback.preprocessors`` (nbgrader_config.py); its ``text`` is empty (nothing
  added) unless the service sets it for one student's feedback.
* :class:`VisibleChecksOnly` keeps, in each graded test cell's outputs, the lines of the visible
  checks only: no hidden check's title, verdict or message, no points.  The service renders a
  student's feedback through it before the due date when ``ServicePolicy.feedback_before_deadline``
  is ``'visible'``.
* :class:`FeedbackHTMLExporter` is nbconvert's HTML exporter with its compiled templates and its
  highlighted code cells kept for the life of the process, and without its closing HTML re-parse
  where that re-parse edits nothing (``c.GenerateFeedback.exporter_class``).
"""
from __future__ import annotations

import collections
import json

import jinja2
import jinja2.bccache
import nbformat
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
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


class CachedHighlight2HTML(Highlight2HTML):
    """nbconvert's code highlighting, remembering the last :attr:`size` locked cells it highlighted in this process.

    Every feedback page of an assignment shows the same instructor cells (imports, tests, demonstrations),
    and pygments highlighting is most of the page's rendering.  Only locked cells are kept: their source is
    the instructor's (nbgrader restores it), so the cache holds a bounded set of them, never a student's
    arbitrary code.  The HTML depends on the source, the language, the cell's ``magics_language`` (the only
    metadata nbconvert's highlighting reads) and the formatter options, which make the key.
    """

    size = 512
    _done: collections.OrderedDict[tuple, str] = collections.OrderedDict()

    def __call__(self, source, language=None, metadata=None):
        if not ((metadata or {}).get("nbgrader") or {}).get("locked"):
            return super().__call__(source, language, metadata)
        key = (source, language or self.pygments_lexer, str((metadata or {}).get("magics_language")),
               json.dumps(self.extra_formatter_options, sort_keys=True, default=str))
        html = self._done.get(key)
        if html is None:
            html = self._done[key] = super().__call__(source, language, metadata)
            if len(self._done) > self.size:
                self._done.popitem(last=False)
        else:
            self._done.move_to_end(key)
        return html


# What HTMLExporter's closing BeautifulSoup pass edits: images (it adds missing alt text) and the lab
# template's input and output areas (it makes them focusable).  A page with none of these comes out of
# the pass as the same document, re-serialized.
_REPARSE_EDITS = ("<img", "jp-cell-inputwrapper", "jp-outputarea-output")


class FeedbackHTMLExporter(HTMLExporter):
    """nbconvert's HTMLExporter, cheaper for a process that renders many feedback pages.

    ``c.GenerateFeedback.exporter_class`` (nbgrader_config.py).  nbgrader makes a new exporter for every
    ``generate_feedback`` run:

    * its Jinja environment reuses compiled templates across instances, so the grading service and
      ``make feedback`` compile the feedback template and the templates it extends once per process;
    * its code cells are highlighted by :class:`CachedHighlight2HTML`, so a locked cell every page shows
      is highlighted once per process;
    * HTMLExporter ends by parsing the whole page with BeautifulSoup and writing it out again, to add
      alt text to images and make the lab template's cells focusable.  A feedback page (nbgrader's
      classic-based template, text outputs) has nothing for that pass to edit, yet the pass parses and
      writes the whole page; this exporter renders the page without it (registering HTMLExporter's own
      filters) and, only when the page has something the pass edits (:data:`_REPARSE_EDITS`), renders
      it again the way HTMLExporter does.  Either way the page is the same document as HTMLExporter's
      (tests/engine/test_feedback_preprocessors.py compares them).
    """

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _COMPILED
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        given = resources
        # HTMLExporter's filters for this notebook, then TemplateExporter's rendering (no re-parse)
        info = nb.metadata.get("language_info", {})
        lexer = info.get("pygments_lexer", info.get("name", None))
        highlight = self.filters.get("highlight_code", CachedHighlight2HTML(pygments_lexer=lexer, parent=self))
        self.register_filter("highlight_code", highlight)
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata,
                                                                       parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        lowered = html.lower()
        if any(mark in lowered for mark in _REPARSE_EDITS):
            return super().from_notebook_node(nb, given, **kw)
        return html, resources
