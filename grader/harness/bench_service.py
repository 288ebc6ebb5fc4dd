"""``python -m grader bench-service`` (``make bench-service``): the grading service under load, against ``make grade``
and stock nbgrader on the same notebooks.

Everything runs on this machine, in scratch courses of one assignment (the first that declares
``samples/bench.py``; ``-a`` picks one), in this order:

* **idle latency**: ``python -m grader serve`` starts on a course whose assignment is released to an exchange of
  its own (grader.harness.students) and, with nothing else to do, gets one correct submission in the assignment's
  slowest correct style (its ``ISOLATION_STYLES[0]``) from a student; measured from the start of nbgrader's submit
  until the student's Fetch Feedback returns a page with a score.  Twice: the service's first submission (it loads
  the assignment on first use), then another student's.
* **load**: a new service process on the same course.  ``--students`` students hand in ``--per-student``
  submissions each through nbgrader's ExchangeSubmit, run in this process as each student, in ``--bursts``
  bursts whose starts are ``--gap`` seconds apart (a student's k-th submission in the burst its rank falls in).
  ``--eager`` students hand in one submission more, all in the first burst, back to back, so the rate limit
  (``--rate-limit`` per ``--rate-window`` seconds, written into the course's ``c.ServicePolicy``) makes their
  last one wait; as many others hand in one fewer, so the total stays students x per-student.  The kinds of
  submission (correct styles and catalogued bugs) follow the assignment's ``MIXES["service"]`` in
  ``samples/bench.py``, spread evenly over the arrivals; every notebook carries its student and number in a
  comment, so no two are alike and each is executed.
* **make grade**: the same notebooks, one ``submitted/<student>_<n>/`` folder per submission, in a copy of the
  course made before anything was graded, graded by ``grade_batch`` with the same worker count.
* **stock nbgrader**: the same notebooks (``--stock N``: an even sample of N; 0: none) graded one after another by
  ``nbgrader autograde`` with nbgrader's shipped in-kernel Execute (:func:`grader.harness.bench_grading.run_stock`),
  then their feedback made by its ``generate_feedback`` (counted apart: the CPU target compares the service, which
  makes each student's feedback, with stock autograde alone; the report adds the ratio with stock's feedback).
* **breakdown** (``--breakdown``, on by default): where one submission's CPU time goes, for a correct submission
  in each of the assignment's ``ISOLATION_STYLES``: the coordinator's planning (preflight, sanitize), the
  execution's steps (kernel start with the grading agent and import guard, the notebook's first cell, its
  solution cells, its other cells, the checks, kernel stop; each split into the grading process and the
  sandbox), nbgrader's autograde from the cached execution, and nbgrader's generate_feedback.  The steps run in
  one process, after a first submission that warms it up as a running service is warm.

The service runs as ``python -m grader serve`` in a process of its own, as an instructor runs it: the bench's own
work (submitting as every student, polling, fetching feedback) stays out of its CPU time and its interpreter, and
a crash of the service shows as its exit.  ``make grade``, stock nbgrader and the breakdown run in processes of
their own too (``python -m grader.harness.bench_service <what> ...``), one after another, never at the same time.

CPU time is user+system time of a process and all its descendants, each counted with the most it was seen
with in ``/proc`` every 0.2 s and at every reading (:class:`grader.harness.bench_grading.TreeCPU`): a sandboxed
kernel's time reaches no parent's count of its children (its namespace reaps it), so counting the children
a process has waited for would miss it; a process loses what it spends after its last reading, and one that
lives less than 0.2 s is missed.  The service's is counted from the start of the first submit of the load to
its last feedback, so its start-up is not counted.  Its own process alone is the *coordinator* (scanning,
nbgrader's collect, planning, nbgrader's autograde, feedback and release); the rest, its worker processes and
the sandboxed kernels, is *execution*.

The service's throughput is graded submissions per minute from the first submit to the last feedback, and while
*saturated*: the gradings that finished while at least as many gradings were running as there are workers, per
minute of that time (a grading runs from its start to its finish, recording and feedback included; with a
backlog the service keeps one more than its workers running).  A few submissions saturate the service only
briefly, so the estimate wants a load of many.  The latencies are the queue's ``feedback_at - submitted_at``.
Fairness is the count of submissions started ahead of one that was ready over a second earlier (arrived, its
rate limit open, no grading of its student running).
The report is printed and written as JSON (``--out``; default ``artifacts/bench-service/result.json``).  The
exit status is 1 when a structural check fails (a submission lost, not graded, graded twice, scored other than
its kind must be, started against the rate limit, or not made to wait when it met it); the targets
(throughput, idle latency, CPU against stock nbgrader) are reported, not enforced.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import nbformat
from nbgrader import utils

from ..engine import batch, course
from ..engine.assignment import Assignment
from ..engine.service import exchange as service_exchange
from ..engine.service.queue import FINISHED, QUEUE_FILE, Submission, percentile
from . import bench_grading
from . import samples as sample_cells
from . import students as at_exchange
from .bench_grading import Kind
from .mutation import catalog, source_notebook

THROUGHPUT_TARGET = 0.9    # the service while saturated, against make grade on the same notebooks
IDLE_TARGET_SECONDS = 15.0
CPU_TARGET = 0.6           # CPU seconds per graded submission, the service against stock nbgrader
READY_LINE = "grading service for "   # what the service logs once it watches the exchange
DEFAULT_OUT = os.path.join(course.ROOT, "artifacts", "bench-service", "result.json")


# ------------------------------------------------------------------ processes
def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child_env() -> dict[str, str]:
    """The environment of the processes the bench starts: this checkout's ``grader`` first, unbuffered output."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (course.ROOT, env.get("PYTHONPATH", "")) if p)
    return env


# ------------------------------------------------------------------ the arrivals
@dataclasses.dataclass(frozen=True)
class Arrival:
    """One submission of the load: who hands it in, their how-many-th it is, in which burst, of which kind."""

    student: str
    number: int          # 1 for the student's first submission
    burst: int           # 0-based
    kind: Kind

    @property
    def folder(self) -> str:
        """Its student folder in the ``make grade`` course (one per submission)."""
        return f"{self.student}_{self.number}"


