"""Forbidden libraries in a real sandboxed kernel: block mode refuses them with a clear error and an incident,
flag mode grades a solution built on them with full marks and an incident, and a numpy solution has none.
"""
from __future__ import annotations

import os

import nbformat
import pytest
from nbgrader import utils

from grader.engine import batch, course
from grader.engine.nbgrader_ext.execute import TrustedExecute
from grader.harness import samples as sample_cells

from ..conftest import ASSIGNMENT, ATTACKS, REPO, STYLES

pytestmark = pytest.mark.slow
RELEASE = os.path.join(REPO, "release", ASSIGNMENT)
FORBIDDEN_TEXT = "scipy.signal, scipy.ndimage, sklearn, torch, tensorflow, jax, cv2, PIL"
# the student removes the import guard, then imports: scipy.signal's files are not in the sandbox,
# PIL's are (matplotlib needs them), and the grader's scan of the cell has recorded both
BYPASS = """\
import sys
sys.modules["gradekit.imports"]._guard.uninstall()
try:
    import scipy.signal
except ImportError as exc:
    print("FILE-LEVEL:", exc)
import PIL.Image
print("PIL-AFTER-BYPASS:", "PIL.Image" in sys.modules)
"""


def grade(nb, action: str):
    config = course.load_config(REPO)   # the course's library lists and hidden packages
    config.LibraryPolicy.action = action
    files = batch.kernel_files(RELEASE, RELEASE, [])
    return TrustedExecute(config=config).run_notebook(
        nb, files, {"nbgrader": {"student": "s", "assignment": ASSIGNMENT, "notebook": ASSIGNMENT}})


def release():
    return nbformat.read(os.path.join(RELEASE, f"{ASSIGNMENT}.ipynb"), as_version=4)


def scipy_notebook():
    return ATTACKS.scipy_solution(sample_cells.build_notebook(release(), sample_cells.read_style(STYLES, "loops")))


def failed_graded_cells(nb) -> list[str]:
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells
            if c.cell_type == "code" and utils.is_grade(c) and not utils.is_solution(c)
            and any(o.output_type == "error" for o in c.outputs)]


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def test_block_mode_refuses_with_a_clear_error_and_records_each_cell_and_module():
    nb = scipy_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(BYPASS))
    bypass_name = f"cell {len(nb.cells) - 1}"
    executed, record = grade(nb, "block")

    conv = executed.cells[sample_cells.cell_index(executed, "conv2d_op")]
    errors = [(o.ename, o.evalue) for o in conv.outputs if o.output_type == "error"]
    assert errors == [("ModuleNotFoundError", "scipy.signal is not allowed in this assignment: write this part "
                                              f"yourself (with numpy) [forbidden here: {FORBIDDEN_TEXT}]")]
    maxpool = executed.cells[sample_cells.cell_index(executed, "maxpool2d")]
    assert [o.evalue for o in maxpool.outputs if o.output_type == "error"] == [
        f"scipy.ndimage is not allowed in this assignment: write this part yourself (with numpy) "
        f"[forbidden here: {FORBIDDEN_TEXT}]"]
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs if o.output_type == "stream")
    assert printed == "FILE-LEVEL: scipy.signal is not available while grading\nPIL-AFTER-BYPASS: True\n"

    assert failed_graded_cells(executed) == [
        "test_conv2d_forward", "test_conv2d_backward", "test_maxpool2d_forward", "test_maxpool2d_backward",
        "test_avgpool2d_forward", "test_avgpool2d_backward", "test_simplecnn_structure", "test_simplecnn_forward",
        "test_simplecnn_training"]
    filter_line = line_of(ATTACKS.SCIPY_MAXPOOL, "ndimage.maximum_filter")
    correlate_line = line_of(ATTACKS.SCIPY_AVGPOOL, "scipy.signal.correlate")
    convolve_line = line_of(ATTACKS.SCIPY_AVGPOOL, "scipy.signal.convolve")
    assert [(i.kind, i.cell, i.detail) for i in record.incidents] == [
        ("forbidden_library", "conv2d_op", "scipy.signal: scipy.signal (from-import, line 1); action: block"),
        ("forbidden_library", "maxpool2d", "scipy.ndimage: scipy.ndimage (from-import, line 1), "
                                           f"scipy.ndimage.maximum_filter (attribute, line {filter_line}); "
                                           "action: block"),
        ("forbidden_library", "avgpool2d", "scipy.signal: scipy.signal (import, line 1), scipy.signal.correlate "
                                           f"(attribute, line {correlate_line}), scipy.signal.convolve "
                                           f"(attribute, line {convolve_line}); action: block"),
        ("forbidden_library", bypass_name, "scipy.signal: scipy.signal (import, line 4); action: block"),
        ("forbidden_library", bypass_name,
         "PIL: PIL.Image (import, line 7), PIL.Image (string, line 8); action: block"),
    ]
    assert record.status == "graded_with_incidents" and record.kernel_starts == 1


def test_an_obfuscated_import_is_refused_and_reported_by_the_guard():
    nb = ATTACKS.obfuscated_scipy_conv(sample_cells.build_notebook(release(), sample_cells.read_style(STYLES, "loops")))
    executed, record = grade(nb, "block")
    conv = executed.cells[sample_cells.cell_index(executed, "conv2d_op")]
    assert [o.evalue.split(":")[0] for o in conv.outputs if o.output_type == "error"] == [
        "scipy.signal is not allowed in this assignment"]
    # no scan can read the name; the guard saw it and the grader asked it after the cell
    assert [(i.kind, i.cell, i.detail) for i in record.incidents] == [
        ("forbidden_library", "conv2d_op", "scipy.signal: scipy.signal (imported at run time, line 2); blocked")]


def test_flag_mode_grades_the_scipy_solution_with_full_marks_and_records_it():
    executed, record = grade(scipy_notebook(), "flag")
    assert failed_graded_cells(executed) == []
    assert [(i.kind, i.cell, i.detail.split(":")[0], i.detail.rsplit("; ", 1)[1]) for i in record.incidents] == [
        ("forbidden_library", "conv2d_op", "scipy.signal", "action: flag"),
        ("forbidden_library", "maxpool2d", "scipy.ndimage", "action: flag"),
        ("forbidden_library", "avgpool2d", "scipy.signal", "action: flag"),
    ]


def test_a_numpy_solution_has_no_incident_in_flag_mode():
    # with a plotting cell of the student's own: matplotlib imports PIL, which is library code's to import
    nb = sample_cells.build_notebook(release(), sample_cells.read_style(STYLES, "loops"))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.imshow(np.eye(4))\nplt.show()\n"
        "import sys\nprint(any(name.startswith('PI' + 'L.') for name in sys.modules))"))   # (the scan reads strings)
    executed, record = grade(nb, "flag")
    assert failed_graded_cells(executed) == []
    assert [o.text for o in executed.cells[-1].outputs] == ["True\n"]
    assert record.incidents == [] and record.status == "graded"
