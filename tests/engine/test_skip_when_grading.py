"""Unit: grader.engine.nbgrader_ext.skip.SkipWhenGrading, with tiny source and submitted notebooks."""
from __future__ import annotations

import copy
import logging
import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from traitlets.config import Config

from grader.engine.nbgrader_ext.skip import (
    MAX_READ_BYTES,
    SKIP_TAG,
    SkipTagError,
    SkipWhenGrading,
    is_skipped,
    marked_cells,
)


def meta(grade_id, grade=False, solution=False, locked=False, tags=()):
    data = {"nbgrader": {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id,
                         "schema_version": 3}}
    if tags:
        data["tags"] = list(tags)
    return data


DEMO = meta("demo", locked=True)
PLOT = meta("plot", locked=True)
ANSWER = meta("answer", solution=True)
TEST = meta("test_answer", grade=True, locked=True)


def write_source(root, cells, assignment="ps0", notebook="p1"):
    folder = os.path.join(root, "source", assignment)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{notebook}.ipynb")
    nbformat.write(new_notebook(cells=cells), path)
    return path


def tagged(metadata):
    out = copy.deepcopy(metadata)
    out.setdefault("tags", []).append(SKIP_TAG)
    return out


def sanitize(root, cells, log=None):
    config = Config()
    config.CourseDirectory.root = str(root)
    preprocessor = SkipWhenGrading(config=config, **({"log": log} if log else {}))
    resources = {"nbgrader": {"assignment": "ps0", "notebook": "p1", "student": "ada"}}
    nb, out = preprocessor.preprocess(new_notebook(cells=cells), resources)
    assert out is resources
    return nb


def test_the_cells_the_source_tags_carry_the_tag_and_no_other_does(tmp_path):
    write_source(tmp_path, [new_code_cell("plot()", metadata=tagged(PLOT)), new_code_cell("demo()", metadata=DEMO),
                            new_code_cell("", metadata=ANSWER)])
    nb = sanitize(tmp_path, [
        new_code_cell("plot()", metadata=copy.deepcopy(PLOT)),            # the student took the tag off
        new_code_cell("demo()", metadata=tagged(DEMO)),                   # put it on another locked cell
        new_code_cell("x = 1", metadata=meta("answer", solution=True, tags=[SKIP_TAG, "mine"])),   # and their own
        new_code_cell("y = 2", metadata={"tags": [SKIP_TAG]}),            # and a cell of their own
    ])
    assert [is_skipped(c) for c in nb.cells] == [True, False, False, False]
    assert nb.cells[0].metadata["tags"] == [SKIP_TAG]
    assert "tags" not in nb.cells[1].metadata and "tags" not in nb.cells[3].metadata
    assert nb.cells[2].metadata["tags"] == ["mine"]   # the student's other tags stay


def test_a_tagged_grade_id_on_a_cell_that_is_no_longer_locked_runs(tmp_path):
    # OverwriteCells restores the locked flag before this step; a cell still not locked is not the instructor's
    write_source(tmp_path, [new_code_cell("plot()", metadata=tagged(PLOT))])
    nb = sanitize(tmp_path, [new_code_cell("plot()", metadata=meta("plot", locked=False)),
                             new_markdown_cell("plot", metadata=meta("plot", locked=True))])
    assert [is_skipped(c) for c in nb.cells] == [False, False]


