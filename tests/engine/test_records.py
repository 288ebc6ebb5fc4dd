"""Unit: grader.engine.records (GradingRecord status, reasons and its JSON form; Incident; CheckOutcome)."""
from __future__ import annotations

import json

import pytest

from grader.engine.records import INCIDENT_KINDS, CheckOutcome, GradingRecord, Incident


def record(**fields):
    return GradingRecord(student="ada", assignment="01_unit_demo", notebook="01_unit_demo", **fields)


def test_a_new_record_is_graded_and_empty():
    r = record()
    assert (r.status, r.reason, r.sandbox, r.key, r.inputs_salt, r.seconds, r.kernel_starts) == (
        "graded", "", "", "", "", 0.0, 0)
    assert (r.incidents, r.checks, r.reasons) == ([], [], [])


def test_an_incident_turns_graded_into_graded_with_incidents():
    r = record()
    r.add("timeout", "cell 3", "interrupted after 60 s")
    assert r.status == "graded_with_incidents"
    assert r.incidents == [Incident("timeout", "cell 3", "interrupted after 60 s")]
    r.add("crashed", "test_a")
    assert r.status == "graded_with_incidents"
    assert r.incidents[-1] == Incident("crashed", "test_a", "")


def test_a_failed_record_stays_failed_when_incidents_are_added():
    r = record(status="failed", reason="the notebook file is empty")
    r.add("timeout", "cell 1")
    assert r.status == "failed"


def test_reasons_are_the_failure_reason_then_distinct_kinds_in_order():
    r = record(status="failed", reason="nbgrader autograde failed")
    for kind in ("timeout", "crashed", "timeout", "forbidden_library", "crashed"):
        r.add(kind, "c")
    assert r.reasons == ["nbgrader autograde failed", "timeout", "crashed", "forbidden_library"]
    assert record().reasons == []


def test_an_unknown_incident_kind_is_refused_with_the_known_ones():
    with pytest.raises(ValueError) as info:
        Incident("segfault", "cell 1")
    assert str(info.value) == f"unknown incident kind 'segfault'; known: {sorted(INCIDENT_KINDS)}"
    r = record()
    with pytest.raises(ValueError, match="unknown incident kind 'oops'"):
        r.add("oops", "cell 1")
    assert (r.status, r.incidents) == ("graded", [])


def test_the_incident_kinds_are_the_documented_set():
    assert set(INCIDENT_KINDS) == {"timeout", "check_timeout", "time_limit", "out_of_memory", "process_limit",
                                   "crashed", "too_much_output", "disk_limit", "unresponsive", "agent_unavailable",
                                   "grader_error", "forbidden_library"}
    assert all(isinstance(text, str) and text for text in INCIDENT_KINDS.values())


def test_check_outcome_defaults():
    assert CheckOutcome("test_a", "shape", "Output shape", True, True) == CheckOutcome(
        "test_a", "shape", "Output shape", True, True, "", 1.0)


FULL = GradingRecord(
    student="ana maría", assignment="01_unit_demo", notebook="01_unit_demo", status="graded_with_incidents",
    reason="", sandbox="bwrap, 2 GiB", key="f" * 64, inputs_salt="5a" * 32, seconds=12.5, kernel_starts=2,
    incidents=[Incident("timeout", "cell 4", "interrupted after 60 s"), Incident("crashed", "test_a")],
    checks=[CheckOutcome("test_a", "shape", "Output shape", False, True),
            CheckOutcome("test_a", "values", "Values on a random input", True, False, "expected 1, got 2\n", 2.5)])


def test_to_json_then_from_json_gives_an_equal_record():
    again = GradingRecord.from_json(FULL.to_json())
    assert again == FULL
    assert isinstance(again.incidents[0], Incident) and isinstance(again.checks[1], CheckOutcome)
    assert again.reasons == ["timeout", "crashed"]


def test_the_json_form_is_indented_and_names_every_field():
    text = FULL.to_json()
    assert text.startswith('{\n  "student": "ana mar\\u00eda",\n  "assignment": "01_unit_demo",')
    data = json.loads(text)
    assert list(data) == ["student", "assignment", "notebook", "status", "reason", "sandbox", "key", "inputs_salt",
                          "seconds", "kernel_starts", "incidents", "checks"]
    assert data["inputs_salt"] == "5a" * 32
    assert data["incidents"][1] == {"kind": "crashed", "cell": "test_a", "detail": ""}
    assert data["checks"][1] == {"cell": "test_a", "check": "values", "title": "Values on a random input",
                                 "hidden": True, "passed": False, "message": "expected 1, got 2\n", "weight": 2.5}


def test_from_json_fills_defaults_for_a_minimal_record_and_for_checks_without_weight():
    text = json.dumps({"student": "ada", "assignment": "a", "notebook": "n",
                       "checks": [{"cell": "c", "check": "k", "title": "t", "hidden": True, "passed": True}]})
    r = GradingRecord.from_json(text)
    assert r == GradingRecord("ada", "a", "n", checks=[CheckOutcome("c", "k", "t", True, True, "", 1.0)])


def test_from_json_refuses_unknown_fields_and_unknown_incident_kinds():
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        GradingRecord.from_json(json.dumps({"student": "a", "assignment": "b", "notebook": "c", "colour": 1}))
    with pytest.raises(ValueError, match="unknown incident kind 'meteor'"):
        GradingRecord.from_json(json.dumps({"student": "a", "assignment": "b", "notebook": "c",
                                            "incidents": [{"kind": "meteor", "cell": "x"}]}))
    with pytest.raises(json.JSONDecodeError):
        GradingRecord.from_json("{")
