"""Partial credit: a graded cell's points split over its checks, in the output form nbgrader scores."""
from __future__ import annotations

import nbformat
import pytest
from nbgrader.utils import determine_grade

from gradekit.checking import Registry
from grader.engine.nbgrader_ext.execute import TrustedExecute, earned_points, report_outputs
from grader.engine.records import CheckOutcome, GradingRecord


def outcome(name, passed, weight=1.0, hidden=True, message="wrong"):
    return CheckOutcome("test_cell", f"test_cell.{name}", f"{name} works", hidden, passed,
                        "" if passed else message, weight)


def graded_cell(outputs, points=4):
    cell = nbformat.v4.new_code_cell('run("test_cell")')
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points,
                                 "grade_id": "test_cell", "schema_version": 3}
    cell.outputs = outputs
    return cell


@pytest.mark.parametrize("results, partial, score", [
    ([outcome("a", True), outcome("b", True)], True, 4.0),
    ([outcome("a", True), outcome("b", False)], True, 2.0),
    ([outcome("a", True, 1), outcome("b", False, 3)], True, 1.0),
    ([outcome("a", False, 1), outcome("b", True, 3)], True, 3.0),
    ([outcome("a", False), outcome("b", False)], True, 0.0),
    ([outcome("a", True), outcome("b", False)], False, 0.0),
    ([outcome("a", True), outcome("b", True)], False, 4.0),
    # a visible check earns nothing by itself; a failing one counts against the cell
    ([outcome("v", True, hidden=False), outcome("a", True), outcome("b", False)], True, 2.0),
    ([outcome("v", False, hidden=False), outcome("a", True), outcome("b", True)], True, 4 * 2 / 3),
    ([outcome("v", True, hidden=False), outcome("a", False)], True, 0.0),
    ([outcome("v", True, hidden=False), outcome("a", True)], True, 4.0),
])
def test_nbgrader_scores_the_outputs_as_the_checks_weights_say(results, partial, score):
    cell = graded_cell(report_outputs(results, 4.0, partial))
    assert determine_grade(cell) == (score, 4.0)
    if partial:
        assert earned_points(results, 4.0) == pytest.approx(score)


def test_the_listing_shows_each_checks_points_and_the_cells_score():
    outputs = report_outputs([outcome("a", True, 1), outcome("b", False, 3, hidden=True, message="off by one")],
                             4.0, True)
    assert outputs[0].text == ("[PASS] (hidden) a works (1/1 points)\n"
                               "[FAIL] (hidden) b works (0/3 points)\n"
                               "       off by one\n"
                               "1/2 checks passed: 1 of 4 points.\n")
    example = report_outputs([outcome("v", True, hidden=False), outcome("a", True)], 2.0, True)
    assert example[0].text == ("[PASS] v works (an example: no points of its own)\n"
                               "[PASS] (hidden) a works (2/2 points)\n"
                               "2/2 checks passed: 2 of 2 points.\n")
    assert [o.output_type for o in outputs] == ["stream", "execute_result"]
    assert outputs[1].data == {"text/plain": "1.0"}


def test_all_or_nothing_reports_the_first_failure_as_an_error():
    outputs = report_outputs([outcome("a", True), outcome("b", False, message="bad shape")], 2.0, False)
    assert outputs[0].text.endswith("1/2 checks passed: 0 of 2 points.\n")
    assert (outputs[1].output_type, outputs[1].ename, outputs[1].evalue) == (
        "error", "CheckFailure", "1 of 2 checks failed. First failure: bad shape")


def test_grade_cells_are_rendered_from_the_record_with_the_executors_setting():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), graded_cell([], points=6)])
    record = GradingRecord("ada", "09_spatial", "09_spatial",
                           checks=[outcome("a", True), outcome("b", False), outcome("c", True)])
    TrustedExecute(partial_credit=True).render_grade_cells(nb, record)
    assert determine_grade(nb.cells[1]) == (4.0, 6.0)
    TrustedExecute(partial_credit=False).render_grade_cells(nb, record)
    assert determine_grade(nb.cells[1]) == (0, 6.0)
    assert GradingRecord.from_json(record.to_json()).checks == record.checks


def test_a_check_weight_must_be_a_positive_number():
    registry = Registry()
    for bad in (0, -1, True, "2"):
        with pytest.raises(ValueError, match=f"a check's weight must be a positive number, got {bad!r}"):
            registry.check("g", "title", weight=bad)
    registry.check("g", "heavy", weight=3)(lambda s: None)
    assert [c.weight for c in registry] == [3.0]
