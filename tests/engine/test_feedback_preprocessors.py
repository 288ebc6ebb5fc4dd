"""SubmissionNote and VisibleChecksOnly (grader.engine.nbgrader_ext.feedback) on tiny notebooks."""
from __future__ import annotations

import nbformat

from grader.engine.nbgrader_ext.execute import report_outputs
from grader.engine.nbgrader_ext.feedback import SubmissionNote, VisibleChecksOnly, visible_lines
from grader.engine.records import CheckOutcome

REPORT = (
    "[PASS] (hidden) conv matches the reference (2/4 points)\n"
    "[FAIL] the worked example (an example: no points of its own)\n"
    "       expected [1, 2], got [2, 1]\n"
    "[FAIL] (hidden) stride 2 (0/2 points)\n"
    "       output differs at (0, 1)\n"
    "1/3 checks passed: 2 of 4 points.\n"
)


def test_visible_lines_keep_visible_verdicts_with_their_messages():
    assert visible_lines(REPORT) == ("[FAIL] the worked example\n"
                                     "       expected [1, 2], got [2, 1]\n")
    assert visible_lines("[PASS] (hidden) x (1/1 points)\n1/1 checks passed: 1 of 1 points.\n") == ""


def _notebook(outputs):
    test = nbformat.v4.new_code_cell('run("conv")', outputs=outputs)
    test.metadata.nbgrader = {"grade": True, "solution": False, "grade_id": "t1", "points": 4, "score": 2}
    printed = nbformat.v4.new_output("stream", name="stdout", text="hi\n")
    solution = nbformat.v4.new_code_cell("x = 1", outputs=[printed])
    solution.metadata.nbgrader = {"grade": False, "solution": True, "grade_id": "s1"}
    return nbformat.v4.new_notebook(cells=[solution, test])


def test_visible_checks_only_reduces_graded_cells_and_drops_scores():
    results = [CheckOutcome("t1", "conv", "conv matches the reference", hidden=True, passed=True),
               CheckOutcome("t1", "example", "the worked example", hidden=False, passed=False,
                            message="expected [1, 2]")]
    nb = _notebook(report_outputs(results, 4.0, partial_credit=True))
    nb, _ = VisibleChecksOnly().preprocess(nb, {})
    solution, test = nb.cells
    assert [o["text"] for o in test.outputs] == ["[FAIL] the worked example\n       expected [1, 2]\n"]
    assert "score" not in test.metadata.nbgrader and "points" not in test.metadata.nbgrader
    assert solution.outputs[0]["text"] == "hi\n"


def test_a_cell_of_hidden_checks_only_says_so():
    nb = _notebook([nbformat.v4.new_output("stream", name="stdout",
                                           text="[PASS] (hidden) x (4/4 points)\n1/1 checks passed: 4 of 4 points.\n")])
    nb, _ = VisibleChecksOnly().preprocess(nb, {})
    assert nb.cells[1].outputs[0]["text"] == "Hidden checks run after the due date; no visible check in this cell.\n"


def test_submission_note_is_the_first_cell_only_when_set():
    nb, _ = SubmissionNote().preprocess(_notebook([]), {})
    assert len(nb.cells) == 2
    nb, _ = SubmissionNote(text="**Graded** now").preprocess(_notebook([]), {})
    assert (nb.cells[0].cell_type, nb.cells[0].source, len(nb.cells)) == ("markdown", "**Graded** now", 3)


def test_the_feedback_exporter_renders_as_nbconvert_and_compiles_its_templates_once(monkeypatch):
    import jinja2
    from nbconvert.exporters import HTMLExporter

    from grader.engine.nbgrader_ext.feedback import FeedbackHTMLExporter

    compiled = []
    compile_template = jinja2.Environment.compile

    def counting(self, source, name=None, *args, **kwargs):
        compiled.append(name)
        return compile_template(self, source, name, *args, **kwargs)
    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    nb = _notebook([nbformat.v4.new_output("stream", name="stdout", text="[PASS] ok\n")])
    expected, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    assert "index.html.j2" in compiled           # nbconvert's own exporter compiles on every instance
    FeedbackHTMLExporter(template_name="lab").from_notebook_node(nb)
    compiled.clear()
    again, _ = FeedbackHTMLExporter(template_name="lab").from_notebook_node(nb)
    assert again == expected
    assert compiled == []                        # a later instance reuses the compiled templates


