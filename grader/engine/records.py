"""What happened while grading one submission, in a form people and programs can read.

Every submission ends with a record: ``status`` is ``graded`` when nothing
unusual happened, ``graded_with_incidents`` when limits were hit or the
kernel had to be restarted (the affected cells lost their points), and
``failed`` when the notebook could not be graded at all (with ``reason``).
"""
from __future__ import annotations

import dataclasses
import json

__all__ = ["Incident", "CheckOutcome", "GradingRecord", "INCIDENT_KINDS"]

INCIDENT_KINDS = {
    "timeout": "a cell ran longer than its time limit",
    "check_timeout": "a call from a check into student code ran longer than its time limit",
    "time_limit": "the whole notebook ran longer than its time limit; later cells were not run",
    "out_of_memory": "the memory limit was reached",
    "process_limit": "the process limit was reached (e.g. a fork bomb)",
    "crashed": "the kernel died (e.g. segfault or os._exit) and was restarted",
    "too_much_output": "the notebook printed more than the output limit; output was cut off",
    "disk_limit": "a file or the sandbox's disk reached its size limit",
    "unresponsive": "the kernel ignored an interrupt and was restarted",
    "agent_unavailable": "the grading agent in the kernel did not answer (stopped or replaced by student code)",
    "grader_error": "a check itself failed (a bug in the grader, not the student's fault)",
    "forbidden_library": "student code used a module the assignment forbids (blocked or flagged, as configured "
                         "in c.LibraryPolicy)",
}


@dataclasses.dataclass
class Incident:
    kind: str
    cell: str
    detail: str = ""

    def __post_init__(self):
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(f"unknown incident kind {self.kind!r}; known: {sorted(INCIDENT_KINDS)}")


@dataclasses.dataclass
class CheckOutcome:
    """One check's verdict in one graded cell (the cell's points are split over its checks by weight)."""

    cell: str
    check: str
    title: str
    hidden: bool
    passed: bool
    message: str = ""
    weight: float = 1.0


@dataclasses.dataclass
class GradingRecord:
    student: str
    assignment: str
    notebook: str
    status: str = "graded"
    reason: str = ""
    sandbox: str = ""
    key: str = ""
    inputs_salt: str = ""     # hex salt the hidden checks drew their inputs with (grader.engine.inputs)
    seconds: float = 0.0
    kernel_starts: int = 0
    incidents: list[Incident] = dataclasses.field(default_factory=list)
    checks: list[CheckOutcome] = dataclasses.field(default_factory=list)

    def add(self, kind: str, cell: str, detail: str = "") -> None:
        self.incidents.append(Incident(kind, cell, detail))
        if self.status == "graded":
            self.status = "graded_with_incidents"

    @property
    def reasons(self) -> list[str]:
        """The distinct incident kinds (plus the failure reason), in the order they happened."""
        kinds = list(dict.fromkeys(i.kind for i in self.incidents))
        return ([self.reason] if self.reason else []) + kinds

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> GradingRecord:
        data = json.loads(text)
        data["incidents"] = [Incident(**i) for i in data.get("incidents", [])]
        data["checks"] = [CheckOutcome(**c) for c in data.get("checks", [])]
        return cls(**data)