def arrival_plan(students: int, per_student: int, bursts: int, eager: int, kinds: list[Kind]) -> list[Arrival]:
    """The load's submissions in arrival order (see the module doc); ``eager`` is capped at half the students,
    and with one submission per student nobody hands in fewer."""
    width = len(str(max(students - 1, 1)))
    names = [f"s{i:0{width}d}" for i in range(students)]
    eager = max(0, min(eager, students // 2))
    light = eager if per_student > 1 else 0

    def count(i: int) -> int:
        if i < eager:
            return per_student + 1
        return per_student - 1 if i >= students - light else per_student

    slots = []
    for burst in range(bursts):
        for i, name in enumerate(names):
            for n in range(count(i)):
                if (0 if i < eager else n * bursts // per_student) == burst:
                    slots.append((name, n + 1, burst))
    spread = bench_grading.make_plan(len(slots), kinds)
    return [Arrival(name, n, burst, sample.kind) for (name, n, burst), sample in zip(slots, spread)]


def service_mix(assignment: Assignment) -> list[Kind]:
    """The assignment's ``MIXES["service"]``; without one, its default mix without runaway or broken submissions."""
    mixes = bench_grading.bench_samples(assignment).MIXES
    if "service" in mixes:
        return list(mixes["service"])
    return [k for k in mixes["default"] if k.kind in ("correct", "buggy", "blank")]


class Notebooks:
    """Builds the submitted notebooks: the released notebook with a kind's solution cells and a comment naming the
    submission in its first solution cell."""

    def __init__(self, root: str, assignment: Assignment):
        self.assignment = assignment
        self.release_dir = os.path.join(root, "release", assignment.name)
        self.release_nb = nbformat.read(os.path.join(self.release_dir, f"{assignment.name}.ipynb"), as_version=4)
        self.source_nb = source_notebook(assignment)
        self.mutants = catalog(assignment)
        self._cells: dict[tuple[str, str], dict[str, str]] = {}

    def cells(self, kind: Kind) -> dict[str, str]:
        if (kind.kind, kind.name) not in self._cells:
            if kind.kind == "correct":
                cells = sample_cells.read_style(self.assignment.styles_dir, kind.name, self.source_nb)
            elif kind.kind == "buggy":
                cells = self.mutants[kind.name].cells(self.source_nb)
            elif kind.kind == "blank":
                cells = {}
            else:
                raise ValueError(f"the service bench submits correct, buggy and blank notebooks, not {kind.kind!r}")
            self._cells[(kind.kind, kind.name)] = cells
        return self._cells[(kind.kind, kind.name)]

    def build(self, kind: Kind, label: str):
        nb = sample_cells.build_notebook(self.release_nb, self.cells(kind))
        first = next(c for c in nb.cells if c.cell_type == "code" and utils.is_solution(c))
        first.source = f"# {label}\n" + first.source
        return nb

    def write(self, root: str, folder: str, nb) -> None:
        """``submitted/<folder>/<assignment>/`` of the course at ``root``, as nbgrader's collect lays it out."""
        sample_cells.write_submission(root, self.assignment.name, folder, nb, self.release_dir)


def _clone(template: str, dest: str) -> str:
    """A copy of the course made before anything was graded (its own gradebook; no exchange, queue or cache)."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(template, dest, symlinks=True)
    return dest


# ------------------------------------------------------------------ the service's queue, read-only
def read_queue(root: str) -> tuple[list[Submission], dict[int, int]]:
    """The service's queue rows (by id) and its ``graded`` table (submission id -> rows), opened read-only."""
    path = os.path.join(root, QUEUE_FILE)
    if not os.path.exists(path):
        return [], {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        rows = [Submission(**dict(row)) for row in db.execute("SELECT * FROM submissions ORDER BY id")]
        graded = {row[0]: row[1] for row in db.execute("SELECT submission, COUNT(*) FROM graded GROUP BY submission")}
    except sqlite3.OperationalError:   # the service has not made its tables yet
        return [], {}
    finally:
        db.close()
    return rows, graded


def _is_over(row: Submission | None) -> bool:
    """Finished, and its feedback released (a superseded one, or one whose folder left the exchange, has none)."""
    return row is not None and row.state in FINISHED and (row.feedback_at is not None or row.state != "done")


# ------------------------------------------------------------------ the service process
class ServiceProcess:
    """``python -m grader serve`` on a course, in a process of its own, its output in ``log_path``."""

    def __init__(self, root: str, assignment: str, workers: int, log_path: str, ready_timeout: float = 180.0):
        self.root, self.assignment, self.workers, self.log_path = root, assignment, workers, log_path
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self._stopped = False

    def __enter__(self) -> ServiceProcess:
        self._log = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "grader", "serve", "--root", self.root, "-a", self.assignment,
               "--workers", str(self.workers)]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.root, env=_child_env())
        deadline = time.monotonic() + self.ready_timeout
        try:
            while READY_LINE not in self.log_text():
                self.check()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the service did not start within {self.ready_timeout:g} s:\n{self.tail()}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def check(self) -> None:
        """Raise if the service has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"the grading service exited with status {self.proc.returncode}:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM (the service finishes its step and stops), then wait; kill after 60 s."""
        if self.proc is None or self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ------------------------------------------------------------------ idle latency
def idle_latency(service: ServiceProcess, root: str, assignment: str, student: str, nb, timeout: float = 300.0,
                 poll: float = 0.25) -> dict:
    """Seconds from the start of ``student``'s submit until their Fetch Feedback returns a page with a score."""
    started = time.time()
    inbound = at_exchange.submit(root, assignment, student, nb)
    while True:
        pages = at_exchange.fetch_feedback(root, assignment, student)
        scored = [at_exchange.page_score(p) for p in pages.values()]
        if any(s is not None for s in scored):
            seconds = time.time() - started
            break
        service.check()
        if time.time() - started > timeout:
            raise TimeoutError(f"no feedback with a score for {student} within {timeout:g} s:\n{service.tail()}")
        time.sleep(poll)
    rows = {r.inbound: r for r in read_queue(root)[0]}
    row = rows.get(inbound)
    return {"student": student, "seconds": round(seconds, 2), "score": next(s for s in scored if s is not None)[0],
            "queue_seconds": round(row.feedback_at - row.submitted_at, 2) if row and row.feedback_at else None,
            "grading_seconds": round(row.finished_at - row.started_at, 2) if row and row.finished_at else None}


# ------------------------------------------------------------------ the load
@dataclasses.dataclass
class Submitted:
    arrival: Arrival
    inbound: str
    at: float           # time.time() when nbgrader's submit started
    seconds: float      # how long it took


@dataclasses.dataclass
class LoadRun:
    submitted: list[Submitted]
    rows: list[Submission]          # every row of the queue once the load is over
    graded: dict[int, int]          # the queue's graded table
    cpu: float                      # the service's process tree, first submit to last feedback
    coordinator_cpu: float          # its own process alone
    bench_cpu: float                # this process meanwhile (submitting as the students, polling)
    wall: float
    # a waiting submission's inbound name -> [readings that saw it waiting, 1 once its page said until when]
    wait_notes: dict[str, list[int]] = dataclasses.field(default_factory=dict)


def _utc(seconds: float) -> str:
    """A time as the service's notes write it."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def wait_note_seen(root: str, assignment: str, row: Submission) -> bool:
    """Fetch Feedback as the student of a waiting submission: its page says it waits for the rate limit, until
    when."""
    page = at_exchange.fetch_feedback(root, assignment, row.student).get(row.timestamp, "")
    return "Waiting for your rate limit" in page and row.not_before is not None and _utc(row.not_before) in page


def run_load(service: ServiceProcess, root: str, assignment: str, plan: list[Arrival], notebooks: dict, gap: float,
             timeout: float, log) -> LoadRun:
    """Submit ``plan`` burst by burst while the service runs; return once every submission has its feedback."""
    bursts = max(a.burst for a in plan) + 1
    submitted: list[Submitted] = []
    notes: dict[str, list[int]] = {}
    last_progress = 0.0
    t0 = time.time()

    def progress(force: bool = False) -> dict[str, Submission]:
        nonlocal last_progress
        rows = {r.inbound: r for r in read_queue(root)[0]}
        for s in submitted:   # a waiting submission's page, until it says until when
            row = rows.get(s.inbound)
            if row is not None and row.state == "waiting" and not notes.get(s.inbound, [0, 0])[1]:
                seen = notes.setdefault(s.inbound, [0, 0])
                seen[0] += 1
                seen[1] = int(wait_note_seen(root, assignment, row))
        if force or time.time() - last_progress >= 15:
            mine = [rows.get(s.inbound) for s in submitted]
            states = {state: sum(1 for r in mine if r is not None and r.state == state)
                      for state in ("queued", "waiting", "running", "done", "failed", "superseded")}
            log(f"   {time.time() - t0:6.1f} s: submitted {len(submitted)}/{len(plan)}; "
                + ", ".join(f"{k} {v}" for k, v in states.items()))
            last_progress = time.time()
        return rows

    with bench_grading.TreeCPU(root=service.pid) as meter:
        self0, t0 = _self_cpu(), time.time()
        for burst in sorted({a.burst for a in plan}):
            while time.time() < t0 + burst * gap:
                service.check()
                progress()
                time.sleep(min(0.5, max(0.0, t0 + burst * gap - time.time())))
            started = time.time()
            for arrival in (a for a in plan if a.burst == burst):
                at = time.time()
                inbound = at_exchange.submit(root, assignment, arrival.student, notebooks[arrival])
                submitted.append(Submitted(arrival, inbound, at, time.time() - at))
            log(f"   burst {burst + 1}/{bursts} at {started - t0:.1f} s: "
                f"{sum(a.burst == burst for a in plan)} submissions in {time.time() - started:.1f} s")
        deadline = time.time() + timeout
        while not all(_is_over(row) for row in map(progress().get, (s.inbound for s in submitted))):
            service.check()
            if time.time() > deadline:
                raise TimeoutError(f"the load was not graded within {timeout:g} s of its last burst:\n"
                                   f"{service.tail()}")
            time.sleep(0.5)
        bench_cpu = _self_cpu() - self0
    progress(force=True)
    rows, graded = read_queue(root)
    return LoadRun(submitted, rows, graded, meter.seconds, meter.own(service.pid), bench_cpu, time.time() - t0,
                   notes)


def saturated(rows: list[Submission], workers: int) -> list[tuple[float, float]]:
    """The moments at least ``workers`` gradings were running (between their start and their finish, recording
    and feedback included): every worker busy, or a grading waiting for the coordinator."""
    events = sorted([(r.started_at, 1) for r in rows if r.started_at is not None]
                    + [(r.finished_at, -1) for r in rows if r.started_at is not None and r.finished_at is not None],
                    key=lambda e: (e[0], e[1]))
    found, running, opened = [], 0, None
    for at, step in events:
        running += step
        if running >= workers and opened is None:
            opened = at
        elif running < workers and opened is not None:
            found.append((opened, at))
            opened = None
    if opened is not None:
        found.append((opened, max(at for at, _ in events)))
    return found


def fifo_inversions(rows: list[Submission], tolerance: float = 1.0) -> list[str]:
    """Submissions started ahead of another that was ready more than ``tolerance`` seconds earlier (arrived, its
    rate limit open) and could have started then (no grading of its student running)."""
    started = [r for r in rows if r.started_at is not None]
    running: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for r in started:
        running.setdefault((r.student, r.assignment), []).append((r.id, r.started_at, r.finished_at or float("inf")))
    found = []
    for b in started:
        for a in started:
            if (a.ready_at + tolerance < b.ready_at and a.started_at > b.started_at + tolerance
                    and a.ready_at <= b.started_at
                    and not any(other != a.id and lo <= b.started_at < hi
                                for other, lo, hi in running[(a.student, a.assignment)])):
                found.append(f"{b.inbound} started before {a.inbound}, ready {b.ready_at - a.ready_at:.1f} s earlier")
    return found


def rate_violations(rows: list[Submission], limit: int, window: float) -> tuple[list[str], int]:
    """Students with more than ``limit`` grading starts in some rolling ``window`` (per assignment), and the most
    starts any window held."""
    starts: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r.started_at is not None:
            starts.setdefault((r.student, r.assignment), []).append(r.started_at)
    bad, most = [], 0
    for (student, assignment), times in sorted(starts.items()):
        times.sort()
        for i, t in enumerate(times):
            most = max(most, sum(1 for u in times[i:] if u < t + window))
        if limit > 0 and any(times[i + limit] - times[i] < window - 1e-6 for i in range(len(times) - limit)):
            bad.append(f"{student} {assignment}: starts " + ", ".join(f"{u - times[0]:.1f}" for u in times))
    return bad, most


def score_problem(kind: Kind, score: float | None, maxima: dict[str, float], mutants: dict) -> str:
    """Why ``score`` (autograded points; None: not graded) is not what a submission of ``kind`` must get; '' if it
    is.  A correct one gets every point; a buggy one loses some, and no more than the cells its mutant declares
    hold (all of them without partial credit, the failing hidden checks' share with it)."""
    full = sum(maxima.values())
    floor = kind.expected_score(maxima, mutants)   # every point of the mutant's cells lost
    if score is None or floor is None:
        return f"expected {floor}, got {score}"
    if kind.kind == "buggy" and floor < full - 1e-6:
        return "" if floor - 1e-6 <= score < full - 1e-6 else f"expected {floor:g} to under {full:g}, got {score:g}"
    return "" if abs(score - floor) <= 1e-6 else f"expected {floor:g}, got {score:g}"


def limit_reached(rows: list[Submission], limit: int, window: float, margin: float = 2.0) -> list[Submission]:
    """The submissions that met their student's rate limit: when they could first have started (arrived, and the
    student's previous grading finished), ``limit`` of the student's gradings had started within ``window``, and
    still had ``margin`` seconds later (the service decides at its next round)."""
    if limit <= 0:
        return []
    by_student: dict[tuple[str, str], list[Submission]] = {}
    for r in rows:
        if r.started_at is not None:
            by_student.setdefault((r.student, r.assignment), []).append(r)
    met = []
    for group in by_student.values():
        group.sort(key=lambda r: r.started_at)
        for i, r in enumerate(group):
            earlier = group[:i]
            could = max([r.seen_at] + [e.finished_at or r.started_at for e in earlier])
            if sum(1 for e in earlier if e.started_at > could + margin - window) >= limit:
                met.append(r)
    return met


def analyse_load(load: LoadRun, root: str, assignment: Assignment, limit: int, window: float, workers: int) -> dict:
    """The load's numbers and structural findings (see the module doc)."""
    by_name = {r.inbound: r for r in load.rows}
    mine = [by_name.get(s.inbound) for s in load.submitted]
    rows = [r for r in mine if r is not None]
    done = [r for r in rows if r.state == "done"]
    maxima = course.autograded_maxima(assignment.name, root)
    mutants = catalog(assignment)
    inbound_dir = service_exchange.inbound_path(course.load_config(root))
    exchange_names = {d for d in os.listdir(inbound_dir) if f"+{assignment.name}+" in d}
    finished_names = {r.inbound for r in load.rows if r.state in FINISHED}
    first_submit = min(s.at for s in load.submitted)
    last_feedback = max((r.feedback_at for r in done if r.feedback_at), default=first_submit)
    span = last_feedback - first_submit
    busy = saturated(rows, workers)
    busy_seconds = sum(hi - lo for lo, hi in busy)
    busy_finishes = sum(1 for r in done if any(lo <= r.finished_at <= hi for lo, hi in busy))
    latencies = sorted(r.feedback_at - r.submitted_at for r in done if r.feedback_at)
    violations, most = rate_violations(load.rows, limit, window)
    met = limit_reached(load.rows, limit, window)
    unfair = fifo_inversions(load.rows)
    mismatches = []
    for s, r in zip(load.submitted, mine):
        got = r.score if r is not None and r.state == "done" else None
        wrong = score_problem(s.arrival.kind, got, maxima, mutants)
        if wrong:
            mismatches.append(f"{s.arrival.folder} ({s.arrival.kind.label}): {wrong}"
                              + (f" [{r.state}: {r.reason}]" if r is not None and r.reason else ""))
    skew = max((abs(r.submitted_at - s.at) for s, r in zip(load.submitted, mine) if r is not None), default=0.0)
    submit_seconds = sorted(s.seconds for s in load.submitted)
    n = len(load.submitted)
    return {
        "submissions": n,
        "students": len({s.arrival.student for s in load.submitted}),
        "states": {state: sum(1 for r in rows if r.state == state) for state in
                   ("queued", "waiting", "running", "done", "failed", "superseded")},
        "not_queued": [s.inbound for s, r in zip(load.submitted, mine) if r is None],
        "lost": sorted(exchange_names - finished_names),
        "graded_twice": sorted(i for i, count in load.graded.items() if count > 1),
        "done_without_graded_row": sorted(r.id for r in done if load.graded.get(r.id, 0) != 1),
        "started_more_than_once": sorted(r.inbound for r in rows if r.attempts > 1),
        "waited": sum(1 for r in rows if r.not_before is not None),
        "limit_reached": len(met),
        "limit_reached_not_waited": [r.inbound for r in met if r.not_before is None],
        "wait_notes_seen": sum(1 for _, seen in load.wait_notes.values() if seen),
        # seen waiting at two readings or more, and its page never said until when
        "wait_notes_missing": sorted(k for k, (polls, seen) in load.wait_notes.items() if polls >= 2 and not seen),
        "waits_respected": all(r.started_at is None or r.not_before is None or r.started_at >= r.not_before - 1e-6
                               for r in rows),
        "span_seconds": round(span, 1),
        "per_minute": round(60.0 * len(done) / span, 2) if span > 0 else None,
        "saturated_seconds": round(busy_seconds, 1),
        "saturated_finishes": busy_finishes,
        "saturated_per_minute": round(60.0 * busy_finishes / busy_seconds, 2) if busy_seconds > 0 else None,
        "latency_p50": percentile(latencies, 50),
        "latency_p95": percentile(latencies, 95),
        "latency_max": round(latencies[-1], 1) if latencies else None,
        "grading_seconds_p50": percentile(sorted(r.finished_at - r.started_at for r in done), 50),
        "rate_limit": limit,
        "rate_window": window,
        "rate_violations": violations,
        "most_starts_in_a_window": most,
        "fifo_inversions": unfair,
        "score_mismatches": mismatches,
        "submitted_at_skew_seconds": round(skew, 2),
        "submit_seconds_p50": round(statistics.median(submit_seconds), 3) if submit_seconds else None,
        "submit_seconds_max": round(submit_seconds[-1], 3) if submit_seconds else None,
        "cpu_seconds": round(load.cpu, 1),
        "coordinator_cpu_seconds": round(load.coordinator_cpu, 1),
        "execution_cpu_seconds": round(load.cpu - load.coordinator_cpu, 1),
        "cpu_per_graded": round(load.cpu / len(done), 2) if done else None,
        "coordinator_cpu_per_graded": round(load.coordinator_cpu / len(done), 2) if done else None,
        "bench_cpu_seconds": round(load.bench_cpu, 1),
    }


def check_feedback(root: str, assignment: str, load: LoadRun) -> dict:
    """Fetch Feedback as every student of the load: each graded submission's page states the queue's score."""
    rows = {r.inbound: r for r in load.rows}
    bad, fetched = [], 0
    for student in sorted({s.arrival.student for s in load.submitted}):
        pages = at_exchange.fetch_feedback(root, assignment, student)
        for s in (s for s in load.submitted if s.arrival.student == student):
            row = rows.get(s.inbound)
            if row is None or row.state != "done":
                continue
            page = pages.get(row.timestamp)
            score = at_exchange.page_score(page) if page else None
            if score is None or row.score is None or abs(score[0] - row.score) > 0.01:
                bad.append(f"{s.arrival.folder}: queue {row.score}, page {score}")
            else:
                fetched += 1
    return {"fetched_with_score": fetched, "mismatched": bad}


# ------------------------------------------------------------------ the other graders, each in a process of its own
def run_child(what: str, root: str, assignment: str, log_path: str, *options: str) -> dict:
    """``python -m grader.harness.bench_service <what> ...``: its JSON result, with the wall time of its process."""
    out = os.path.join(root, f".bench-{what}.json")
    started = time.monotonic()
    with open(log_path, "ab") as log:
        done = subprocess.run([sys.executable, "-m", "grader.harness.bench_service", what, root, assignment, out,
                               *options], stdout=log, stderr=subprocess.STDOUT, cwd=root, env=_child_env())
    if done.returncode != 0:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            tail = "\n".join(fh.read().splitlines()[-30:])
        raise RuntimeError(f"the {what} run failed (exit status {done.returncode}):\n{tail}")
    with open(out, encoding="utf-8") as fh:
        result = json.load(fh)
    result["process_wall_seconds"] = round(time.monotonic() - started, 1)
    return result


_METER: bench_grading.TreeCPU | None = None   # this process's tree, in a process the bench starts


def _measured(action, *args, **kwargs):
    """(value, {"wall", "cpu", "own"}) of ``action(*args, **kwargs)``: CPU seconds of this process's tree, and of
    this process alone."""
    me = os.getpid()
    tree0, own0 = _METER.now(), _METER.own(me)
    t0 = time.monotonic()
    value = action(*args, **kwargs)
    tree1, own1 = _METER.now(), _METER.own(me)
    return value, {"wall": time.monotonic() - t0, "cpu": tree1 - tree0, "own": own1 - own0}


def child_batch(root: str, assignment: str, workers: int) -> dict:
    """``make grade``, then ``make feedback`` (which the service does for each submission as it goes)."""
    lines: list[str] = []
    outcomes, m = _measured(lambda: batch.grade_batch(assignment, root, workers=workers, progress=False,
                                                       log=lines.append))
    _, feedback = _measured(course.feedback, assignment, root)
    return {"wall": m["wall"], "cpu": m["cpu"], "coordinator_cpu": m["own"], "log": lines, "feedback": feedback,
            "outcomes": {o.student: {"status": o.status, "score": o.score, "reasons": o.reasons, "seconds": o.seconds}
                         for o in outcomes}}


def child_stock(root: str, assignment: str) -> dict:
    import warnings

    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)   # nbgrader's ORM chatter on every autograde
    students = course.submitted_students(assignment, root)
    run, m = _measured(lambda: bench_grading.run_stock(root, students))
    api = bench_grading.stock_api(root)
    with course.chdir(root):   # the students' feedback, as stock nbgrader makes it after its autograde
        made, fb = _measured(lambda: [api.generate_feedback(assignment, s).get("success") for s in students])
    return {"wall": m["wall"], "cpu": m["cpu"], "students": students, "failures": run.failures, "totals": run.totals,
            "feedback_cpu": fb["cpu"], "feedback_failed": made.count(False)}


# ------------------------------------------------------------------ breakdown
STEP_GROUPS = ("kernel start", "first cell", "solution cells", "other cells", "checks", "kernel stop")


def _instrument(spans: list[dict]) -> None:
    """Time TrustedExecute's steps in this process (see the module doc): each outermost call of a step appends
    {"group", "cell", "wall", "cpu", "own"} to ``spans``."""
    from ..engine.nbgrader_ext import execute

    cls = execute.TrustedExecute
    state = {"depth": 0, "first": True}

    def group_of(method: str, args) -> tuple[str, str]:
        if method == "_start_kernel":
            return "kernel start", ""
        if method == "_stop_kernel":
            return "kernel stop", ""
        index, cell = args
        name = execute.cell_name(cell, index)
        if method == "_grade_cell":
            return "checks", name
        if state["first"]:
            state["first"] = False
            return "first cell", name
        return ("solution cells" if utils.is_solution(cell) else "other cells"), name

    def timed(method: str):
        original = getattr(cls, method)

        def wrapper(self, *args):
            if state["depth"]:
                return original(self, *args)
            group, cell = group_of(method, args)
            state["depth"] += 1
            try:
                value, m = _measured(original, self, *args)
            finally:
                state["depth"] -= 1
            spans.append({"group": group, "cell": cell, **m})
            return value
        setattr(cls, method, wrapper)

    for method in ("_start_kernel", "_run_student_cell", "_grade_cell", "_stop_kernel"):
        timed(method)
    run_notebook = cls.run_notebook

    def fresh(self, *args, **kwargs):
        state["first"] = True
        return run_notebook(self, *args, **kwargs)
    cls.run_notebook = fresh


def child_breakdown(root: str, assignment: str, students: list[str]) -> dict:
    """Each of ``students`` (the first warms the process up) planned, executed, recorded and fed back here."""
    from ..engine import jobs

    spans: list[dict] = []
    _instrument(spans)
    run = batch.GradingRun(root, assignment, force=True)
    api = course.make_api(root)
    found = {}
    for student in students:
        spans.clear()
        steps = {}
        job, steps["plan"] = _measured(run.plan, student)
        if job is None:
            raise RuntimeError(f"{student}: nothing to execute: {run.outcomes.get(student)}")
        result, steps["execute"] = _measured(jobs.execute_job, job)
        run.cache.put(result)
        _, steps["autograde"] = _measured(run.record, student)
        outcome = run.outcomes[student]
        if outcome.status == "failed":
            raise RuntimeError(f"{student}: {outcome.reasons}")
        with course.chdir(root):
            feedback, steps["feedback"] = _measured(api.generate_feedback, assignment, student)
        if not feedback.get("success"):
            raise RuntimeError(f"{student}: generate_feedback failed: {feedback.get('error') or feedback.get('log')}")
        groups = {g: {"wall": 0.0, "cpu": 0.0, "own": 0.0} for g in STEP_GROUPS}
        for span in spans:
            for k in ("wall", "cpu", "own"):
                groups[span["group"]][k] += span[k]
        groups["execution, other"] = {k: steps["execute"][k] - sum(g[k] for g in groups.values())
                                      for k in ("wall", "cpu", "own")}
        found[student] = {"score": outcome.score, "steps": steps, "groups": groups, "spans": list(spans)}
    return found


def _child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.harness.bench_service",
                                     description="one measured run of python -m grader bench-service")
    parser.add_argument("what", choices=("batch", "stock", "breakdown"))
    parser.add_argument("root")
    parser.add_argument("assignment")
    parser.add_argument("out")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--student", action="append", default=[])
    args = parser.parse_args(argv)
    global _METER
    with bench_grading.TreeCPU() as _METER:
        if args.what == "batch":
            result = child_batch(args.root, args.assignment, args.workers or batch.default_workers())
        elif args.what == "stock":
            result = child_stock(args.root, args.assignment)
        else:
            result = child_breakdown(args.root, args.assignment, args.student)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    return 0


# ------------------------------------------------------------------ the bench
@dataclasses.dataclass
class ServiceBenchResult:
    settings: dict
    idle: list[dict]
    service: dict
    feedback: dict
    batch: dict
    stock: dict | None
    breakdown: dict | None
    ratios: dict
    checks: list[tuple[bool, str]] = dataclasses.field(default_factory=list)
    targets: list[tuple[bool, str]] = dataclasses.field(default_factory=list)
    lines: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.checks)


