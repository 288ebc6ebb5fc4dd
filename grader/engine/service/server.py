"""The grading service: each submission in the exchange graded, recorded and fed back while the assignment is open.

``python -m grader serve`` (``make serve``) runs :class:`GradingService` for one course.  Its loop:

1. *Scan* ``<exchange>/<course>/inbound`` (a bounded poll, ``ServicePolicy.poll_interval``) and add every
   complete new submission to the durable queue (:mod:`.queue`).
2. *Schedule*: the first ready submission first (FIFO by arrival); at most one grading per student and
   assignment at a time; a student at the rate limit waits (the submission's feedback says until when),
   and a newer submission of theirs replaces a waiting one.
3. *Grade* as ``make grade`` does (:class:`grader.engine.batch.GradingRun`): nbgrader's collect of exactly
   this submission, preflight, sanitize, execution in the sandbox on a local worker or a Dask cluster
   (executions of different students run in parallel), then ``nbgrader autograde`` from the cached
   execution, which writes the gradebook.
4. *Feed back*: nbgrader's generate_feedback for the student, and release_feedback to that student only.
   A note at the top says when it was graded, whether it is the submission the grade counts, and how many
   graded submissions the rate limit leaves.
5. *Count*: when the just-graded submission is not the one the policy counts (a late one after an on-time
   one), the counting submission is collected and recorded again from its cached execution, so the
   gradebook always holds the counting score.

Every state change is committed to the queue before the next step, and every step is idempotent, so the
service can be killed at any moment (``kill -9`` included) and restarted: nothing is lost and no submission
is graded twice (see :mod:`.queue`).  A status line goes to the log every ``status_interval`` seconds and a
JSON status to ``.grading/service-status.json``.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import signal
import tempfile
import threading
import time

from nbconvert.exporters import HTMLExporter
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests

from .. import course, grading_lock, jobs
from ..assignment import names as assignment_names
from ..batch import WORKER_MARGIN_SECONDS, Executor, GradingRun, default_workers
from ..nbgrader_ext.feedback import SubmissionNote, VisibleChecksOnly
from . import exchange
from .policy import ServicePolicy
from .queue import QUEUE_FILE, Submission, SubmissionQueue, status_line

STATUS_FILE = os.path.join(".grading", "service-status.json")


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclasses.dataclass
class _Grading:
    """A submission between its start and its recording."""

    submission: Submission
    inbound: exchange.Inbound
    key: str = ""


class ServiceError(RuntimeError):
    """The service cannot run on this course (its exchange or configuration is missing)."""


class GradingService:
    """Grades the course's submissions as they arrive in nbgrader's exchange (see the module doc)."""

    def __init__(self, root: str = course.ROOT, workers: int | None = None, scheduler: str | None = None,
                 assignments: list[str] | None = None, log=print, status_interval: float = 30.0,
                 clock=time.time):
        self.root = os.path.abspath(root)
        self.clock = clock   # seconds since the epoch: every time the queue stores and the policy compares
        self.config = course.load_config(self.root)
        self.policy = ServicePolicy(config=self.config)
        self.log = log
        self.assignments = set(assignments or assignment_names(self.root))
        if not self.assignments:
            raise ServiceError(f"no assignment in {self.root} (source/<name>/ with assignments/<name>/)")
        self.inbound_dir = exchange.inbound_path(self.config)
        if not os.path.isdir(self.inbound_dir):
            raise ServiceError(f"no exchange inbound directory at {self.inbound_dir}: release an assignment to "
                               "the exchange first (nbgrader release_assignment, or formgrader)")
        self.check_owner = bool(self.config.ExchangeCollect.get("check_owner", self.config.CollectApp.get(
            "check_owner", True)))
        self.workers = workers or self.policy.workers or default_workers()
        self.scheduler = scheduler or self.policy.scheduler or None
        self.queue = SubmissionQueue(os.path.join(self.root, QUEUE_FILE))
        self.api = course.make_api(self.root, self.config)
        self._runs: dict[str, GradingRun] = {}
        self._inflight: dict[int, _Grading] = {}      # submission id -> its grading
        self._waiting: dict[str, list[int]] = {}      # execution key -> submissions waiting for it
        self._executor: Executor | None = None
        self._stop = threading.Event()
        self.status_interval = status_interval
        self._last_status = 0.0

    # ------------------------------------------------------------------ loop
    def run(self, until_idle: bool = False, timeout: float | None = None) -> None:
        """Serve until :meth:`stop` (or SIGTERM/SIGINT in the main thread); ``until_idle``: until nothing
        is queued, waiting or running. Holds the course's grading lock meanwhile: raises
        :class:`grading_lock.CourseBusy` at once if another service or a batch grades the course."""
        started = time.monotonic()
        executor = Executor(self.workers, self.scheduler,
                            self._submission_timeout() + WORKER_MARGIN_SECONDS)
        with grading_lock.hold(self.root, "the grading service (python -m grader serve)"), executor:
            recovered = self.queue.recover()   # under the lock: no other service is grading them
            if recovered:
                self.log(f"resuming {len(recovered)} gradings a stopped service left running: "
                         + ", ".join(f"{s.student} {s.assignment} {s.timestamp}" for s in recovered[:10]))
            self._executor = executor
            where = f"Dask scheduler {self.scheduler}" if self.scheduler else f"{self.workers} local workers"
            self.log(f"grading service for {self.config.CourseDirectory.course_id}: watching {self.inbound_dir}, "
                     f"{where}, assignments {', '.join(sorted(self.assignments))}")
            try:
                while not self._stop.is_set():
                    self.step()
                    if until_idle and not self._inflight and not self.queue.pending():
                        break
                    if timeout is not None and time.monotonic() - started > timeout:
                        raise TimeoutError(f"the service did not become idle within {timeout:g} s: "
                                           f"{status_line(self.queue.status(now=self.clock()))}")
            finally:
                self._executor = None
                self.write_status()

    def stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.stop())

    def step(self) -> None:
        """One round: scan, schedule, wait briefly for executions, record what finished."""
        self.scan()
        self.schedule()
        timeout = self.policy.poll_interval if self._executor.busy else 0.0
        finished = self._executor.poll(timeout) if self._executor.busy else []
        for job, result in finished:
            self._executed(job, result)
        if not finished and not self._executor.busy:
            self._stop.wait(self.policy.poll_interval if not self._ready_now() else 0.0)
        if time.monotonic() - self._last_status >= self.status_interval:
            self.write_status()
            self.log(status_line(self.queue.status(now=self.clock())))

    def _submission_timeout(self) -> float:
        from ..sandbox import SandboxPolicy
        return float(SandboxPolicy(config=self.config).submission_timeout)

    def _ready_now(self) -> bool:
        now = self.clock()
        busy = {(g.submission.student, g.submission.assignment) for g in self._inflight.values()}
        return any(s.ready_at <= now and (s.student, s.assignment) not in busy for s in self.queue.pending())

    # ------------------------------------------------------------------ arrivals
    def scan(self) -> list[Submission]:
        """Queue the new complete submissions in the exchange; a newer one replaces the student's waiting one."""
        added = []
        for found in exchange.inbound_submissions(self.inbound_dir, self.queue.known(), self.assignments):
            submission = self.queue.add(found.name, found.student, found.assignment, found.timestamp,
                                        found.submitted_at, now=self.clock())
            if submission is None:
                continue
            added.append(submission)
            for older in self.queue.pending():
                if (older.state == "waiting" and older.student == found.student
                        and older.assignment == found.assignment and older.submitted_at < found.submitted_at):
                    reason = f"replaced by the newer submission of {found.timestamp} while it waited"
                    self.queue.supersede(older.id, reason, now=self.clock())
                    self._note(older, "Not graded", [
                        f"This submission ({older.timestamp}) was waiting for your rate limit when you submitted "
                        f"again at {found.timestamp}; the newer submission takes its place in the queue."])
        return added

    def schedule(self) -> None:
        """Start the ready submissions, first ready first, while a worker is free."""
        now = self.clock()
        busy = {(g.submission.student, g.submission.assignment) for g in self._inflight.values()}
        for submission in self.queue.pending():
            if len(self._inflight) >= self.workers + 1:   # one recording behind the executions is enough
                return
            if submission.ready_at > now:
                break
            if (submission.student, submission.assignment) in busy:
                continue
            started = self.queue.started_since(submission.student, submission.assignment,
                                               now - self.policy.rate_window)
            opens = self.policy.limit_wait(started, now)
            if opens is not None:
                if submission.state != "waiting" or (submission.not_before or 0) < opens:
                    reason = (f"rate limit: {self.policy.rate_limit} graded submissions per "
                              f"{self.policy.rate_window / 60:g} minutes; graded from {_utc(opens)}")
                    self.queue.wait(submission.id, opens, reason)
                    self._note(submission, "Waiting for your rate limit", [
                        f"You have had {len(started)} submissions of {submission.assignment} graded in the last "
                        f"{self.policy.rate_window / 60:g} minutes, the limit. This submission "
                        f"({submission.timestamp}) will be graded at {_utc(opens)}; fetch feedback again after that.",
                        "If you submit again before then, the newer submission replaces this one in the queue."])
                continue
            busy.add((submission.student, submission.assignment))
            self._start(submission)

    # ------------------------------------------------------------------ grading
    def _run_for(self, assignment: str) -> GradingRun:
        if assignment not in self._runs:
            self._runs[assignment] = GradingRun(self.root, assignment, force=True)
        return self._runs[assignment]

    def _inbound(self, submission: Submission) -> exchange.Inbound | None:
        return exchange.read_inbound(self.inbound_dir, submission.inbound)

    def _start(self, submission: Submission) -> None:
        self.queue.start(submission.id, now=self.clock())
        submission = self.queue.get(submission.id)
        inbound = self._inbound(submission)
        if inbound is None:
            self._finish_failed(submission, None, "the submission's folder left the exchange before it was graded")
            return
        if self.check_owner and inbound.owner != submission.student:
            self._finish_failed(submission, inbound, f"the submission folder is owned by {inbound.owner!r}, not by "
                                                     f"the student {submission.student!r} it names")
            return
        grading = _Grading(submission, inbound)
        self._inflight[submission.id] = grading
        job = self._plan(grading)
        if job is None:
            if grading.submission.id in self._inflight:
                self._record(grading)
            return
        grading.key = job.key
        if job.key not in self._waiting:
            self._waiting[job.key] = []
            self._executor.submit(job)
        self._waiting[job.key].append(submission.id)

    def _plan(self, grading: _Grading):
        """Collect this submission and plan its execution; None when it needs none (cached, or failed)."""
        submission, run = grading.submission, self._run_for(grading.submission.assignment)
        result = exchange.collect(self.api, grading.inbound)
        if not result.get("success"):
            self._finish_failed(submission, grading.inbound, "nbgrader collect failed: "
                                + (result.get("error") or result.get("log") or "no log").strip()[-300:])
            return None
        run.outcomes.pop(submission.student, None)
        job = run.guarded("planning", submission.student, run.plan)
        if job is None and submission.student not in run.planned:
            outcome = run.outcomes.get(submission.student)
            reason = "; ".join(outcome.reasons) if outcome else "not planned"
            self._finish_failed(submission, grading.inbound, reason, recorded=True)
        elif job is None:
            grading.key = run.planned[submission.student].key
        return job

    def _executed(self, job, result) -> None:
        run = self._run_for(job.assignment)
        if isinstance(result, Exception):
            run.failed_jobs[job.key] = f"execution failed: {type(result).__name__}: {result}"[:300]
        else:
            run.cache.put(result)
        for submission_id in self._waiting.pop(job.key, []):
            grading = self._inflight.get(submission_id)
            if grading is not None:
                self._record(grading)

    def _record(self, grading: _Grading) -> None:
        """nbgrader autograde from the cached execution, feedback, the counting submission, the queue's state."""
        submission, run = grading.submission, self._run_for(grading.submission.assignment)
        run.guarded("recording", submission.student, run.record)
        outcome = run.outcomes.get(submission.student)
        if outcome is None or outcome.status == "failed":
            reason = "; ".join(outcome.reasons) if outcome else "not recorded"
            self._finish_failed(submission, grading.inbound, reason, recorded=True)
            return
        counting = self._counting(submission)
        self._feedback(submission, grading.inbound, outcome, counting)
        if counting is not None and counting.id != submission.id:
            self._restore(counting)
        self.queue.finish(submission.id, "done", outcome.status, outcome.score, outcome.max_score, None,
                          now=self.clock())
        self.queue.released(submission.id, now=self.clock())
        self.queue.set_counting(submission.student, submission.assignment,
                                counting.id if counting is not None else submission.id)
        self._inflight.pop(submission.id, None)

    def _finish_failed(self, submission: Submission, inbound, reason: str, recorded: bool = False) -> None:
        """A submission that could not be graded normally: its reason in the queue and in its feedback note.

        ``recorded``: the grading run wrote a row of zeros to the gradebook for it, which the counting
        submission (if another) replaces."""
        if inbound is not None:
            self._note(submission, "This submission could not be graded", [
                reason, "Fix what it names and submit again."], inbound=inbound)
        counting = self._counting(submission) if recorded else None
        if counting is not None and counting.id != submission.id:
            self._restore(counting)
        self.queue.finish(submission.id, "failed", "failed", 0.0 if recorded else None, None, reason[:500],
                          now=self.clock())
        if inbound is not None:
            self.queue.released(submission.id, now=self.clock())
        if recorded:
            self.queue.set_counting(submission.student, submission.assignment,
                                    counting.id if counting is not None else submission.id)
        self._inflight.pop(submission.id, None)
        self.log(f"{submission.student} {submission.assignment} {submission.timestamp}: not graded: {reason[:200]}")

    # ------------------------------------------------------------------ counting and feedback
    def _duedate(self, assignment: str):
        with Gradebook(self.api.coursedir.db_url) as gb:
            try:
                return gb.find_assignment(assignment).duedate
            except MissingEntry:
                return None

    def _counting(self, submission: Submission) -> Submission | None:
        """The submission the gradebook must hold once ``submission`` is graded."""
        finished = [s for s in self.queue.graded_of(submission.student, submission.assignment)
                    if s.id != submission.id]
        candidates = sorted(finished + [submission], key=lambda s: (s.submitted_at, s.id))
        return self.policy.counting(candidates, self._duedate(submission.assignment))

    def _restore(self, counting: Submission) -> None:
        """Put the counting submission back into submitted/ and the gradebook (from its cached execution)."""
        inbound = self._inbound(counting)
        run = self._run_for(counting.assignment)
        if inbound is None or not exchange.collect(self.api, inbound).get("success"):
            self.log(f"{counting.student} {counting.assignment}: the counting submission {counting.timestamp} "
                     "could not be collected again; the gradebook holds the latest graded one")
            return
        run.outcomes.pop(counting.student, None)
        job = run.guarded("planning", counting.student, run.plan)
        if job is not None:   # its execution is no longer cached: run it here
            run.cache.put(jobs.execute_job(job))
        if counting.student in run.planned:
            run.guarded("recording", counting.student, run.record)

    def _feedback(self, submission: Submission, inbound: exchange.Inbound, outcome, counting) -> None:
        note = self._note_text(submission, outcome, counting)
        due = self._duedate(submission.assignment)
        before_due = due is None or self.clock() < _epoch(due)
        self.api.config.SubmissionNote.text = note
        try:
            result = self.api.generate_feedback(submission.assignment, submission.student)
        finally:
            self.api.config.SubmissionNote.text = ""
        if not result.get("success"):
            self._note(submission, "Graded", [note.replace("**", ""), "The feedback page could not be made: "
                                              + (result.get("error") or "no log").strip()[-200:]], inbound=inbound)
            return
        if before_due and self.policy.feedback_before_deadline == "visible":
            self._visible_feedback(submission, inbound, note)
            return
        released = self.api.release_feedback(submission.assignment, submission.student)
        if not released.get("success"):
            self.log(f"{submission.student} {submission.assignment}: release_feedback failed: "
                     + (released.get("error") or released.get("log") or "").strip()[-200:])

    def _visible_feedback(self, submission: Submission, inbound: exchange.Inbound, note: str) -> None:
        """Before the due date, with ``feedback_before_deadline = 'visible'``: the visible checks only."""
        import nbformat
        exporter = HTMLExporter(template_name="lab")
        for pp in (ClearHiddenTests(enforce_metadata=False), VisibleChecksOnly(), SubmissionNote(text=note)):
            exporter.register_preprocessor(pp, enabled=True)
        pages = []
        for notebook in inbound.notebooks():
            path = os.path.join(self.root, "autograded", submission.student, submission.assignment, f"{notebook}.ipynb")
            page, _ = exporter.from_notebook_node(nbformat.read(path, as_version=4))
            pages.append(page)
        exchange.release_note(self.api, self.root, inbound, pages[0] if pages else "")

    def _note_text(self, submission: Submission, outcome, counting) -> str:
        lines = [f"**Submitted** {submission.timestamp}; **graded** {_utc(self.clock())}: "
                 f"{outcome.score:.4g} of {outcome.max_score:.4g} points."]
        if counting is None or counting.id == submission.id:
            lines.append("This is the submission your grade counts.")
        else:
            which = "the last one by the due date" if self.policy.counts == "last_before_deadline" else "the last one"
            lines.append(f"Your grade counts your submission of {counting.timestamp} ({which}), not this one.")
        if self.policy.rate_limit > 0:
            now = self.clock()
            started = self.queue.started_since(submission.student, submission.assignment, now - self.policy.rate_window)
            left = max(0, self.policy.rate_limit - len(started))
            opens = self.policy.limit_wait(started, now)
            lines.append(f"You can have {left} more submission{'s' if left != 1 else ''} graded now"
                         + (f"; the next one after {_utc(opens)}." if opens else "."))
        return "\n\n".join(lines)

    def _note(self, submission: Submission, title: str, paragraphs: list[str], inbound=None) -> None:
        inbound = inbound or self._inbound(submission)
        if inbound is None:
            return
        result = exchange.release_note(self.api, self.root, inbound, exchange.note_page(title, paragraphs))
        if not result.get("success"):
            self.log(f"{submission.student} {submission.assignment}: the note could not be released: "
                     + (result.get("error") or result.get("log") or "").strip()[-200:])

    # ------------------------------------------------------------------ status
    def write_status(self) -> dict:
        status = self.queue.status(now=self.clock())
        status.update(course=self.config.CourseDirectory.course_id, workers=self.workers,
                      scheduler=self.scheduler, at=_utc(self.clock()))
        path = os.path.join(self.root, STATUS_FILE)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(status, fh, indent=1)
        os.replace(tmp, path)
        self._last_status = time.monotonic()
        return status


def _epoch(when: datetime.datetime) -> float:
    return (when.replace(tzinfo=datetime.timezone.utc) if when.tzinfo is None else when).timestamp()
