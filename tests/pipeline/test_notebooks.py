"""The instructor's notebook runs clean; the student version fails only on its stubs."""
from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from ..conftest import ASSIGNMENT

pytestmark = pytest.mark.slow


def execute(path: str, allow_errors: bool):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, allow_errors=allow_errors, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(path)}}).execute()
    return nb


def outputs_of(nb, kind):
    return [(c, o) for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == kind]


def test_source_notebook_runs_top_to_bottom_with_every_check_passing(course_copy):
    nb = execute(os.path.join(course_copy, "source", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), allow_errors=False)
    assert outputs_of(nb, "error") == []
    reports = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if gid.startswith("test_"):
            reports[gid] = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert len(reports) == 13
    for gid, text in reports.items():
        assert "[FAIL]" not in text
        assert f"{gid}: " in text and "visible checks passed" in text and "hidden checks passed" in text
    # the feature-map cell drew its figure
    figures = [o for c, o in outputs_of(nb, "display_data") if "image/png" in o.get("data", {})]
    assert len(figures) == 1


def test_release_runs_to_the_end_failing_only_with_named_not_implemented_errors(course_copy):
    nb = execute(os.path.join(course_copy, "release", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), allow_errors=True)
    errors = outputs_of(nb, "error")
    assert errors, "the blank release should fail on its stubs"
    assert {o.ename for _, o in errors} == {"NotImplementedError"}
    first_cell, first = errors[0]
    assert first_cell.metadata["nbgrader"]["grade_id"] == "test_conv_output_size"
    assert "conv_output_size: replace this line with your implementation" in first.evalue
    # every visible test cell reports the stub it needs, not a confusing secondary error
    test_errors = [o.evalue for c, o in errors if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(test_errors) == 13
    assert all("replace this line with your implementation" in e for e in test_errors)
