"""Unit: grader.engine.nbgrader_ext.sanitize.ForgetUnknownCells, against a tiny sqlite gradebook."""
from __future__ import annotations

import copy
import logging

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.engine.nbgrader_ext.sanitize import ForgetUnknownCells


def meta(grade_id, grade=False, solution=False, locked=False, points=None):
    data = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        data["points"] = points
    return {"nbgrader": data}


TEST_A = meta("test_a", grade=True, locked=True, points=2)
ANSWER = meta("answer", solution=True)
INTRO = meta("intro", locked=True)


@pytest.fixture()
def db_url(gradebook):
    """Assignment ps0, notebook p1 with the source cells test_a, answer and intro (as SaveCells records them),
    and notebook p2 with a cell of its own."""
    gb = gradebook
    gb.add_assignment("ps0")
    gb.add_notebook("p1", "ps0")
    gb.add_grade_cell("test_a", "p1", "ps0", max_score=2, cell_type="code")
    gb.add_solution_cell("answer", "p1", "ps0")
    for name, cell_type, locked in (("test_a", "code", True), ("answer", "code", False), ("intro", "markdown", True)):
        gb.add_source_cell(name, "p1", "ps0", cell_type=cell_type, locked=locked, source="")
    gb.add_notebook("p2", "ps0")
    gb.add_grade_cell("test_other", "p2", "ps0", max_score=1, cell_type="code")
    gb.add_source_cell("test_other", "p2", "ps0", cell_type="code", locked=True, source="")
    return gradebook.db_url


def resources_for(db_url, notebook="p1", assignment="ps0"):
    return {"nbgrader": {"db_url": db_url, "assignment": assignment, "notebook": notebook, "student": "ada"}}


def run(cells, resources, log=None):
    nb = new_notebook(cells=cells)
    preprocessor = ForgetUnknownCells(log=log) if log else ForgetUnknownCells()
    out_nb, out_resources = preprocessor.preprocess(nb, resources)
    assert out_resources is resources
    return out_nb


def nbgrader_ids(nb):
    return [c.metadata["nbgrader"].get("grade_id") if "nbgrader" in c.metadata else None for c in nb.cells]


def test_cells_the_gradebook_knows_keep_their_metadata_and_source(db_url):
    cells = [new_markdown_cell("# Intro", metadata=copy.deepcopy(INTRO)),
             new_code_cell("x = 1", metadata=copy.deepcopy(ANSWER)),
             new_code_cell('run("test_a")', metadata=copy.deepcopy(TEST_A))]
    nb = run(cells, resources_for(db_url))
    assert [c.metadata for c in nb.cells] == [INTRO, ANSWER, TEST_A]
    assert [c.source for c in nb.cells] == ["# Intro", "x = 1", 'run("test_a")']


def test_a_duplicate_left_with_empty_metadata_becomes_an_ordinary_cell(db_url):
    cells = [new_code_cell('run("test_a")', metadata=copy.deepcopy(TEST_A)),
             new_code_cell('run("test_a")', metadata={"nbgrader": {}, "tags": ["mine"]})]
    nb = run(cells, resources_for(db_url))
    assert nbgrader_ids(nb) == ["test_a", None]
    assert nb.cells[1].metadata == {"tags": ["mine"]}
    assert nb.cells[1].source == 'run("test_a")'


def test_renamed_or_self_made_graded_cells_become_ordinary_with_a_warning(db_url, caplog):
    log = logging.getLogger("test_forget_unknown_cells")
    cells = [new_code_cell("run('x')", metadata=meta("test_a_renamed", grade=True, locked=True, points=2)),
             new_code_cell("print(1)", metadata=meta("my_bonus", grade=True, points=100)),
             new_code_cell("y = 2", metadata={"nbgrader": {"grade": True, "points": 5}}),
             new_code_cell("z = 3")]
    with caplog.at_level(logging.WARNING, logger=log.name):
        nb = run(cells, resources_for(db_url), log=log)
    assert [c.metadata for c in nb.cells] == [{}, {}, {}, {}]
    assert [r.getMessage() for r in caplog.records] == [
        "Cell with unknown grade id 'test_a_renamed' is graded as an ordinary cell",
        "Cell with unknown grade id 'my_bonus' is graded as an ordinary cell",
        "Cell with unknown grade id None is graded as an ordinary cell",
    ]


def test_an_empty_nbgrader_entry_is_dropped_without_a_warning(db_url, caplog):
    log = logging.getLogger("test_forget_unknown_cells.quiet")
    with caplog.at_level(logging.WARNING, logger=log.name):
        nb = run([new_code_cell("x", metadata={"nbgrader": {}})], resources_for(db_url), log=log)
    assert nb.cells[0].metadata == {}
    assert caplog.records == []


def test_a_grade_id_of_another_notebook_is_unknown_here(db_url):
    cells = [new_code_cell("run('o')", metadata=meta("test_other", grade=True, locked=True, points=1)),
             new_code_cell('run("test_a")', metadata=copy.deepcopy(TEST_A))]
    assert nbgrader_ids(run(cells, resources_for(db_url, "p1"))) == [None, "test_a"]
    cells = [new_code_cell("run('o')", metadata=meta("test_other", grade=True, locked=True, points=1)),
             new_code_cell('run("test_a")', metadata=copy.deepcopy(TEST_A))]
    assert nbgrader_ids(run(cells, resources_for(db_url, "p2"))) == ["test_other", None]


def test_only_source_cells_count_as_known(gradebook):
    """A grade cell row without the source cell row SaveCells writes is not enough."""
    gradebook.add_assignment("ps0")
    gradebook.add_notebook("p1", "ps0")
    gradebook.add_grade_cell("test_a", "p1", "ps0", max_score=2, cell_type="code")
    nb = run([new_code_cell('run("test_a")', metadata=copy.deepcopy(TEST_A))], resources_for(gradebook.db_url))
    assert nb.cells[0].metadata == {}


@pytest.mark.parametrize("notebook, assignment", [("missing", "ps0"), ("p1", "no_such_assignment")])
def test_a_notebook_the_gradebook_lacks_leaves_no_nbgrader_cells(db_url, notebook, assignment):
    cells = [new_code_cell('run("test_a")', metadata=copy.deepcopy(TEST_A)),
             new_markdown_cell("# Intro", metadata=copy.deepcopy(INTRO)),
             new_code_cell("plain", metadata={"tags": ["t"]})]
    nb = run(cells, resources_for(db_url, notebook, assignment))
    assert [c.metadata for c in nb.cells] == [{}, {}, {"tags": ["t"]}]


def test_the_cells_are_changed_in_place_and_none_are_added_or_removed(db_url):
    cells = [new_code_cell("a", metadata={"nbgrader": {}}),
             new_code_cell('run("test_a")', metadata=copy.deepcopy(TEST_A))]
    nb = new_notebook(cells=cells)
    before = list(nb.cells)
    ForgetUnknownCells().preprocess(nb, resources_for(db_url))
    assert len(nb.cells) == 2 and all(a is b for a, b in zip(nb.cells, before))


def test_the_gradebook_url_is_required_in_resources():
    with pytest.raises(KeyError, match="db_url"):
        ForgetUnknownCells().preprocess(new_notebook(), {"nbgrader": {"assignment": "ps0", "notebook": "p1"}})
