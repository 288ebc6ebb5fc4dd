"""The grading service's durable queue: one row per submission found in the exchange.

A submission moves through these states, each change committed before the service acts on it::

    queued ──> running ──> done | failed
      │  ^
      v  │ (the student's rate limit opens)
    waiting ──> superseded (a newer submission of the same student and assignment arrived)

The row is keyed by the submission's folder name in the exchange's inbound directory, which
nbgrader makes unique per submission (student, assignment, timestamp, random suffix), so a
submission is queued once however often the exchange is scanned.  A service that is killed leaves
``running`` rows behind; :meth:`SubmissionQueue.recover` puts them back in the queue, and grading
them again is safe: every step is idempotent (nbgrader's collect, autograde and feedback overwrite
their outputs, and the execution cache returns an execution that had finished).  The ``graded``
table has one row per submission whose grading completed, written in the same transaction as the
``done`` state, so no submission can be counted as graded twice.

The database is sqlite next to the course's gradebook (``<course>/.grading/service.sqlite``); only
the service writes it.  ``python -m grader status`` reads it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import time

QUEUE_FILE = os.path.join(".grading", "service.sqlite")   # under the course root
STATES = ("queued", "waiting", "running", "done", "failed", "superseded")
FINISHED = ("done", "failed", "superseded")
SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    inbound      TEXT NOT NULL UNIQUE,   -- the submission's folder in the exchange's inbound directory
    student      TEXT NOT NULL,
    assignment   TEXT NOT NULL,
    timestamp    TEXT NOT NULL,          -- nbgrader's submission timestamp (timestamp.txt)
    submitted_at REAL NOT NULL,          -- the same, in seconds since the epoch
    seen_at      REAL NOT NULL,          -- when the service found it
    state        TEXT NOT NULL,
    not_before   REAL,                   -- a waiting submission starts no earlier than this
    started_at   REAL,
    finished_at  REAL,
    feedback_at  REAL,                   -- when its feedback (or a note saying why there is none yet) was released
    attempts     INTEGER NOT NULL DEFAULT 0,
    status       TEXT,                   -- the grading record's status (graded, graded_with_incidents, failed)
    score        REAL,
    max_score    REAL,
    counts       INTEGER NOT NULL DEFAULT 0,  -- the submission whose score the gradebook holds
    reason       TEXT                    -- why it was not graded normally, or why it is waiting
);
CREATE INDEX IF NOT EXISTS by_student ON submissions (assignment, student, state);
CREATE TABLE IF NOT EXISTS graded (
    submission INTEGER PRIMARY KEY REFERENCES submissions (id),
    at         REAL NOT NULL
);
"""


@dataclasses.dataclass
class Submission:
    id: int
    inbound: str
    student: str
    assignment: str
    timestamp: str
    submitted_at: float
    seen_at: float
    state: str
    not_before: float | None
    started_at: float | None
    finished_at: float | None
    feedback_at: float | None
    attempts: int
    status: str | None
    score: float | None
    max_score: float | None
    counts: int
    reason: str | None

    @property
    def ready_at(self) -> float:
        """When it may start: its arrival, or the end of its rate-limit wait."""
        return max(self.seen_at, self.not_before or 0.0)


