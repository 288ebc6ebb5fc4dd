"""SubMarks: nbgrader's late-submission plugin for the course, a fixed deduction per started hour.

nbgrader records how late a submission is (its ``timestamp.txt`` against the assignment's due date in
the gradebook, set in formgrader or with ``nbgrader db assignment add NAME --duedate=...``) and asks
``c.AssignLatePenalties.plugin_class`` for each late notebook's penalty. This one deducts
``marks_per_hour`` for every started hour after the due date (one minute late costs one hour's
deduction); nbgrader caps the penalty at the notebook's score, so a score never goes below zero.
A submission on time, or an assignment without a due date, is never penalised.
"""
from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class SubMarks(LateSubmissionPlugin):
    """``marks_per_hour`` off each late notebook for every started hour it is late."""

    marks_per_hour = Float(1.0, min=0.0, help="Marks deducted per started hour after the due date").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        if total_seconds_late <= 0:
            return None
        hours = math.ceil(total_seconds_late / 3600)
        penalty = hours * self.marks_per_hour
        self.log.info("%s is %d started hour(s) late: %g marks off (score %g)", student_id, hours, penalty, score)
        return penalty
