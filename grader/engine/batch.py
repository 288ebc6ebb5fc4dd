"""Grade a whole class: parallel execution, nbgrader bookkeeping, resume, and a record per submission.

``grade_batch`` is what ``make grade`` / ``python -m grader grade`` runs:

1. *Preflight* every ``submitted/<student>/<assignment>/`` into a staging area
   (grader.engine.preflight): read without following links, within bounds.  Links,
   special files, unusable student ids and unreadable or oversized notebooks
   fail here, with a reason.
2. *Plan*: sanitize each notebook with nbgrader's own sanitize preprocessors
   and compute its hidden-inputs salt (grader.engine.inputs) and execution key
   (grader.engine.jobs).  Submissions whose state says
   they were graded from exactly these files by this grader are skipped.
3. *Execute* the jobs whose results are not cached yet: each in a process of its
   own (default: one per core, plus one, at a time) or on a Dask cluster
   (``scheduler``); each job starts as soon as preflight has planned it.  A
   process that dies or overruns fails only its own job.
4. *Record*: ``nbgrader autograde`` per student, one at a time, which finds the
   cached execution and writes the gradebook (the only writer).  Recording
   overlaps execution: a student is recorded as soon as their notebook's
   execution ends.  A state file is written last, atomically, so a killed run
   resumes where it stopped.

Every per-submission step is guarded: whatever one submission does, it ends with
a gradebook row or a failure record naming the student, and the batch goes on.
The coordinator's own seconds per submission (planning and recording) are
recorded with its outcome.

A submission is skipped only when its state matches *and* the gradebook holds
it in full (every grade row, a score on every test cell) *and*, unless it
failed, its autograded notebook exists: a run killed inside ``nbgrader
autograde``, a new gradebook (another ``NBGRADER_DB_URL``) or a deleted
``autograded/`` is recorded again, from the cached execution.
"""
from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import resource
import shutil
import signal
import tempfile
import time
import urllib.parse

import nbformat
from nbconvert.exporters import NotebookExporter
from nbgrader import utils
from nbgrader.api import Grade, Gradebook, MissingEntry, SubmittedAssignment, SubmittedNotebook
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from tqdm.auto import tqdm
from traitlets.config import Config

from . import course, grading_lock, inputs, jobs, preflight
from .assignment import Assignment
from .assignment import load as load_assignment
from .nbgrader_ext import skip
from .nbgrader_ext.execute import TrustedExecute
from .records import GradingRecord
from .sandbox import SandboxPolicy

STATE_VERSION = 1
WORKER_MARGIN_SECONDS = 120   # past a notebook's time limit, for kernel start-up, cleanup and recording the result


@dataclasses.dataclass
class Outcome:
    student: str
    status: str                 # graded | graded_with_incidents | failed
    reasons: list[str]
    score: float | None
    max_score: float
    seconds: float
    key: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)
    skipped: bool = False       # unchanged since the last run: no work done
    coordinator_seconds: float = 0.0   # this process's own time on it: planning and recording


class Paths:
    def __init__(self, root: str, assignment: str):
        self.root, self.assignment = root, assignment
        self.base = os.path.join(root, ".grading")
        self.staging = os.path.join(self.base, "staging", "submitted")
        self.state = os.path.join(self.base, "state", assignment)
        self.cache = os.path.join(self.base, "cache")
        self.submitted = os.path.join(root, "submitted")
        self.source = os.path.join(root, "source", assignment)

    def state_file(self, student: str) -> str:
        """The student's state file: the id percent-encoded (any folder name gives a valid, distinct file name)."""
        name = urllib.parse.quote(os.fsencode(student), safe="")
        if len(name) > 200:
            name = "id-" + hashlib.sha256(os.fsencode(student)).hexdigest()
        return os.path.join(self.state, f"{name}.json")


def read_state(paths: Paths, student: str) -> dict | None:
    return _read_state_file(paths.state_file(student))


