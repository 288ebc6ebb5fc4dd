"""CheckCellMetadataCached (grader.engine.nbgrader_ext.cellmeta) against nbgrader's CheckCellMetadata."""
from __future__ import annotations

import jsonschema
import nbformat
import pytest
from nbgrader.preprocessors import CheckCellMetadata

from grader.engine.nbgrader_ext.cellmeta import CheckCellMetadataCached


def _notebook(**overrides):
    solution = nbformat.v4.new_code_cell("x = 1")
    solution.metadata.nbgrader = {"grade": False, "solution": True, "locked": False, "grade_id": "s1",
                                  "schema_version": 3}
    test = nbformat.v4.new_code_cell("assert x == 1")
    test.metadata.nbgrader = {"grade": True, "solution": False, "locked": True, "grade_id": "t1", "points": 2,
                              "schema_version": 3, **overrides}
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# ps"), solution, test])


def _outcome(preprocessor, nb):
    try:
        preprocessor.preprocess(nb, {})
    except Exception as exc:  # noqa: BLE001 - the outcome compared is the exception's type and text
        return type(exc).__name__, str(exc)
    return "ok", ""


@pytest.mark.parametrize("overrides, expected", [
    ({}, ("ok", "")),
    ({"points": "two"}, ("ValidationError", "Notebook failed to validate; the nbgrader metadata may be corrupted.")),
    ({"grade_id": 7}, ("ValidationError", "Notebook failed to validate; the nbgrader metadata may be corrupted.")),
    ({"schema_version": 1}, ("SchemaTooOldError", "Outdated schema version: 1 (expected 3)")),
    ({"schema_version": 4}, ("SchemaTooNewError", "Schema version is too new: 4 (expected 3)")),
])
def test_the_same_verdicts_as_nbgraders_check(overrides, expected):
    assert _outcome(CheckCellMetadata(), _notebook(**overrides)) == expected
    assert _outcome(CheckCellMetadataCached(), _notebook(**overrides)) == expected


def test_the_schema_is_checked_once_per_process(monkeypatch):
    checked = []
    validator = jsonschema.validators.validator_for({"$schema": "http://json-schema.org/draft-04/schema#"})
    original = validator.check_schema.__func__

    def counting(cls, schema, *args, **kwargs):
        checked.append(schema.get("title", "schema"))
        return original(cls, schema, *args, **kwargs)
    monkeypatch.setattr(validator, "check_schema", classmethod(counting))
    monkeypatch.setattr("grader.engine.nbgrader_ext.cellmeta._VALIDATORS", {})
    for _ in range(3):
        CheckCellMetadataCached().preprocess(_notebook(), {})
    assert len(checked) == 1
    CheckCellMetadata().preprocess(_notebook(), {})
    assert len(checked) == 3                     # nbgrader's own check: once per cell with metadata


def test_a_cell_without_nbgrader_metadata_is_left_alone():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("y = 2")])
    assert _outcome(CheckCellMetadataCached(), nb) == ("ok", "")
