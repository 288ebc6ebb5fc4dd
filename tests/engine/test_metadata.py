"""Unit: grader.engine.nbgrader_ext.metadata.DropNotebookMetadata, on tiny hand-built notebooks."""
from __future__ import annotations

import copy

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from traitlets.config import Config

from grader.engine.nbgrader_ext.metadata import DropNotebookMetadata

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
PAIRING = {"formats": "ipynb,.pct.py:percent"}
NBGRADER = {"grade": False, "solution": True, "locked": False, "grade_id": "answer", "schema_version": 3}


def notebook(**metadata):
    cells = [new_markdown_cell("# Title", metadata={"editable": False}),
             new_code_cell("x = 1", metadata={"nbgrader": dict(NBGRADER), "lines_to_next_cell": 2})]
    return new_notebook(cells=cells, metadata=metadata)


def run(nb, config=None):
    resources = {"nbgrader": {"assignment": "ps0", "notebook": "p1"}}
    out_nb, out_resources = DropNotebookMetadata(config=config or Config()).preprocess(nb, resources)
    assert out_resources is resources
    return out_nb


def test_the_jupytext_pairing_goes_and_everything_else_stays():
    nb = notebook(jupytext=copy.deepcopy(PAIRING), kernelspec=dict(KERNELSPEC), language_info={"name": "python"})
    cells_before = copy.deepcopy(nb.cells)
    out = run(nb)
    assert out.metadata == {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    assert out.cells == cells_before   # cell metadata (nbgrader's, jupytext's lines_to_next_cell) untouched
    written = nbformat.writes(out)
    assert '"jupytext"' not in written and '"lines_to_next_cell": 2' in written


def test_a_notebook_without_the_keys_is_unchanged():
    nb = notebook(kernelspec=dict(KERNELSPEC))
    before = copy.deepcopy(nb)
    assert run(nb) == before


def test_the_keys_come_from_config():
    config = Config()
    config.DropNotebookMetadata.keys = ["widgets", "jupytext"]
    nb = notebook(jupytext=copy.deepcopy(PAIRING), widgets={"state": {}}, kernelspec=dict(KERNELSPEC))
    assert run(nb, config).metadata == {"kernelspec": KERNELSPEC}

    config.DropNotebookMetadata.keys = []
    nb = notebook(jupytext=copy.deepcopy(PAIRING), kernelspec=dict(KERNELSPEC))
    assert run(nb, config).metadata == {"jupytext": PAIRING, "kernelspec": KERNELSPEC}


def test_the_default_drops_jupytext_alone():
    assert DropNotebookMetadata().keys == ["jupytext"]
    assert DropNotebookMetadata().enabled   # an nbgrader preprocessor: on without configuration
