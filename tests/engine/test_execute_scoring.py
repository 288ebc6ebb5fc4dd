"""Units: earned_points, report_outputs, cell_points and cell_name of grader.engine.nbgrader_ext.execute.

Verdicts are built by hand as CheckOutcome objects; the rendered outputs are also scored with
nbgrader's own ``determine_grade``, so the listing and the recorded points can be compared.
"""
from __future__ import annotations

import re

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.utils import determine_grade

from grader.engine.nbgrader_ext.execute import cell_name, cell_points, earned_points, report_outputs
from grader.engine.records import CheckOutcome


def visible(title, passed=True, message="", weight=1.0):
    return CheckOutcome("test_a", title.replace(" ", "_"), title, False, passed, message, weight)


def hidden(title, passed=True, message="", weight=1.0):
    return CheckOutcome("test_a", title.replace(" ", "_"), title, True, passed, message, weight)


def graded_cell(points, outputs=()):
    meta = {"nbgrader": {"grade": True, "solution": False, "locked": True, "grade_id": "test_a",
                         "points": points, "schema_version": 3}}
    cell = new_code_cell('run("test_a")', metadata=meta)
    cell.outputs = list(outputs)
    return cell


def nbgrader_score(results, points, partial_credit):
    """What nbgrader's SaveAutoGrades would record for a cell with these rendered outputs."""
    return determine_grade(graded_cell(points, report_outputs(results, points, partial_credit)))[0]


def listing(outputs) -> str:
    assert outputs[0]["output_type"] == "stream" and outputs[0]["name"] == "stdout"
    return outputs[0]["text"]


# ---------------------------------------------------------------- earned_points

def test_all_hidden_checks_passing_earn_all_points():
    assert earned_points([visible("shape"), hidden("h1"), hidden("h2")], 3) == 3.0


def test_points_are_split_over_hidden_checks_by_weight():
    results = [hidden("big", True, weight=3), hidden("small", False, weight=1)]
    assert earned_points(results, 2) == 1.5
    results = [hidden("big", False, weight=3), hidden("small", True, weight=1)]
    assert earned_points(results, 2) == 0.5


def test_a_passing_visible_check_neither_earns_nor_costs():
    assert earned_points([hidden("h1"), hidden("h2", False)], 4) == 2.0
    assert earned_points([visible("v"), hidden("h1"), hidden("h2", False)], 4) == 2.0


def test_a_failing_visible_check_counts_against_the_cell_by_its_weight():
    assert earned_points([visible("v", False), hidden("h1"), hidden("h2")], 3) == pytest.approx(2.0)
    assert earned_points([visible("v", False, weight=2), hidden("h1"), hidden("h2")], 4) == pytest.approx(2.0)


def test_a_cell_without_hidden_checks_is_all_or_nothing_on_its_visible_checks():
    assert earned_points([visible("v1"), visible("v2")], 5) == 5.0
    assert earned_points([visible("v1"), visible("v2", False)], 5) == 0.0
    assert earned_points([], 5) == 0.0


def test_every_check_failing_earns_zero():
    assert earned_points([visible("v", False), hidden("h", False)], 2) == 0.0


# ---------------------------------------------------------------- report_outputs

@pytest.mark.parametrize("partial_credit", [True, False])
def test_all_checks_passing_give_only_the_listing(partial_credit):
    outputs = report_outputs([visible("shape"), hidden("h1"), hidden("h2")], 3, partial_credit)
    assert len(outputs) == 1
    assert listing(outputs) == ("[PASS] shape (an example: no points of its own)\n"
                                "[PASS] (hidden) h1 (1.5/1.5 points)\n"
                                "[PASS] (hidden) h2 (1.5/1.5 points)\n"
                                "3/3 checks passed: 3 of 3 points.\n")
    assert nbgrader_score([visible("shape"), hidden("h1"), hidden("h2")], 3, partial_credit) == 3.0


FAILED = [visible("shape"), hidden("h1"), hidden("h2", False, "wrong value\nexpected 2, got 3")]


def test_partial_credit_adds_an_execute_result_holding_the_points_earned():
    outputs = report_outputs(FAILED, 3, True)
    assert listing(outputs) == ("[PASS] shape (an example: no points of its own)\n"
                                "[PASS] (hidden) h1 (1.5/1.5 points)\n"
                                "[FAIL] (hidden) h2 (0/1.5 points)\n"
                                "       wrong value\n"
                                "       expected 2, got 3\n"
                                "2/3 checks passed: 1.5 of 3 points.\n")
    assert len(outputs) == 2
    assert outputs[1]["output_type"] == "execute_result"
    assert outputs[1]["data"] == {"text/plain": "1.5"}
    assert outputs[1]["execution_count"] is None
    assert nbgrader_score(FAILED, 3, True) == 1.5


def test_without_partial_credit_a_failure_gives_an_error_output_and_no_points():
    outputs = report_outputs(FAILED, 3, False)
    assert listing(outputs).endswith("[FAIL] (hidden) h2 (0/1.5 points)\n"
                                     "       wrong value\n"
                                     "       expected 2, got 3\n"
                                     "2/3 checks passed: 0 of 3 points.\n")
    assert len(outputs) == 2
    error = outputs[1]
    summary = "1 of 3 checks failed. First failure: wrong value\nexpected 2, got 3"
    assert (error["output_type"], error["ename"], error["evalue"]) == ("error", "CheckFailure", summary)
    assert error["traceback"] == [f"CheckFailure: {summary}"]
    assert nbgrader_score(FAILED, 3, False) == 0.0