@pytest.mark.parametrize("cell, name, found", [
    (new_code_cell("x = 1", metadata=tagged(ANSWER)), "answer",
     "cell_type='code', grade_id='answer', locked=False, solution=True, grade=False"),
    (new_code_cell("run('t')", metadata=tagged(TEST)), "test_answer",
     "cell_type='code', grade_id='test_answer', locked=True, solution=False, grade=True"),
    (new_markdown_cell("# Hi", metadata=tagged(meta("intro", locked=True))), "intro",
     "cell_type='markdown', grade_id='intro', locked=True, solution=False, grade=False"),
    (new_code_cell("plot()", metadata={"nbgrader": {"locked": True}, "tags": [SKIP_TAG]}), "cell 0",
     "cell_type='code', grade_id=None, locked=True, solution=False, grade=False"),
])
def test_a_source_that_tags_a_cell_which_must_run_is_refused_by_name(tmp_path, cell, name, found):
    path = write_source(tmp_path, [cell])
    with pytest.raises(SkipTagError) as info:
        sanitize(tmp_path, [new_code_cell("x = 1", metadata=copy.deepcopy(ANSWER))])
    assert str(info.value) == (f"{path}: {name} is tagged 'skip-when-grading'; the tag is for read-only code cells "
                               f"that are neither solutions nor tests (expected a locked code cell with a grade id, "
                               f"found {found})")


def test_a_marked_cell_runs_when_code_that_runs_reads_what_only_it_defines(tmp_path, caplog):
    write_source(tmp_path, [new_code_cell("import matplotlib.pyplot as plt\nimage = 1", metadata=tagged(PLOT)),
                            new_code_cell("side = 8", metadata=tagged(DEMO))])
    plot = new_code_cell("import matplotlib.pyplot as plt\nimage = 1", metadata=copy.deepcopy(PLOT))
    demo = new_code_cell("side = 8", metadata=copy.deepcopy(DEMO))

    def skipped(*student_cells):
        cells = [copy.deepcopy(plot), copy.deepcopy(demo)] + [new_code_cell(s, metadata=copy.deepcopy(ANSWER))
                                                              for s in student_cells]
        return [is_skipped(c) for c in sanitize(tmp_path, cells, log=logging.getLogger("skip")).cells][:2]

    assert skipped("def f(image):\n    return image + 1") == [True, True]     # an argument, not the global
    assert skipped("def f():\n    side = 3\n    return side") == [True, True]  # a local of its own
    assert skipped("import matplotlib.pyplot as plt\nplt.plot([1])") == [True, True]   # binds what it reads
    with caplog.at_level(logging.WARNING, logger="skip"):
        assert skipped("plt.plot([1])") == [False, True]                       # the demonstration's plt
    assert "plot runs although the source marks it 'skip-when-grading': other cells read plt" in caplog.text
    assert skipped("def show():\n    print(side)") == [True, False]          # a global in a function
    assert skipped("class A:\n    size = image") == [False, True]             # a global in a class body
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="skip"):
        # what cannot be read in bounded time makes every marked cell run: IPython's syntax (its transformer's
        # time grows with the square of the cell), an error, a notebook over MAX_READ_BYTES of code
        assert skipped("%matplotlib inline\nprint(1)") == [False, False]
        assert skipped("x = (") == [False, False]
        assert skipped("x = 1\n" * (MAX_READ_BYTES // 6 + 1)) == [False, False]
    assert caplog.text.count("a cell is not plain Python, or nested too deeply, to read what it uses") == 4
    assert caplog.text.count(f"is too large to read what it uses (at most {MAX_READ_BYTES})") == 2


def test_without_a_source_notebook_every_cell_runs_and_the_log_says_so(tmp_path, caplog):
    log = logging.getLogger("test_skip_when_grading")
    with caplog.at_level(logging.WARNING, logger=log.name):
        nb = sanitize(tmp_path, [new_code_cell("demo()", metadata=tagged(DEMO))], log=log)
    assert not is_skipped(nb.cells[0])
    assert f"No source notebook at {tmp_path}/source/ps0/p1.ipynb" in caplog.text


def test_an_edited_source_is_read_again(tmp_path):
    # the same size, written within the same second: the marks are read from the file every time
    path = write_source(tmp_path, [new_code_cell("plot()", metadata=tagged(PLOT)),
                                   new_code_cell("dem()", metadata=DEMO)])
    assert marked_cells(path) == {"plot"}
    write_source(tmp_path, [new_code_cell("plot()", metadata=PLOT), new_code_cell("dem()", metadata=tagged(DEMO))])
    assert marked_cells(path) == {"demo"}