class SubmissionQueue:
    """The queue's sqlite database (see the module doc)."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")   # a committed state change survives a power cut
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _rows(self, sql: str, *args) -> list[Submission]:
        return [Submission(**dict(row)) for row in self._db.execute(sql, args)]

    # ------------------------------------------------------------------ arrivals
    def add(self, inbound: str, student: str, assignment: str, timestamp: str, submitted_at: float,
            now: float | None = None) -> Submission | None:
        """Queue a submission found in the exchange; None if it is queued already."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO submissions (inbound, student, assignment, timestamp, submitted_at, seen_at, "
                "state) VALUES (?, ?, ?, ?, ?, ?, 'queued')",
                (inbound, student, assignment, timestamp, submitted_at, now))
            if not cursor.rowcount:
                return None
        return self.get(cursor.lastrowid)

    def known(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT inbound FROM submissions")}

    def get(self, submission_id: int) -> Submission:
        rows = self._rows("SELECT * FROM submissions WHERE id = ?", submission_id)
        if not rows:
            raise KeyError(f"no submission {submission_id} in {self.path}")
        return rows[0]

    def all(self) -> list[Submission]:
        return self._rows("SELECT * FROM submissions ORDER BY id")

    # ------------------------------------------------------------------ scheduling
    def recover(self) -> list[Submission]:
        """Put the submissions a stopped service left running back in the queue (see the module doc)."""
        running = self._rows("SELECT * FROM submissions WHERE state = 'running' ORDER BY id")
        with self._transaction() as db:
            db.execute("UPDATE submissions SET state = 'queued' WHERE state = 'running'")
        return running

    def pending(self) -> list[Submission]:
        """Queued and waiting submissions, first ready first (FIFO by arrival among equals)."""
        rows = self._rows("SELECT * FROM submissions WHERE state IN ('queued', 'waiting')")
        return sorted(rows, key=lambda s: (s.ready_at, s.id))

    def running(self) -> list[Submission]:
        return self._rows("SELECT * FROM submissions WHERE state = 'running' ORDER BY id")

    def started_since(self, student: str, assignment: str, since: float) -> list[float]:
        """Start times of this student's gradings of ``assignment`` at or after ``since`` (what a rate limit counts)."""
        return sorted(row[0] for row in self._db.execute(
            "SELECT started_at FROM submissions WHERE student = ? AND assignment = ? AND started_at >= ? "
            "AND state IN ('running', 'done', 'failed')", (student, assignment, since)))

    def wait(self, submission_id: int, not_before: float, reason: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE submissions SET state = 'waiting', not_before = ?, reason = ? WHERE id = ?",
                       (not_before, reason, submission_id))

    def supersede(self, submission_id: int, reason: str, now: float | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE submissions SET state = 'superseded', reason = ?, finished_at = ? WHERE id = ?",
                       (reason, time.time() if now is None else now, submission_id))

    def start(self, submission_id: int, now: float | None = None) -> None:
        """Mark it running; a restarted grading keeps its first start time (what the rate limit counted)."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute("UPDATE submissions SET state = 'running', started_at = COALESCE(started_at, ?), "
                       "attempts = attempts + 1, reason = NULL WHERE id = ?", (now, submission_id))

    def finish(self, submission_id: int, state: str, status: str, score: float | None, max_score: float | None,
               reason: str | None, now: float | None = None) -> None:
        """Record the outcome: ``done`` (graded, or graded with incidents) or ``failed`` (with its reason)."""
        if state not in ("done", "failed"):
            raise ValueError(f"a grading finishes as 'done' or 'failed', not {state!r}")
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute("UPDATE submissions SET state = ?, status = ?, score = ?, max_score = ?, reason = ?, "
                       "finished_at = ? WHERE id = ?", (state, status, score, max_score, reason, now, submission_id))
            db.execute("INSERT INTO graded (submission, at) VALUES (?, ?)", (submission_id, now))

    def released(self, submission_id: int, now: float | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE submissions SET feedback_at = ? WHERE id = ?",
                       (time.time() if now is None else now, submission_id))

    def set_counting(self, student: str, assignment: str, submission_id: int | None) -> None:
        """Mark which of the student's submissions the gradebook holds (none: ``submission_id`` None)."""
        with self._transaction() as db:
            db.execute("UPDATE submissions SET counts = (id = ?) WHERE student = ? AND assignment = ?",
                       (submission_id if submission_id is not None else -1, student, assignment))

    def graded_of(self, student: str, assignment: str) -> list[Submission]:
        """The student's finished gradings of ``assignment`` (done or failed), oldest submission first."""
        return self._rows("SELECT * FROM submissions WHERE student = ? AND assignment = ? "
                          "AND state IN ('done', 'failed') ORDER BY submitted_at, id", student, assignment)

    def graded_count(self) -> dict[int, int]:
        """Submission id -> how many completed gradings the ``graded`` table holds for it."""
        rows = self._db.execute("SELECT submission, COUNT(*) FROM graded GROUP BY submission")
        return {row[0]: row[1] for row in rows}

    # ------------------------------------------------------------------ status
    def status(self, now: float | None = None, assignment: str | None = None) -> dict:
        """Counts per state and latencies (seconds from the student's submit to released feedback), for
        operators and reports; a rate-limited submission's wait is part of its latency."""
        now = time.time() if now is None else now
        where, args = ("assignment = ?", (assignment,)) if assignment is not None else ("1", ())
        counts = dict.fromkeys(STATES, 0)
        for state, n in self._db.execute(f"SELECT state, COUNT(*) FROM submissions WHERE {where} GROUP BY state", args):
            counts[state] = n
        latencies = sorted(row[0] for row in self._db.execute(
            "SELECT feedback_at - submitted_at FROM submissions WHERE state = 'done' AND feedback_at IS NOT NULL "
            f"AND {where}", args))
        oldest = self._db.execute(f"SELECT MIN(seen_at) FROM submissions WHERE state = 'queued' AND {where}",
                                  args).fetchone()[0]
        rate_limited = self._db.execute(f"SELECT COUNT(*) FROM submissions WHERE not_before IS NOT NULL AND {where}",
                                        args).fetchone()[0]
        return {
            "queue": counts["queued"] + counts["waiting"],
            **counts,
            "latency_p50": percentile(latencies, 50),
            "latency_p95": percentile(latencies, 95),
            "latency_max": round(latencies[-1], 1) if latencies else None,
            "oldest_queued_seconds": round(now - oldest, 1) if oldest is not None else None,
            "rate_limited": rate_limited,
            "students": self._db.execute(f"SELECT COUNT(DISTINCT student) FROM submissions WHERE {where}",
                                         args).fetchone()[0],
        }


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile of sorted ``values`` (nearest rank), rounded to 0.1 s; None if empty."""
    if not values:
        return None
    rank = max(1, -(-len(values) * q // 100))
    return round(values[int(rank) - 1], 1)


def status_line(status: dict) -> str:
    """One line for the service's log and ``python -m grader status``."""
    def secs(v):
        return "-" if v is None else f"{v:.1f} s"
    return (f"queue {status['queue']} ({status['waiting']} rate-limited), running {status['running']}, "
            f"done {status['done']}, failed {status['failed']}, superseded {status['superseded']}; "
            f"submit to feedback p50 {secs(status['latency_p50'])}, p95 {secs(status['latency_p95'])}")


def status_report(root: str, as_json: bool = False, verbose: bool = False) -> str:
    """``python -m grader status``: the queue of the course at ``root``, as a line (or JSON), and each submission."""
    import json

    path = os.path.join(root, QUEUE_FILE)
    if not os.path.exists(path):
        return json.dumps({"error": f"no grading service queue at {path}"}) if as_json else \
            f"no grading service queue at {path} (python -m grader serve makes it)"
    queue = SubmissionQueue(path)
    try:
        status = queue.status()
        if as_json:
            if verbose:
                status["submissions"] = [dataclasses.asdict(s) for s in queue.all()]
            return json.dumps(status, indent=1)
        lines = [status_line(status)]
        if verbose:
            for s in queue.all():
                lines.append(f"{s.id:>5} {s.state:<10} {s.student:<16} {s.assignment:<12} {s.timestamp}  "
                             + (f"{s.score:.4g}/{s.max_score:.4g}" if s.score is not None and s.max_score else "")
                             + (f"  {s.reason}" if s.reason else ""))
        return "\n".join(lines)
    finally:
        queue.close()