def _read_state_file(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
        return state if isinstance(state, dict) and state.get("version") == STATE_VERSION else None
    except (OSError, ValueError):
        return None


def write_state(paths: Paths, outcome: Outcome, submission_key: str) -> None:
    os.makedirs(paths.state, exist_ok=True)
    data = {"version": STATE_VERSION, "submission_key": submission_key, **dataclasses.asdict(outcome)}
    fd, tmp = tempfile.mkstemp(dir=paths.state, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, paths.state_file(outcome.student))


def outcome_from_state(state: dict) -> Outcome:
    """The Outcome a state file records (its other keys are the state's own)."""
    fields = {f.name for f in dataclasses.fields(Outcome)}
    return Outcome(**{k: v for k, v in state.items() if k in fields})


def all_outcomes(assignment: str, root: str = course.ROOT) -> list[Outcome]:
    """The last recorded outcome of every student (for reports and summaries)."""
    paths = Paths(root, assignment)
    out = []
    if os.path.isdir(paths.state):
        for name in os.listdir(paths.state):
            if name.endswith(".json"):
                state = _read_state_file(os.path.join(paths.state, name))
                if state:
                    out.append(outcome_from_state(state))
    return sorted(out, key=lambda o: os.fsencode(o.student))


def kernel_files(staged_dir: str, source_dir: str, ignore: list[str]) -> dict[str, bytes]:
    """The files nbgrader puts next to the notebook: the submission's, then the course's on top."""
    files: dict[str, bytes] = {}
    for base in (staged_dir, source_dir):
        for full in utils.find_all_files(base, ignore + ["*.ipynb"]):
            with open(full, "rb") as fh:
                files[os.path.relpath(full, base)] = fh.read()
    return files


def record_failure(paths: Paths, db_url: str, outcome: Outcome, submission_key: str) -> None:
    """A submission that could not be graded: a gradebook row of zeros, no (stale) autograded files, its state.

    A folder name that cannot be a student id gets no gradebook row (nbgrader could not store
    it); its state file still records the failure.  A gradebook that refuses the row adds that
    to the reasons, and the state is written all the same.
    """
    if not preflight.student_id_problem(outcome.student):
        try:
            zero_row(db_url, outcome.student, paths.assignment)
        except Exception as exc:  # noqa: BLE001 - the state below must still say what happened
            outcome.reasons.append(f"no gradebook row: {type(exc).__name__}: {exc}"[:300])
        shutil.rmtree(os.path.join(paths.root, "autograded", outcome.student, paths.assignment), ignore_errors=True)
    write_state(paths, outcome, submission_key)


def zero_row(db_url: str, student: str, assignment: str) -> None:
    """Give a submission that could not be graded a gradebook row of zeros (as nbgrader does for a missing notebook)."""
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                grade.auto_score = 0
                grade.manual_score = None
                grade.needs_manual_grade = False
        gb.db.commit()


def check_gradebook_url(db_url: str) -> None:
    """Fail early, and readably, on a gradebook URL that SQLAlchemy cannot use in this environment."""
    import importlib.util

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(db_url)
    except ArgumentError:
        raise ValueError("the gradebook URL (NBGRADER_DB_URL or c.CourseDirectory.db_url) is not an SQLAlchemy "
                         "database URL such as sqlite:////path/gradebook.db or "
                         "postgresql+psycopg2://user@host:5432/gradebook") from None
    shown = url.render_as_string(hide_password=True)
    try:
        url.get_dialect().import_dbapi()
    except ArgumentError:
        raise ValueError(f"gradebook URL {shown}: SQLAlchemy knows no database {url.drivername!r}") from None
    except ImportError as exc:
        hint = ""
        if url.get_backend_name() == "postgresql" and importlib.util.find_spec("psycopg2"):
            hint = "; psycopg2 is installed: write the URL as postgresql+psycopg2://..."
        raise ValueError(f"gradebook URL {shown}: its database driver ({exc.name}) is not installed{hint}") from None


def complete_submissions(db_url: str, assignment: str) -> set[str]:
    """Students whose submission the gradebook holds in full.

    In full: a submitted notebook for every notebook of the assignment, a grade
    row for every graded cell, and an autograder score on every test cell
    (an interrupted ``nbgrader autograde`` leaves them empty).  One query.
    """
    with Gradebook(db_url) as gb:
        try:
            record = gb.find_assignment(assignment)
        except MissingEntry:
            return set()
        expected: dict[str, int] = {}
        tests: set[str] = set()
        for nb in record.notebooks:
            answers = {cell.name for cell in nb.solution_cells}
            expected[nb.id] = len(nb.grade_cells) + len(nb.task_cells)
            tests |= {cell.id for cell in nb.grade_cells if cell.cell_type == "code" and cell.name not in answers}
        rows = (gb.db.query(SubmittedAssignment.student_id, SubmittedNotebook.notebook_id, Grade.cell_id,
                            Grade.auto_score)
                .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                .outerjoin(Grade, Grade.notebook_id == SubmittedNotebook.id)
                .filter(SubmittedAssignment.assignment_id == record.id))
        counts: dict[str, dict[str, int]] = {}
        unscored: set[str] = set()
        for student, notebook, cell, score in rows:
            per_notebook = counts.setdefault(student, {})
            per_notebook[notebook] = per_notebook.get(notebook, 0) + (cell is not None)
            if cell in tests and score is None:
                unscored.add(student)
    return {student for student, found in counts.items() if found == expected and student not in unscored}


def default_workers() -> int:
    """Parallel executions by default: one per core, plus one.

    A sandboxed kernel is often idle (starting up, waiting on the grader's calls, or in student
    code that sleeps until its time limit), so one extra worker keeps every core busy
    (``python -m grader bench`` compares worker counts).  Time limits are wall-clock: a CPU-bound kernel still gets
    at least cores/(cores+1) of a core, and the limits are far above what correct work needs.
    """
    return (os.cpu_count() or 1) + 1


def _die_with_parent() -> None:
    """Worker processes (and through them the sandboxes) end when the coordinator is killed."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class WorkerDied(RuntimeError):
    """The process executing one job died or overran; the job fails, nothing else does."""


def _exit_text(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"killed by {name}" + (", as the out-of-memory killer does" if -code == signal.SIGKILL else "")
    return f"exit status {code}"


def _run_in_child(run, job, conn) -> None:
    """Body of a worker process: one job, its result (or error text) and the process's peak memory."""
    _die_with_parent()
    try:
        outcome = (True, run(job))
    except BaseException as exc:  # noqa: BLE001 - everything crosses back as text
        outcome = (False, f"{type(exc).__name__}: {exc}"[:1000])
    conn.send(outcome + (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,))
    conn.close()


class LocalPool:
    """Runs each job in a process of its own (forked from this one), at most ``workers`` at a time.

    A process of its own per job means a worker that dies (the out-of-memory killer, a signal,
    a crash in grader code) or runs past ``deadline`` seconds fails only the job it was running,
    with the reason; a shared pool would break for every job in it.  ``run(job)`` is called in
    the worker.  The coordinator polls for finished workers whenever a job is submitted, so
    jobs start while the caller is still planning others.
    """

    def __init__(self, workers: int, run, deadline: float | None = None):
        self.workers, self.run, self.deadline = max(1, workers), run, deadline
        self._ctx = multiprocessing.get_context("fork")
        self._pending: collections.deque = collections.deque()
        self._running: dict = {}   # connection -> (process, job, start time)
        self._done: collections.deque = collections.deque()
        self.peak_worker_kib = 0

    def submit(self, job) -> None:
        self._pending.append(job)
        self._collect(0)
        self._start()

    def _start(self) -> None:
        while self._pending and len(self._running) < self.workers:
            job = self._pending.popleft()
            receiver, sender = self._ctx.Pipe(duplex=False)
            process = self._ctx.Process(target=_run_in_child, args=(self.run, job, sender), daemon=True)
            process.start()
            sender.close()
            self._running[receiver] = (process, job, time.monotonic())

    def _collect(self, timeout: float | None) -> None:
        """Move finished (or overdue) jobs to the done queue, waiting up to ``timeout`` seconds for one."""
        if not self._running:
            return
        if self.deadline is not None:
            first_due = min(started for _, _, started in self._running.values()) + self.deadline
            wait = max(0.0, first_due - time.monotonic())
            timeout = wait if timeout is None else min(timeout, wait)
        for conn in multiprocessing.connection.wait(list(self._running), timeout=timeout):
            process, job, _ = self._running.pop(conn)
            try:
                ok, value, peak = conn.recv()
                self.peak_worker_kib = max(self.peak_worker_kib, peak)
                result = value if ok else RuntimeError(value)
            except (EOFError, OSError):
                process.join(10)
                result = WorkerDied(f"the grading worker process died ({_exit_text(process.exitcode)}) "
                                    "while executing this notebook")
            conn.close()
            process.join(10)
            self._done.append((job, result))
        if self.deadline is not None:
            now = time.monotonic()
            for conn, (process, job, started) in list(self._running.items()):
                if now - started > self.deadline:
                    process.kill()
                    process.join(10)
                    conn.close()
                    del self._running[conn]
                    self._done.append((job, WorkerDied(f"the grading worker ran longer than {self.deadline:g} s "
                                                       "and was stopped")))

    def poll(self, timeout: float) -> list:
        """(job, result or exception) for the jobs finished so far, waiting up to ``timeout`` seconds for one."""
        self._start()
        if not self._done:
            self._collect(timeout)
        self._start()
        done = list(self._done)
        self._done.clear()
        return done

    @property
    def busy(self) -> int:
        """Jobs submitted and not yet handed back."""
        return len(self._pending) + len(self._running) + len(self._done)

    def finished(self):
        """(job, result or exception) for every submitted job, as they finish."""
        while self._done or self._running or self._pending:
            while self._done:
                yield self._done.popleft()
            self._start()
            self._collect(None)

    def close(self) -> None:
        for conn, (process, _, _) in list(self._running.items()):
            process.kill()
            process.join(10)
            conn.close()
        self._running.clear()
        self._pending.clear()


class Executor:
    """Runs execution jobs: a process per job on this machine, or a Dask cluster when ``scheduler`` is set."""

    def __init__(self, workers: int, scheduler: str | None = None, deadline: float | None = None,
                 assignment: Assignment | None = None):
        self.workers, self.scheduler, self.deadline = workers, scheduler, deadline
        self.assignment = assignment
        self._client = None
        self._pool: LocalPool | None = None
        self._futures: dict = {}

    def __enter__(self):
        if self.scheduler:
            from distributed import Client
            self._client = Client(self.scheduler, timeout="30s")
        else:
            # what every job needs, prepared once here so the forked workers inherit it
            from .sandbox import matplotlib_font_cache
            if self.assignment is not None:
                self.assignment.registry(hidden=True)
            matplotlib_font_cache()
            self._pool = LocalPool(self.workers, jobs.execute_job, self.deadline)
        return self

    def __exit__(self, *exc):
        if self._client is not None:
            self._client.close()
        if self._pool is not None:
            self._pool.close()

    @property
    def peak_worker_kib(self) -> int:
        """The largest peak resident size of a local worker process so far (0 on a cluster)."""
        return self._pool.peak_worker_kib if self._pool is not None else 0

    def submit(self, job) -> None:
        """Start ``job`` as soon as a worker is free."""
        if self._client is not None:
            future = self._client.submit(jobs.execute_job, job, pure=False, key=f"grade-{job.key[:24]}")
            self._futures[future] = job
        else:
            self._pool.submit(job)

    def poll(self, timeout: float) -> list:
        """(job, result or exception) for the jobs finished since the last call, waiting up to ``timeout``
        seconds for one; for a caller that submits jobs as they arrive (the grading service)."""
        if self._client is None:
            return self._pool.poll(timeout)
        from distributed import wait
        if self._futures:
            try:
                wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
            except TimeoutError:   # distributed's wait raises when nothing finished in time
                pass
        done = []
        for future in [f for f in self._futures if f.done()]:
            job = self._futures.pop(future)
            try:
                done.append((job, future.result()))
            except Exception as exc:  # noqa: BLE001 - reported per submission
                done.append((job, exc))
        return done

    @property
    def busy(self) -> int:
        """Jobs submitted and not yet handed back by :meth:`poll`."""
        return self._pool.busy if self._client is None else len(self._futures)

    def finished(self):
        """(job, result or exception) for every submitted job, as they finish."""
        if self._client is None:
            yield from self._pool.finished()
            return
        from distributed import as_completed
        for future in as_completed(list(self._futures)):
            job = self._futures[future]
            try:
                yield job, future.result()
            except Exception as exc:  # noqa: BLE001 - reported per submission
                yield job, exc


def _sanitizer(config: Config, coursedir: CourseDirectory):
    exporter_config = Config(config)
    exporter_config.Exporter.default_preprocessors = []
    exporter = NotebookExporter(config=exporter_config)
    for pp in Autograde(coursedir=coursedir, config=config).sanitize_preprocessors:
        exporter.register_preprocessor(pp, enabled=True)
    return exporter


@dataclasses.dataclass
class _Plan:
    """A submission that passed preflight: what identifies it, and the execution that grades it."""

    submission_key: str   # the files handed in, this grader and its sandbox policy (the state's key)
    key: str              # the execution key (jobs.fingerprint): equal keys share one execution
    notes: list[str]      # preflight's notes, kept with the outcome


class GradingRun:
    """Grading one assignment: its settings, a plan per submission, an outcome per student.

    :func:`grade_batch` makes one per call, and the grading service (grader.engine.service) one per
    assignment for as long as it runs.  The steps are methods, called in this order:
    :meth:`plan` (skip, fail, or plan each submission), then :meth:`record`
    for every planned one once its execution is cached or has failed.
    """

    def __init__(self, root: str, assignment: str, force: bool):
        self.root, self.force = root, force
        self.paths = Paths(root, assignment)
        self.assignment = assignment
        self.content = load_assignment(root, assignment)
        config = course.load_config(root)
        check_gradebook_url(config.CourseDirectory.db_url)
        course.ensure_gradebook(assignment, root)
        config.CourseDirectory.submitted_directory = os.path.relpath(self.paths.staging, root)
        self.config = config
        self.coursedir = CourseDirectory(config=config)
        self.db_url = self.coursedir.db_url
        self.policy = jobs.policy_values(SandboxPolicy(config=config), assignment)
        self.policy_key = json.dumps(self.policy, sort_keys=True)
        # how verdicts become points is applied when recording (not cached), so it is part of the state's key
        self.scoring_key = json.dumps({"partial_credit": TrustedExecute(config=config).partial_credit})
        self.grader_version = jobs.grader_version(*self.content.verdict_dirs())
        # the course secret stays here: each job carries its submission's salt (grader.engine.inputs)
        self.inputs_secret = inputs.InputsSecret(config=config).read(root)
        self.max_score = sum(course.max_scores(assignment, root).values())
        self.cache = jobs.ResultCache(self.paths.cache)
        self.sanitizer = _sanitizer(config, self.coursedir)
        # the cells the source notebook marks as not run when grading: a source that marks a cell which must run
        # stops the run here (SkipTagError), before any submission is failed for it, and a change of the marks
        # is a change of every submission's key
        self.skip_key = ",".join(sorted(skip.marked_cells(skip.source_notebook(self.coursedir, assignment,
                                                                                 assignment))))
        self.complete = set() if force else complete_submissions(self.db_url, self.assignment)
        self.outcomes: dict[str, Outcome] = {}
        self.planned: dict[str, _Plan] = {}
        self.lost: list[str] = []              # graded before, but the gradebook or autograded/ no longer has them
        self.failed_jobs: dict[str, str] = {}  # execution key -> why its execution failed
        self.coordinator: dict[str, float] = {}  # student -> this process's seconds on them so far
        self._step_started = time.monotonic()
        self.limits = preflight.Preflight(config=config)
        self._api = None

    def fail(self, student: str, reason: str, submission_key: str, seconds: float = 0.0,
             plan: _Plan | None = None) -> None:
        """Record a submission that could not be graded normally: its reason, a row of zeros, its state."""
        key, notes = (plan.key, plan.notes) if plan else ("", [])
        self.outcomes[student] = Outcome(student, "failed", [reason], 0.0, self.max_score, seconds, key, notes,
                                         coordinator_seconds=self._spent(student))
        record_failure(self.paths, self.db_url, self.outcomes[student], submission_key)

    def guarded(self, step: str, student: str, action):
        """Run one per-submission step; an exception fails that submission alone, with the student named."""
        started = self._step_started = time.monotonic()
        try:
            return action(student)
        except Exception as exc:  # noqa: BLE001 - one submission must never stop the batch
            reason = f"grader error while {step}: {type(exc).__name__}: {exc}"[:300]
            plan = self.planned.pop(student, None)
            try:
                self.fail(student, reason, plan.submission_key if plan else "", plan=plan)
            except Exception as again:  # noqa: BLE001 - keep the outcome in memory, say so in the summary
                self.outcomes[student] = Outcome(student, "failed", [reason, f"not recorded: {again}"[:300]], 0.0,
                                                 self.max_score, 0.0)
            return None
        finally:
            self.coordinator[student] = self.coordinator.get(student, 0.0) + time.monotonic() - started

    def _spent(self, student: str) -> float:
        """Seconds this process has spent on ``student``: earlier steps and the current one so far."""
        return round(self.coordinator.get(student, 0.0) + time.monotonic() - self._step_started, 3)

    def plan(self, student: str) -> jobs.ExecutionJob | None:
        """Preflight one submission: skip it if unchanged, fail it with a reason, or plan its grading.

        Returns the execution job to run, or None when there is nothing to run (skipped,
        failed, or its execution is cached).
        """
        problem = preflight.student_id_problem(student)
        if problem:
            self.fail(student, f"the folder name {preflight.printable(student)!r} {problem}; "
                               "it cannot be a student id", "")
            return None
        try:
            submission = preflight.read_submission(self.paths.submitted, student, self.assignment, self.limits)
        except preflight.Refused as exc:
            self.fail(student, str(exc), "")
            return None
        submission_key = hashlib.sha256(
            f"{submission.digest}:{self.grader_version}:{self.policy_key}:{self.scoring_key}:{self.skip_key}".encode()
        ).hexdigest()
        if self._unchanged(student, submission_key):
            return None
        check = preflight.stage(submission, self.paths.staging, student, self.assignment, self.limits)
        if not check.ok:
            self.fail(student, check.reason, submission_key)
            return None
        staged = os.path.join(self.paths.staging, student, self.assignment)
        try:
            sanitized = self._sanitize(student, staged)
        except Exception as exc:  # noqa: BLE001 - nbgrader rejected the notebook's structure
            self.fail(student, f"nbgrader could not read the notebook: {exc}"[:300], submission_key)
            return None
        files = kernel_files(staged, self.paths.source, list(self.coursedir.ignore))
        salt = inputs.submission_salt(self.inputs_secret, self.assignment, student, sanitized, files)
        key = jobs.fingerprint(sanitized, files, self.policy_key, self.grader_version, salt)
        self.planned[student] = _Plan(submission_key, key, check.notes)
        if self.cache.get(key) is not None:
            return None
        return jobs.ExecutionJob(key, student, self.assignment, self.assignment, nbformat.writes(sanitized),
                                 files, self.policy, os.path.abspath(self.root), salt.hex())

    def _unchanged(self, student: str, submission_key: str) -> bool:
        """True (and the outcome taken from its state) if this exact submission is graded and recorded in full."""
        state = read_state(self.paths, student)
        if self.force or not state or state.get("submission_key") != submission_key:
            return False
        autograded_nb = os.path.join(self.root, "autograded", student, self.assignment, f"{self.assignment}.ipynb")
        if student in self.complete and (state.get("status") == "failed" or os.path.isfile(autograded_nb)):
            self.outcomes[student] = outcome_from_state(state)
            self.outcomes[student].skipped = True
            return True
        self.lost.append(student)
        return False

    def _sanitize(self, student: str, staged: str) -> nbformat.NotebookNode:
        """The staged notebook after nbgrader's own sanitize preprocessors (as ``nbgrader autograde`` runs them)."""
        nb = nbformat.read(os.path.join(staged, f"{self.assignment}.ipynb"), as_version=4)
        resources = {"nbgrader": {"student": student, "assignment": self.assignment, "notebook": self.assignment,
                                  "db_url": self.db_url}, "metadata": {"path": staged}}
        sanitized, _ = self.sanitizer.from_notebook_node(nb, resources=resources)
        return nbformat.reads(sanitized, as_version=4)

    def record(self, student: str) -> None:
        """nbgrader autograde for one planned student, from the cached execution (the gradebook's only writer)."""
        plan = self.planned[student]
        if plan.key in self.failed_jobs:
            self.fail(student, self.failed_jobs[plan.key], plan.submission_key, plan=plan)
            return
        if self._api is None:
            self._api = course.make_api(self.root, self.config)
        t0 = time.monotonic()
        with course.chdir(self.root):
            result = self._api.autograde(self.assignment, student, force=True, create=True)
        record_path = os.path.join(self.root, "autograded", student, self.assignment,
                                   f"{self.assignment}.grading.json")
        if not (result.get("success") and os.path.exists(record_path)):
            log_tail = (result.get("error") or result.get("log") or "no log")[-300:].strip()
            self.fail(student, f"nbgrader autograde failed: {log_tail}", plan.submission_key,
                      time.monotonic() - t0, plan)
            return
        with open(record_path, encoding="utf-8") as fh:
            grading = GradingRecord.from_json(fh.read())
        self.outcomes[student] = Outcome(student, grading.status, grading.reasons,
                                         _total_score(self.db_url, student, self.assignment), self.max_score,
                                         grading.seconds, grading.key, plan.notes,
                                         coordinator_seconds=self._spent(student))
        write_state(self.paths, self.outcomes[student], plan.submission_key)


def grade_batch(assignment: str, root: str = course.ROOT, students: list[str] | None = None,
                workers: int | None = None, scheduler: str | None = None, force: bool = False,
                progress: bool = True, log=print) -> list[Outcome]:
    """Grade every submission of ``assignment`` under ``submitted/`` (or just ``students``); see the module doc.
    Raises :class:`grading_lock.CourseBusy` while another process grades the course (the grading service)."""
    check_gradebook_url(course.load_config(root).CourseDirectory.db_url)   # a bad URL leaves the course untouched
    with grading_lock.hold(root, "a batch grading (python -m grader grade)"):
        return _grade_batch(assignment, root, students, workers, scheduler, force, progress, log)


def _grade_batch(assignment: str, root: str, students: list[str] | None, workers: int | None,
                 scheduler: str | None, force: bool, progress: bool, log) -> list[Outcome]:
    started = time.monotonic()
    workers = workers or default_workers()
    run = GradingRun(root, assignment, force)
    students = students if students is not None else course.submitted_students(assignment, root)
    # a worker that outlives its notebook's own time limit by this much is stopped
    deadline = run.policy["submission_timeout"] + WORKER_MARGIN_SECONDS

    waiting: dict[str, list[str]] = {}   # execution key -> the students waiting for its result
    executor = None
    with contextlib.ExitStack() as stack:
        for student in tqdm(students, desc="preflight", unit="sub", disable=not progress):
            job = run.guarded("planning", student, run.plan)
            if job is not None and job.key not in waiting:
                if executor is None:   # execution starts with the first job, while preflight goes on
                    executor = stack.enter_context(Executor(workers, scheduler, deadline, run.content))
                executor.submit(job)
                waiting[job.key] = []
        if run.lost:
            log(f"{len(run.lost)} submissions graded before are not (fully) in the gradebook or autograded/ "
                f"any more; recording them again: {', '.join(run.lost[:10])}{' ...' if len(run.lost) > 10 else ''}")

        # Recording overlaps execution: the students whose execution is cached are recorded while the
        # workers run, and every other student as soon as the execution of their notebook ends.
        ready = []
        for student in sorted(run.planned):
            key = run.planned[student].key
            (waiting[key] if key in waiting else ready).append(student)
        if waiting:
            where = f"Dask scheduler {scheduler}" if scheduler else f"{min(workers, len(waiting))} local workers"
            log(f"executing {len(waiting)} notebooks on {where}")
        executing = tqdm(total=len(waiting), desc="executing", unit="nb", disable=not progress or not waiting)
        recording = tqdm(total=len(run.planned), desc="recording", unit="sub", disable=not progress)
        for student in ready:
            run.guarded("recording", student, run.record)
            recording.update(1)
        for job, result in (executor.finished() if executor is not None else ()):
            if isinstance(result, Exception):
                run.failed_jobs[job.key] = f"execution failed: {type(result).__name__}: {result}"[:300]
            else:
                run.cache.put(result)
            executing.update(1)
            for student in waiting[job.key]:
                run.guarded("recording", student, run.record)
                recording.update(1)
        executing.close()
        recording.close()
        if executor is not None and executor.peak_worker_kib:
            log(f"grader peak memory: coordinator {_peak_kib() / 1024:.0f} MiB, "
                f"largest worker {executor.peak_worker_kib / 1024:.0f} MiB")

    ordered = [run.outcomes[s] for s in students if s in run.outcomes]
    log(summary_line(ordered, time.monotonic() - started))
    return ordered


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _total_score(db_url: str, student: str, assignment: str) -> float:
    with Gradebook(db_url) as gb:
        return float(gb.find_submission(assignment, student).score)


def summary_line(outcomes: list[Outcome], seconds: float) -> str:
    graded = [o for o in outcomes if o.status != "failed" and not o.skipped]
    incidents = [o for o in graded if o.status == "graded_with_incidents"]
    failed = [o for o in outcomes if o.status == "failed" and not o.skipped]
    skipped = [o for o in outcomes if o.skipped]
    reasons: dict[str, int] = {}
    for o in failed + incidents:
        for r in o.reasons[:1] if o.status == "failed" else o.reasons:
            key = r.split(":")[0] if o.status == "failed" else r
            reasons[key] = reasons.get(key, 0) + 1
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
    return (f"{len(graded)} graded ({len(incidents)} with incidents), {len(failed)} failed, "
            f"{len(skipped)} skipped (unchanged) in {seconds:.1f} s" + (f" — reasons: {detail}" if detail else ""))
