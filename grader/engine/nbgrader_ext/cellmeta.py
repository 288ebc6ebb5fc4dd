"""CheckCellMetadataCached: nbgrader's CheckCellMetadata with its JSON schema checked and compiled once.

nbgrader validates every cell's ``metadata.nbgrader`` with ``jsonschema.validate(metadata, schema)``,
which checks the schema itself against the JSON Schema meta-schema and builds a validator on every
call, for every cell, twice per autograde (``Autograde.sanitize_preprocessors`` and
``autograde_preprocessors``) and twice per release; that re-checking is most of the preprocessor's
work.  This class validates with one validator per process, built from nbgrader's schema after the
same meta-schema check.  The verdicts are nbgrader's: a cell of another schema version goes through
nbgrader's own ``validate_cell`` (and its ``SchemaTooOldError`` / ``SchemaTooNewError``), and invalid
metadata raises the same ``ValidationError`` with the same message.
"""
from __future__ import annotations

import traceback

import jsonschema
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.preprocessors import CheckCellMetadata

_VALIDATORS: dict[int, jsonschema.protocols.Validator] = {}   # schema version -> compiled validator


class CachedMetadataValidator(MetadataValidator):
    """nbgrader's cell-metadata validator whose schema validator is built once per process."""

    def _validator(self):
        validator = _VALIDATORS.get(self.schema_version)
        if validator is None:
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            validator = _VALIDATORS[self.schema_version] = cls(self.schema)
        return validator

    def validate_cell(self, cell) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            return super().validate_cell(cell)
        error = jsonschema.exceptions.best_match(self._validator().iter_errors(meta))
        if error is not None:
            raise error


class CheckCellMetadataCached(CheckCellMetadata):
    """CheckCellMetadata (same errors, same log) validating with :class:`CachedMetadataValidator`."""

    def preprocess(self, nb, resources):
        try:
            CachedMetadataValidator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg)  # noqa: B904 - as nbgrader raises it
        return nb, resources
