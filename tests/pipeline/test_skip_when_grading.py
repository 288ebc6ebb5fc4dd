"""skip-when-grading through the course's whole sanitize step (nbgrader's DeduplicateIds, ForgetUnknownCells and
OverwriteCells, then SkipWhenGrading), as grading runs it on 09_spatial's submissions."""
from __future__ import annotations

import copy
import os

import nbformat
import pytest

from grader.engine import batch
from grader.engine.nbgrader_ext.skip import SKIP_TAG, SkipTagError, is_skipped
from grader.harness import samples as sample_cells

from ..conftest import ASSIGNMENT, REPO, STYLES, make_course_copy


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = make_course_copy(str(tmp_path_factory.mktemp("skip") / "course"), [ASSIGNMENT])
    return batch.GradingRun(root, ASSIGNMENT, force=True)


def submission():
    release = nbformat.read(os.path.join(REPO, "release", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), as_version=4)
    return sample_cells.build_notebook(release, sample_cells.read_style(STYLES, "im2col"))


def sanitized(run, nb, tmp_path):
    staged = tmp_path / "staged"
    staged.mkdir(exist_ok=True)
    nbformat.write(nb, str(staged / f"{ASSIGNMENT}.ipynb"))
    return run._sanitize("ada", str(staged))


def skipped_ids(nb) -> list[str]:
    return [c.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}") for i, c in enumerate(nb.cells)
            if is_skipped(c)]


def index(nb, grade_id: str) -> int:
    return sample_cells.cell_index(nb, grade_id)


def test_the_demonstrations_the_source_marks_are_skipped(run, tmp_path):
    assert run.skip_key == "feature_maps,timing"
    assert skipped_ids(sanitized(run, submission(), tmp_path)) == ["feature_maps", "timing"]


def test_a_students_tags_change_nothing(run, tmp_path):
    nb = submission()
    for cell in nb.cells:   # tags off the instructor's cells, onto a solution, a test and a cell of the student's
        cell.metadata.pop("tags", None)
    for grade_id in ("conv2d_op", "test_conv2d_forward"):
        nb.cells[index(nb, grade_id)].metadata["tags"] = [SKIP_TAG]
    nb.cells.append(nbformat.v4.new_code_cell("print('mine')", metadata={"tags": [SKIP_TAG, "mine"]}))
    out = sanitized(run, nb, tmp_path)
    assert skipped_ids(out) == ["feature_maps", "timing"]
    assert out.cells[-1].metadata["tags"] == ["mine"]


def test_a_copy_of_a_demonstration_runs_and_the_original_is_skipped_with_the_instructors_source(run, tmp_path):
    nb = submission()
    at = index(nb, "feature_maps")
    original = nb.cells[at]
    original.source = "print('edited by the student')"
    early = copy.deepcopy(original)
    nb.cells.insert(at - 1, early)          # DeduplicateIds keeps the last cell of a grade id
    out = sanitized(run, nb, tmp_path)
    assert skipped_ids(out) == ["feature_maps", "timing"]
    kept = out.cells[index(out, "feature_maps")]
    assert "import matplotlib.pyplot as plt" in kept.source        # OverwriteCells restored the locked source
    assert not is_skipped(out.cells[at - 1]) and "nbgrader" not in out.cells[at - 1].metadata


def test_a_demonstration_unlocked_by_the_student_is_locked_again_and_skipped(run, tmp_path):
    nb = submission()
    nb.cells[index(nb, "timing")].metadata["nbgrader"]["locked"] = False
    assert skipped_ids(sanitized(run, nb, tmp_path)) == ["feature_maps", "timing"]


def test_a_solution_that_plots_with_the_demonstrations_plt_keeps_it_running(run, tmp_path):
    nb = submission()
    nb.cells[index(nb, "simplecnn")].source += "\n\nplt.figure()\n"
    assert skipped_ids(sanitized(run, nb, tmp_path)) == ["timing"]


def test_a_source_marking_a_solution_stops_grading_before_any_submission(tmp_path):
    root = make_course_copy(str(tmp_path / "course"), [ASSIGNMENT])
    batch.GradingRun(root, ASSIGNMENT, force=True)   # the gradebook is made from the source as released
    path = os.path.join(root, "source", ASSIGNMENT, f"{ASSIGNMENT}.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells[index(nb, "conv2d_op")].metadata["tags"] = [SKIP_TAG]
    nbformat.write(nb, path)
    with pytest.raises(SkipTagError) as info:
        batch.GradingRun(root, ASSIGNMENT, force=True)
    assert str(info.value).startswith(f"{path}: conv2d_op is tagged 'skip-when-grading'; the tag is for read-only "
                                      "code cells that are neither solutions nor tests")
