"""What the grading service grants a student, configured in ``nbgrader_config.py`` (``c.ServicePolicy.*``)."""
from __future__ import annotations

import datetime

from traitlets import Enum, Float, Int, Unicode
from traitlets.config import LoggingConfigurable


class ServicePolicy(LoggingConfigurable):
    """Rate limit, what feedback shows before the deadline, and which submission counts."""

    rate_limit = Int(3, help="Graded submissions per student and assignment in any rolling `rate_window`; "
                             "a further one waits, and its feedback says until when (0: no limit)").tag(config=True)
    rate_window = Float(3600.0, help="The rate limit's rolling window, in seconds").tag(config=True)
    feedback_before_deadline = Enum(
        ["checks", "visible"], "checks",
        help="What a student's feedback shows before the assignment's due date: 'checks' (every check's pass or "
             "fail with its message and points, hidden-test source never shown) or 'visible' (the visible "
             "checks' results only; no points)").tag(config=True)
    counts = Enum(
        ["last_before_deadline", "last"], "last_before_deadline",
        help="Which submission the gradebook holds: the student's last one submitted by the due date (the last "
             "one at all if none was on time), or the last one whatever its time (nbgrader's late penalty "
             "applies to a late one either way)").tag(config=True)
    poll_interval = Float(1.0, help="Seconds between scans of the exchange's inbound directory").tag(config=True)
    workers = Int(0, help="Parallel executions (0: one per core, plus one, as `make grade`)").tag(config=True)
    scheduler = Unicode("", help="A Dask scheduler (tcp://host:port) to execute on instead of local workers, "
                                "as `python -m grader grade --scheduler`").tag(config=True)

    def limit_wait(self, started: list[float], now: float) -> float | None:
        """When the next grading may start, given the start times in the window; None if it may start now."""
        if self.rate_limit <= 0:
            return None
        recent = sorted(t for t in started if t > now - self.rate_window)
        if len(recent) < self.rate_limit:
            return None
        return recent[-self.rate_limit] + self.rate_window

    def counting(self, submissions: list, duedate: datetime.datetime | None):
        """The submission the gradebook holds, of a student's finished ``submissions`` (oldest first)."""
        if not submissions:
            return None
        if self.counts == "last" or duedate is None:
            return submissions[-1]
        due = (duedate.replace(tzinfo=datetime.timezone.utc) if duedate.tzinfo is None else duedate).timestamp()
        on_time = [s for s in submissions if s.submitted_at <= due]
        return on_time[-1] if on_time else submissions[-1]