def _even_sample(items: list, n: int) -> list:
    if n >= len(items):
        return list(items)
    return [items[int((i + 0.5) * len(items) / n)] for i in range(n)]


def run_bench(assignment: Assignment, students: int = 50, per_student: int = 3, bursts: int = 3, gap: float = 60.0,
              eager: int | None = None, rate_limit: int = 3, rate_window: float = 60.0, workers: int | None = None,
              stock: int | None = None, breakdown: bool = True, idle: bool = True, keep: str | None = None,
              out: str | None = DEFAULT_OUT, timeout: float = 3600.0, mix: list[Kind] | None = None,
              log=print) -> ServiceBenchResult:
    """The whole bench (see the module doc); ``stock`` None: every notebook of the load, 0: none; ``mix``: the
    kinds of submission (default: :func:`service_mix`); ``out`` None: no JSON file."""
    workers = workers or batch.default_workers()
    eager = max(1, students // 10) if eager is None else eager
    kinds = list(mix) if mix else service_mix(assignment)
    plan = arrival_plan(students, per_student, bursts, eager, kinds)
    per = {}
    for a in plan:
        per[a.student] = per.get(a.student, 0) + 1
    styles = tuple(bench_grading.bench_samples(assignment).ISOLATION_STYLES)
    base = os.path.abspath(keep) if keep else tempfile.mkdtemp(prefix="bench-service-")
    os.makedirs(base, exist_ok=True)
    settings = {"assignment": assignment.name, "students": students, "per_student": per_student, "bursts": bursts,
                "gap": gap, "eager": sum(1 for c in per.values() if c > per_student), "rate_limit": rate_limit,
                "rate_window": rate_window, "workers": workers, "cores": os.cpu_count(),
                "submissions": len(plan), "python": platform.python_version(), "nbgrader": _nbgrader_version(),
                "load_before": round(os.getloadavg()[0], 2), "at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "mix": {k.label: sum(1 for a in plan if a.kind == k) for k in kinds}}
    log(f"== grading service bench: {assignment.name}, {len(plan)} submissions from {students} students in {bursts} "
        f"bursts {gap:g} s apart; {workers} workers, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    log("   mix: " + ", ".join(f"{k} x{v}" for k, v in settings["mix"].items() if v))
    log(f"   rate limit {rate_limit} per {rate_window:g} s; {settings['eager']} students hand in "
        f"{per_student + 1} (all in the first burst)" + (", as many hand in " + str(per_student - 1)
                                                         if per_student > 1 and settings["eager"] else ""))
    log(f"   scratch courses under {base}" + ("" if keep else " (removed at the end)"))
    config = ("# grader.harness.bench_service: the bench's rate limit\n"
              f"c.ServicePolicy.rate_limit = {rate_limit}\nc.ServicePolicy.rate_window = {rate_window}\n")
    try:
        root = at_exchange.exchange_course(os.path.join(base, "service"), [assignment.name], config=config)
        template = os.path.join(base, "template")
        shutil.copytree(root, template, symlinks=True, ignore=shutil.ignore_patterns(".exchange", ".students"))
        books = Notebooks(root, assignment)
        notebooks = {a: books.build(a.kind, f"submission {a.number} of {a.student}") for a in plan}
        batch_root = _clone(template, os.path.join(base, "batch"))
        for a in plan:
            books.write(batch_root, a.folder, notebooks[a])
        stock_plan = _even_sample(plan, len(plan) if stock is None else stock)
        if stock_plan:
            stock_root = _clone(template, os.path.join(base, "stock"))
            for a in stock_plan:
                books.write(stock_root, a.folder, notebooks[a])

        idle_results = []
        if idle:
            log(f"-- idle latency: one correct {styles[0]} submission to an idle service, twice")
            with ServiceProcess(root, assignment.name, workers, os.path.join(base, "service-idle.log")) as service:
                for i, student in enumerate(("idle_first", "idle_second")):
                    nb = books.build(Kind("correct", styles[0]), f"idle submission of {student}")
                    found = idle_latency(service, root, assignment.name, student, nb)
                    idle_results.append(found)
                    log(f"   {('first after start', 'second')[i]}: feedback with a score "
                        f"{found['seconds']:.1f} s after submit (queue: {found['queue_seconds']} s, grading "
                        f"{found['grading_seconds']} s)")

        log(f"-- load: {len(plan)} submissions through the exchange while the service runs")
        with ServiceProcess(root, assignment.name, workers, os.path.join(base, "service-load.log")) as service:
            load = run_load(service, root, assignment.name, plan, notebooks, gap, timeout, log)
        stats = analyse_load(load, root, assignment, rate_limit, rate_window, workers)
        feedback = check_feedback(root, assignment.name, load)

        log(f"-- make grade: the same {len(plan)} notebooks, {workers} workers")
        batch_run = run_child("batch", batch_root, assignment.name, os.path.join(base, "batch.log"),
                              "--workers", str(workers))
        batch_stats = _batch_stats(batch_run, plan, batch_root, assignment)
        stats["scores_differ_from_make_grade"] = _differences(load, batch_run["outcomes"])
        stock_stats = None
        if stock_plan:
            log(f"-- stock nbgrader: {len(stock_plan)} of the notebooks, one after another")
            stock_run = run_child("stock", stock_root, assignment.name, os.path.join(base, "stock.log"))
            stock_stats = {"notebooks": len(stock_plan), "wall": round(stock_run["wall"], 1),
                           "per_minute": round(60 * len(stock_plan) / stock_run["wall"], 2),
                           "cpu_seconds": round(stock_run["cpu"], 1),
                           "cpu_per_submission": round(stock_run["cpu"] / len(stock_plan), 2),
                           "feedback_cpu_per_submission": round(stock_run["feedback_cpu"] / len(stock_plan), 2),
                           "feedback_failed": stock_run["feedback_failed"],
                           "failed": len(stock_run["failures"])}
        breakdown_result = None
        if breakdown:
            log(f"-- breakdown: one correct submission of each of {', '.join(styles)}, after a warm-up")
            bd_root = _clone(template, os.path.join(base, "breakdown"))
            names = ["bd0_warmup"] + [f"bd{i + 1}_{style}" for i, style in enumerate(styles)]
            for name, style in zip(names, (styles[-1],) + styles):
                books.write(bd_root, name, books.build(Kind("correct", style), f"breakdown submission {name}"))
            found = run_child("breakdown", bd_root, assignment.name, os.path.join(base, "breakdown.log"),
                              *[f"--student={n}" for n in names])
            breakdown_result = {"warm-up": found[names[0]], **{style: found[n] for style, n in zip(styles, names[1:])}}
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)

    ratios = _ratios(stats, batch_stats, stock_stats)
    result = ServiceBenchResult(settings, idle_results, stats, feedback, batch_stats, stock_stats, breakdown_result,
                                ratios)
    _judge(result)
    result.lines = report_lines(result)
    for line in result.lines:
        log(line)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(dataclasses.asdict(result), fh, indent=1, default=str)
        log(f"written: {out}")
    return result


def _nbgrader_version() -> str:
    import nbgrader
    return nbgrader.__version__


def _batch_stats(run: dict, plan: list[Arrival], root: str, assignment: Assignment) -> dict:
    maxima = course.autograded_maxima(assignment.name, root)
    mutants = catalog(assignment)
    outcomes = run["outcomes"]
    mismatches = []
    for a in plan:
        o = outcomes.get(a.folder)
        wrong = score_problem(a.kind, o["score"] if o and o["status"] != "failed" else None, maxima, mutants)
        if wrong:
            mismatches.append(f"{a.folder} ({a.kind.label}): {wrong}" + (f" {o['reasons']}" if o and o["reasons"]
                                                                         else ""))
    n = len(plan)
    return {"notebooks": n, "graded": sum(1 for o in outcomes.values() if o["status"] != "failed"),
            "failed": sum(1 for o in outcomes.values() if o["status"] == "failed"),
            "missing": sorted({a.folder for a in plan} - set(outcomes)),
            "wall": round(run["wall"], 1), "per_minute": round(60 * n / run["wall"], 2),
            "cpu_seconds": round(run["cpu"], 1), "coordinator_cpu_seconds": round(run["coordinator_cpu"], 1),
            "cpu_per_submission": round(run["cpu"] / n, 2),
            "coordinator_cpu_per_submission": round(run["coordinator_cpu"] / n, 2),
            "feedback_wall": round(run["feedback"]["wall"], 1),
            "feedback_cpu_per_submission": round(run["feedback"]["cpu"] / n, 2),
            "score_mismatches": mismatches,
            "summary": run["log"][-1] if run["log"] else ""}


def _differences(load: LoadRun, outcomes: dict) -> list[str]:
    """The notebooks the service and make grade scored differently."""
    rows = {r.inbound: r for r in load.rows}
    found = []
    for x in load.submitted:
        ours = rows[x.inbound].score if x.inbound in rows else None
        theirs = outcomes.get(x.arrival.folder, {}).get("score")
        if ours is None or theirs is None or abs(ours - theirs) > 1e-6:
            found.append(f"{x.arrival.folder}: service {ours}, make grade {theirs}")
    return found


def _ratio(a, b) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _ratios(service: dict, batch_stats: dict, stock: dict | None) -> dict:
    return {
        "throughput_service_vs_batch": _ratio(service["per_minute"], batch_stats["per_minute"]),
        "throughput_saturated_vs_batch": _ratio(service["saturated_per_minute"], batch_stats["per_minute"]),
        "cpu_service_vs_batch": _ratio(service["cpu_per_graded"], batch_stats["cpu_per_submission"]),
        "cpu_service_vs_stock": _ratio(service["cpu_per_graded"], stock["cpu_per_submission"]) if stock else None,
        "cpu_batch_vs_stock": _ratio(batch_stats["cpu_per_submission"], stock["cpu_per_submission"]) if stock else None,
        # the service's CPU includes each student's feedback: against stock nbgrader's autograde and feedback
        "cpu_service_vs_stock_with_feedback": _ratio(
            service["cpu_per_graded"], stock["cpu_per_submission"] + stock["feedback_cpu_per_submission"])
        if stock else None,
    }


def _judge(result: ServiceBenchResult) -> None:
    s, b, n = result.service, result.batch, result.service["submissions"]
    checks = result.checks
    checks.append((s["states"]["done"] == n and not s["not_queued"],
                   f"service: every submission graded: {s['states']['done']}/{n} done "
                   f"({s['states']['failed']} failed, {s['states']['superseded']} superseded, "
                   f"{len(s['not_queued'])} never queued)"))
    checks.append((not s["lost"], f"service: lost (in the exchange, no finished row): {len(s['lost'])}"))
    checks.append((not s["graded_twice"] and not s["done_without_graded_row"] and not s["started_more_than_once"],
                   f"service: graded exactly once (graded table: {len(s['graded_twice'])} with more than one row, "
                   f"{len(s['done_without_graded_row'])} done without one; "
                   f"{len(s['started_more_than_once'])} started more than once)"))
    checks.append((not s["rate_violations"] and s["waits_respected"],
                   f"service: rate limit {s['rate_limit']} per {s['rate_window']:g} s honoured (most starts in any "
                   f"window: {s['most_starts_in_a_window']}; violations: {len(s['rate_violations'])})"))
    checks.append((not s["limit_reached_not_waited"],
                   f"service: every submission that met the rate limit waited ({s['limit_reached']} met it, "
                   f"{s['waited']} waited)"))
    checks.append((not s["wait_notes_missing"],
                   f"service: a waiting submission's feedback page says until when ({s['wait_notes_seen']} seen, "
                   f"{len(s['wait_notes_missing'])} missing)"))
    checks.append((not s["score_mismatches"],
                   f"service: {n - len(s['score_mismatches'])}/{n} scored as their kind must be (correct: full "
                   "autograded marks; buggy: points lost in the mutant's cells only)"))
    fb = result.feedback
    checks.append((fb["fetched_with_score"] == s["states"]["done"] and not fb["mismatched"],
                   f"service: Fetch Feedback shows the queue's score for {fb['fetched_with_score']}/"
                   f"{s['states']['done']} graded submissions"))
    checks.append((s["submitted_at_skew_seconds"] <= 5.0,
                   f"service: the queue's submitted_at is the submit time (largest difference "
                   f"{s['submitted_at_skew_seconds']:.2f} s)"))
    checks.append((b["graded"] == b["notebooks"] and not b["missing"] and not b["score_mismatches"],
                   f"make grade: {b['graded']}/{b['notebooks']} graded, {len(b['score_mismatches'])} scored other "
                   "than their kind must be"))
    r = result.ratios
    if r["throughput_saturated_vs_batch"] is not None:
        result.targets.append((r["throughput_saturated_vs_batch"] >= THROUGHPUT_TARGET,
                               f"service throughput while saturated / make grade = "
                               f"{r['throughput_saturated_vs_batch']:.2f} (target >= {THROUGHPUT_TARGET:g})"))
    result.targets.append((not s["fifo_inversions"],
                           f"FIFO: {len(s['fifo_inversions'])} submissions started ahead of one ready (and its "
                           "student free) over a second earlier"))
    for probe in result.idle:
        result.targets.append((probe["seconds"] <= IDLE_TARGET_SECONDS,
                               f"idle service, {probe['student']}: feedback {probe['seconds']:.1f} s after submit "
                               f"(target <= {IDLE_TARGET_SECONDS:g} s)"))
    if r["cpu_service_vs_stock"] is not None:
        result.targets.append((r["cpu_service_vs_stock"] <= CPU_TARGET,
                               f"CPU per graded submission, service / stock nbgrader = {r['cpu_service_vs_stock']:.2f} "
                               f"(target <= {CPU_TARGET:g})"))


def _num(value, fmt: str = ".1f", unit: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{unit}"


def report_lines(result: ServiceBenchResult) -> list[str]:
    s, b, st, r = result.service, result.batch, result.stock, result.ratios
    lines = ["== results"]
    head = f"{'':<34}{'service':>14}{'make grade':>14}{'stock nbgrader':>16}"
    lines += [head, "-" * len(head)]

    def row(label, sv, bv, stv=""):
        lines.append(f"{label:<34}{sv:>14}{bv:>14}{stv:>16}")
    row("notebooks", str(s["submissions"]), str(b["notebooks"]), str(st["notebooks"]) if st else "-")
    row("wall s", _num(s["span_seconds"]), _num(b["wall"]), _num(st["wall"]) if st else "-")
    row("graded / min", _num(s["per_minute"], ".2f"), _num(b["per_minute"], ".2f"),
        _num(st["per_minute"], ".2f") if st else "-")
    row("graded / min while saturated", _num(s["saturated_per_minute"], ".2f"), "", "")
    row("CPU s", _num(s["cpu_seconds"]), _num(b["cpu_seconds"]), _num(st["cpu_seconds"]) if st else "-")
    row("CPU s per graded submission", _num(s["cpu_per_graded"], ".2f"), _num(b["cpu_per_submission"], ".2f"),
        _num(st["cpu_per_submission"], ".2f") if st else "-")
    row("  of which the coordinator", _num(s["coordinator_cpu_per_graded"], ".2f"),
        _num(b["coordinator_cpu_per_submission"], ".2f"), "")
    lines.append(f"   service wall: first submit to last feedback; saturated {s['saturated_seconds']:.1f} s with "
                 f"{s['saturated_finishes']} gradings finished in it; make grade: the grade_batch call")
    lines.append(f"   make feedback afterwards (the service makes and releases each submission's feedback as it goes): "
                 f"{b['feedback_wall']:.1f} s, {b['feedback_cpu_per_submission']:.2f} CPU s per submission")
    lines.append(f"   throughput service / make grade: {_num(r['throughput_service_vs_batch'], '.2f')} end to end, "
                 f"{_num(r['throughput_saturated_vs_batch'], '.2f')} while saturated")
    lines.append(f"   CPU per graded submission: service / make grade {_num(r['cpu_service_vs_batch'], '.2f')}, "
                 f"service / stock {_num(r['cpu_service_vs_stock'], '.2f')}, "
                 f"make grade / stock {_num(r['cpu_batch_vs_stock'], '.2f')}")
    if st:
        lines.append(f"   stock nbgrader's generate_feedback afterwards: {st['feedback_cpu_per_submission']:.2f} "
                     f"CPU s per submission ({st['feedback_failed']} failed); service (feedback included) / "
                     f"stock autograde and feedback: {_num(r['cpu_service_vs_stock_with_feedback'], '.2f')}")
    lines.append(f"   this process meanwhile (submitting as the students, polling): {s['bench_cpu_seconds']:.1f} "
                 "CPU s; "
                 f"a submit took {_num(s['submit_seconds_p50'], '.2f')} s (median), "
                 f"{_num(s['submit_seconds_max'], '.2f')} s (max)")
    lines.append(f"   submit to feedback: p50 {_num(s['latency_p50'], '.1f', ' s')}, "
                 f"p95 {_num(s['latency_p95'], '.1f', ' s')}, max {_num(s['latency_max'], '.1f', ' s')} "
                 "(rate-limited waits included); "
                 f"a grading's start to finish p50 {_num(s['grading_seconds_p50'], '.1f', ' s')}")
    differ = s.get("scores_differ_from_make_grade", [])
    lines.append(f"   the same score from the service and make grade for {s['submissions'] - len(differ)}/"
                 f"{s['submissions']} notebooks (each grading draws its own hidden inputs)")
    lines.append(f"   lost {len(s['lost'])}; graded twice {len(s['graded_twice'])}; superseded "
                 f"{s['states']['superseded']}; waited for the rate limit {s['waited']}; rate limit "
                 f"{'honoured' if not s['rate_violations'] else 'VIOLATED'} (most starts in any "
                 f"{s['rate_window']:g} s: {s['most_starts_in_a_window']}, limit {s['rate_limit']})")
    for line in (s["score_mismatches"] + b["score_mismatches"])[:10]:
        lines.append(f"   score: {line}")
    for line in s["rate_violations"][:10]:
        lines.append(f"   rate: {line}")
    if result.idle:
        lines.append("   idle service: " + "; ".join(
            f"{p['student']} {p['seconds']:.1f} s submit to feedback page (queue {_num(p['queue_seconds'])} s)"
            for p in result.idle))
    if result.breakdown:
        lines += breakdown_lines(result.breakdown)
    for ok, text in result.targets:
        lines.append(f"{'target met   ' if ok else 'target missed'}  {text}")
    for ok, text in result.checks:
        lines.append(f"{'PASS' if ok else 'FAIL'}  {text}")
    return lines


def breakdown_lines(found: dict) -> list[str]:
    styles = [k for k in found if k != "warm-up"]
    lines = ["== where a submission's CPU goes: CPU s, grading process + sandbox (wall s); "
             "a warm process, one submission of each style"]
    head = f"{'step':<46}" + "".join(f"{s:>22}" for s in styles)
    lines += [head, "-" * len(head)]

    def cell(m: dict) -> str:
        own, sandbox = (0.0 if abs(x) < 0.005 else x for x in (m["own"], m["cpu"] - m["own"]))
        return f"{own:.2f}+{sandbox:.2f} ({m['wall']:.2f})"
    labels = [("plan (preflight, sanitize)", "steps", "plan"),
              ("kernel start (sandbox, kernel, agent)", "groups", "kernel start"),
              ("notebook: first cell (imports)", "groups", "first cell"),
              ("notebook: solution cells", "groups", "solution cells"),
              ("notebook: other cells", "groups", "other cells"),
              ("checks", "groups", "checks"),
              ("kernel stop", "groups", "kernel stop"),
              ("execution, other", "groups", "execution, other"),
              ("nbgrader autograde (from the cached execution)", "steps", "autograde"),
              ("nbgrader generate_feedback", "steps", "feedback")]
    for label, where, key in labels:
        lines.append(f"{label:<46}" + "".join(f"{cell(found[s][where][key]):>22}" for s in styles))
    totals = {s: sum(found[s]["steps"][k]["cpu"] for k in found[s]["steps"]) for s in styles}
    lines.append(f"{'total CPU s':<46}" + "".join(f"{totals[s]:>22.2f}" for s in styles))
    warm = found.get("warm-up")
    if warm:
        lines.append(f"   the process's first submission (its warm-up, not shown): "
                     f"{sum(m['cpu'] for m in warm['steps'].values()):.2f} CPU s")
    return lines


def main(assignment: Assignment, out: str | None = None, **options) -> int:
    """``python -m grader bench-service``: the bench with the result written to ``out`` (default: DEFAULT_OUT)."""
    import warnings

    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)   # nbgrader's ORM chatter on every autograde
    reason = bench_grading.sandbox_ready()
    if reason:
        print(f"cannot run the service bench here: {reason}", file=sys.stderr)
        return 2
    result = run_bench(assignment, out=out or DEFAULT_OUT, log=lambda line: print(line, flush=True), **options)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