def test_partial_credit_with_nothing_earned_is_an_error_output():
    results = [hidden("h1", False, "no"), hidden("h2", False, "still no")]
    outputs = report_outputs(results, 2, True)
    assert [o["output_type"] for o in outputs] == ["stream", "error"]
    assert outputs[1]["evalue"] == "2 of 2 checks failed. First failure: no"
    assert listing(outputs).endswith("0/2 checks passed: 0 of 2 points.\n")


def test_a_failing_visible_check_is_listed_as_an_example_and_lowers_the_points():
    results = [visible("shape", False, "shape (2, 3) != (3, 2)"), hidden("h1"), hidden("h2")]
    outputs = report_outputs(results, 4, True)
    assert listing(outputs) == ("[FAIL] shape (an example: no points of its own)\n"
                                "       shape (2, 3) != (3, 2)\n"
                                "[PASS] (hidden) h1 (2/2 points)\n"
                                "[PASS] (hidden) h2 (2/2 points)\n"
                                "2/3 checks passed: 2.67 of 4 points.\n")
    assert outputs[1]["data"] == {"text/plain": repr(4 * 2 / 3)}
    assert nbgrader_score(results, 4, True) == pytest.approx(8 / 3)
    assert nbgrader_score(results, 4, False) == 0.0


def test_weights_set_each_hidden_checks_share_in_the_listing():
    results = [hidden("big", True, weight=3), hidden("small", False, "off by one", weight=1)]
    outputs = report_outputs(results, 2, True)
    assert listing(outputs) == ("[PASS] (hidden) big (1.5/1.5 points)\n"
                                "[FAIL] (hidden) small (0/0.5 points)\n"
                                "       off by one\n"
                                "1/2 checks passed: 1.5 of 2 points.\n")


def test_shares_are_shown_with_three_significant_digits():
    results = [hidden("a"), hidden("b"), hidden("c", False)]
    outputs = report_outputs(results, 1, True)
    assert listing(outputs) == ("[PASS] (hidden) a (0.333/0.333 points)\n"
                                "[PASS] (hidden) b (0.333/0.333 points)\n"
                                "[FAIL] (hidden) c (0/0.333 points)\n"
                                "2/3 checks passed: 0.667 of 1 points.\n")


def test_a_failure_without_a_message_adds_no_indented_lines():
    outputs = report_outputs([hidden("h", False)], 1, False)
    assert listing(outputs) == "[FAIL] (hidden) h (0/1 points)\n0/1 checks passed: 0 of 1 points.\n"
    assert outputs[1]["evalue"] == "1 of 1 checks failed. First failure: "


def test_the_error_summary_names_only_the_first_failure():
    results = [visible("v", False, "first"), hidden("h", False, "second")]
    assert report_outputs(results, 1, False)[1]["evalue"] == "2 of 2 checks failed. First failure: first"


def test_zero_hidden_checks_all_visible_failing_score_zero():
    results = [visible("v", False, "bad")]
    outputs = report_outputs(results, 2, True)
    assert listing(outputs) == ("[FAIL] v (an example: no points of its own)\n"
                                "       bad\n"
                                "0/1 checks passed: 0 of 2 points.\n")
    assert outputs[1]["output_type"] == "error"
    assert nbgrader_score(results, 2, True) == 0.0


def test_zero_hidden_checks_all_visible_passing_print_the_cells_points_and_no_error():
    outputs = report_outputs([visible("v")], 2, True)
    assert outputs == [{"output_type": "stream", "name": "stdout",
                        "text": "[PASS] v (an example: no points of its own)\n1/1 checks passed: 2 of 2 points.\n"}]


def test_zero_hidden_checks_all_visible_passing_record_what_the_listing_says():
    results = [visible("v")]
    printed = float(re.search(r"checks passed: (\S+) of", listing(report_outputs(results, 2, True))).group(1))
    assert nbgrader_score(results, 2, True) == printed


@pytest.mark.parametrize("partial_credit", [True, False])
@pytest.mark.parametrize("results, points", [
    ([hidden("a"), hidden("b", False)], 2),
    ([hidden("a", weight=2), hidden("b", False), visible("v")], 3),
    ([visible("v", False), hidden("a"), hidden("b")], 4),
    ([visible("v", False), hidden("a", False)], 1),
    ([hidden("a"), hidden("b"), hidden("c", False), hidden("d", False, weight=5)], 6),
])
def test_the_points_in_the_listing_are_what_nbgrader_records(results, points, partial_credit):
    printed = re.search(r"checks passed: (\S+) of", listing(report_outputs(results, points, partial_credit))).group(1)
    assert f"{nbgrader_score(results, points, partial_credit):.3g}" == printed


# ---------------------------------------------------------------- cell_points, cell_name

def test_cell_points_reads_the_nbgrader_points_as_a_float():
    assert cell_points(graded_cell(2)) == 2.0
    assert isinstance(cell_points(graded_cell(2)), float)
    assert cell_points(graded_cell("1.5")) == 1.5


@pytest.mark.parametrize("metadata", [{}, {"nbgrader": {}}, {"nbgrader": {"grade": False, "points": None}},
                                      {"nbgrader": {"points": 0}}])
def test_cell_points_is_zero_without_points(metadata):
    assert cell_points(new_code_cell("x = 1", metadata=metadata)) == 0.0


def test_cell_name_is_the_grade_id_or_else_the_position():
    assert cell_name(graded_cell(1), 7) == "test_a"
    assert cell_name(new_code_cell("x = 1"), 7) == "cell 7"
    assert cell_name(new_markdown_cell("hi", metadata={"nbgrader": {"grade_id": ""}}), 0) == "cell 0"
    assert cell_name(new_code_cell("x", metadata={"nbgrader": {"solution": True}}), 3) == "cell 3"