def _feedback_exporter(cls):
    """An exporter with the configuration nbgrader's GenerateFeedback gives its HTMLExporter (template, paths)."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    return cls(config=GenerateFeedback(coursedir=CourseDirectory()).config)


FEEDBACK_RESOURCES = {"nbgrader": {"notebook": "ps1", "score": 2, "max_score": 4, "late_penalty": 0}}


def test_a_feedback_page_skips_the_reparse_and_is_the_same_document(monkeypatch):
    import nbconvert.exporters.html as nbconvert_html
    from bs4 import BeautifulSoup
    from nbconvert.exporters import HTMLExporter

    from grader.engine.nbgrader_ext.feedback import FeedbackHTMLExporter

    # a student's output with what re-serializing changes: quotes, an entity, a bare ampersand, a tag-like text
    nb = _notebook([nbformat.v4.new_output("stream", name="stdout",
                                           text="[FAIL] got 'a' & \"b\" &amp; <br> instead of x < y\n")])
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# Spatial\nIt's *conv* with `a<b` & <b>bold</b>."))
    expected, _ = _feedback_exporter(HTMLExporter).from_notebook_node(nb, dict(FEEDBACK_RESOURCES))
    parses = []
    monkeypatch.setattr(nbconvert_html, "BeautifulSoup",
                        lambda *args, **kwargs: parses.append(1) or BeautifulSoup(*args, **kwargs))
    page, _ = _feedback_exporter(FeedbackHTMLExporter).from_notebook_node(nb, dict(FEEDBACK_RESOURCES))
    assert parses == []
    assert "instead of x &lt; y" in page and "ps1" in page
    assert str(BeautifulSoup(page, features="html.parser")) == expected


def test_a_page_with_an_image_is_rendered_as_nbconvert_renders_it(monkeypatch):
    from nbconvert.exporters import HTMLExporter

    from grader.engine.nbgrader_ext.feedback import FeedbackHTMLExporter

    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    nb = _notebook([nbformat.v4.new_output("display_data", data={"image/png": png})])
    expected, _ = _feedback_exporter(HTMLExporter).from_notebook_node(nb, dict(FEEDBACK_RESOURCES))
    page, _ = _feedback_exporter(FeedbackHTMLExporter).from_notebook_node(nb, dict(FEEDBACK_RESOURCES))
    assert page == expected
    assert 'alt="No description has been provided for this image"' in page


def test_a_cell_on_every_page_is_highlighted_once_and_the_page_is_unchanged(monkeypatch):
    import nbconvert.filters.highlight as highlight
    from bs4 import BeautifulSoup
    from nbconvert.exporters import HTMLExporter

    from grader.engine.nbgrader_ext.feedback import CachedHighlight2HTML, FeedbackHTMLExporter

    monkeypatch.setattr(CachedHighlight2HTML, "_done", __import__("collections").OrderedDict())
    highlighted = []
    pygments_highlight = highlight._pygments_highlight
    monkeypatch.setattr(highlight, "_pygments_highlight",
                        lambda source, *args: highlighted.append(source) or pygments_highlight(source, *args))

    def page_of(student_line):
        nb = _notebook([nbformat.v4.new_output("stream", name="stdout", text="[PASS] ok\n")])
        nb.cells.insert(0, nbformat.v4.new_code_cell("import numpy as np  # the instructor's",
                                                     metadata={"nbgrader": {"grade_id": "setup", "locked": True}}))
        nb.cells.insert(1, nbformat.v4.new_code_cell(student_line))
        expected, _ = _feedback_exporter(HTMLExporter).from_notebook_node(nb, dict(FEEDBACK_RESOURCES))
        highlighted.clear()
        page, _ = _feedback_exporter(FeedbackHTMLExporter).from_notebook_node(nb, dict(FEEDBACK_RESOURCES))
        assert str(BeautifulSoup(page, features="html.parser")) == expected   # (the re-parse it skips)
        return list(highlighted)

    # the instructor's locked setup cell; the student's cells and a test cell without the locked flag
    first = page_of("y = 1")
    assert sorted(first) == sorted(["import numpy as np  # the instructor's", "y = 1", "x = 1", 'run("conv")'])
    assert sorted(page_of("y = 2")) == ['run("conv")', "x = 1", "y = 2"]   # unlocked cells are never kept
    assert list(CachedHighlight2HTML._done) == [("import numpy as np  # the instructor's", "ipython3", "None", "{}")]
