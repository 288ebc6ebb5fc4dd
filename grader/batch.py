"""Grade a whole class: parallel execution, nbgrader bookkeeping, resume, and a record per submission.

``grade_batch`` is what ``make grade`` / ``python -m grader grade`` runs:

1. *Preflight* every ``submitted/<student>/<assignment>/`` into a staging area
   (grader.preflight).  Unreadable submissions fail here, with a reason.
2. *Plan*: sanitize each notebook with nbgrader's own sanitize preprocessors
   and compute its execution key (grader.jobs).  Submissions whose state says
   they were graded from exactly these files by this grader are skipped.
3. *Execute* the jobs whose results are not cached yet: in a local process pool
   (default: one worker per core, plus one) or on a Dask cluster (``scheduler``); each
   job starts as soon as preflight has planned it.
4. *Record*: ``nbgrader autograde`` per student, one at a time, which finds the
   cached execution and writes the gradebook (the only writer).  Recording
   overlaps execution: a student is recorded as soon as their notebook's
   execution ends.  A state file is written last, atomically, so a killed run
   resumes where it stopped.

A submission is skipped only when its state matches *and* the gradebook holds
it in full (every grade row, a score on every test cell) *and*, unless it
failed, its autograded notebook exists: a run killed inside ``nbgrader
autograde``, a new gradebook (another ``NBGRADER_DB_URL``) or a deleted
``autograded/`` is recorded again, from the cached execution.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time

import nbformat
from nbconvert.exporters import NotebookExporter
from nbgrader import utils
from nbgrader.api import Grade, Gradebook, MissingEntry, SubmittedAssignment, SubmittedNotebook
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from tqdm.auto import tqdm
from traitlets.config import Config

from . import course, jobs, preflight
from .records import GradingRecord
from .sandbox import SandboxPolicy

STATE_VERSION = 1


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


class Paths:
    def __init__(self, root: str, assignment: str = course.ASSIGNMENT):
        self.root, self.assignment = root, assignment
        self.base = os.path.join(root, ".grading")
        self.staging = os.path.join(self.base, "staging", "submitted")
        self.state = os.path.join(self.base, "state", assignment)
        self.cache = os.path.join(self.base, "cache")
        self.submitted = os.path.join(root, "submitted")
        self.source = os.path.join(root, "source", assignment)

    def state_file(self, student: str) -> str:
        return os.path.join(self.state, f"{student}.json")


def submission_digest(path: str) -> str:
    """Digest of everything a student handed in (names and contents)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(path)):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
    return digest.hexdigest()


def read_state(paths: Paths, student: str) -> dict | None:
    try:
        with open(paths.state_file(student), encoding="utf-8") as fh:
            state = json.load(fh)
        return state if state.get("version") == STATE_VERSION else None
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


def all_outcomes(root: str = course.ROOT) -> list[Outcome]:
    """The last recorded outcome of every student (for reports and summaries)."""
    paths = Paths(root)
    out = []
    if os.path.isdir(paths.state):
        for name in sorted(os.listdir(paths.state)):
            if name.endswith(".json"):
                state = read_state(paths, name[:-5])
                if state:
                    out.append(outcome_from_state(state))
    return out


def kernel_files(staged_dir: str, source_dir: str, ignore: list[str]) -> dict[str, bytes]:
    """The files nbgrader puts next to the notebook: the submission's, then the course's on top."""
    files: dict[str, bytes] = {}
    for base in (staged_dir, source_dir):
        for full in utils.find_all_files(base, ignore + ["*.ipynb"]):
            with open(full, "rb") as fh:
                files[os.path.relpath(full, base)] = fh.read()
    return files


def record_failure(paths: Paths, db_url: str, outcome: Outcome, submission_key: str) -> None:
    """A submission that could not be graded: a gradebook row of zeros, no (stale) autograded files, its state."""
    zero_row(db_url, outcome.student, paths.assignment)
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
    code that sleeps until its time limit), so one extra worker keeps every core busy (measured
    with ``python -m grader bench``).  Time limits are wall-clock: a CPU-bound kernel still gets
    at least cores/(cores+1) of a core, and the limits are far above what correct work needs.
    """
    return (os.cpu_count() or 1) + 1


def _die_with_parent() -> None:
    """Pool workers (and through them the sandboxes) end when the coordinator is killed."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Executor:
    """Runs execution jobs: a local process pool, or a Dask cluster when ``scheduler`` is set."""

    def __init__(self, workers: int, scheduler: str | None = None):
        self.workers, self.scheduler = workers, scheduler
        self._client = None
        self._pool = None
        self._futures: dict = {}

    def __enter__(self):
        if self.scheduler:
            from distributed import Client
            self._client = Client(self.scheduler, timeout="30s")
        else:
            self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=self.workers,
                                                                initializer=_die_with_parent)
        return self

    def __exit__(self, *exc):
        if self._client is not None:
            self._client.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, job) -> None:
        """Start ``job`` as soon as a worker is free."""
        if self._client is not None:
            future = self._client.submit(jobs.execute_job, job, pure=False, key=f"grade-{job.key[:24]}")
        else:
            future = self._pool.submit(jobs.execute_job, job)
        self._futures[future] = job

    def finished(self):
        """(job, result or exception) for every submitted job, as they finish."""
        if self._client is not None:
            from distributed import as_completed
            completed = as_completed(list(self._futures))
        else:
            completed = concurrent.futures.as_completed(self._futures)
        for future in completed:
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


class _Run:
    """One :func:`grade_batch` call: its settings, a plan per submission, an outcome per student.

    The steps are methods, called by :func:`grade_batch` in this order:
    :meth:`plan` (skip, fail, or plan each submission), then :meth:`record`
    for every planned one once its execution is cached or has failed.
    """

    def __init__(self, root: str, force: bool):
        self.root, self.force = root, force
        self.paths = Paths(root)
        self.assignment = self.paths.assignment
        config = course.load_config(root)
        check_gradebook_url(config.CourseDirectory.db_url)
        course.ensure_gradebook(root)
        config.CourseDirectory.submitted_directory = os.path.relpath(self.paths.staging, root)
        self.config = config
        self.coursedir = CourseDirectory(config=config)
        self.db_url = self.coursedir.db_url
        self.policy = jobs.policy_values(SandboxPolicy(config=config))
        self.policy_key = json.dumps(self.policy, sort_keys=True)
        self.grader_version = jobs.grader_version()
        self.max_score = sum(course.max_scores(root).values())
        self.cache = jobs.ResultCache(self.paths.cache)
        self.sanitizer = _sanitizer(config, self.coursedir)
        self.complete = set() if force else complete_submissions(self.db_url, self.assignment)
        self.outcomes: dict[str, Outcome] = {}
        self.planned: dict[str, _Plan] = {}
        self.lost: list[str] = []              # graded before, but the gradebook or autograded/ no longer has them
        self.failed_jobs: dict[str, str] = {}  # execution key -> why its execution failed
        self._api = None

    def fail(self, student: str, reason: str, submission_key: str, seconds: float = 0.0,
             plan: _Plan | None = None) -> None:
        """Record a submission that could not be graded normally: its reason, a row of zeros, its state."""
        key, notes = (plan.key, plan.notes) if plan else ("", [])
        self.outcomes[student] = Outcome(student, "failed", [reason], 0.0, self.max_score, seconds, key, notes)
        record_failure(self.paths, self.db_url, self.outcomes[student], submission_key)

    def plan(self, student: str) -> jobs.ExecutionJob | None:
        """Preflight one submission: skip it if unchanged, fail it with a reason, or plan its grading.

        Returns the execution job to run, or None when there is nothing to run (skipped,
        failed, or its execution is cached).
        """
        sub_dir = os.path.join(self.paths.submitted, student, self.assignment)
        submission_key = hashlib.sha256(
            f"{submission_digest(sub_dir)}:{self.grader_version}:{self.policy_key}".encode()).hexdigest()
        if self._unchanged(student, submission_key):
            return None
        check = preflight.stage(self.paths.submitted, self.paths.staging, student, self.assignment)
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
        key = jobs.fingerprint(sanitized, files, self.policy_key)
        self.planned[student] = _Plan(submission_key, key, check.notes)
        if self.cache.get(key) is not None:
            return None
        return jobs.ExecutionJob(key, student, self.assignment, self.assignment, nbformat.writes(sanitized),
                                 files, self.policy)

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
        with course._chdir(self.root):
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
                                         grading.seconds, grading.key, plan.notes)
        write_state(self.paths, self.outcomes[student], plan.submission_key)


def grade_batch(root: str = course.ROOT, students: list[str] | None = None, workers: int | None = None,
                scheduler: str | None = None, force: bool = False, progress: bool = True,
                log=print) -> list[Outcome]:
    started = time.monotonic()
    workers = workers or default_workers()
    run = _Run(root, force)
    students = students if students is not None else course.submitted_students(root)

    waiting: dict[str, list[str]] = {}   # execution key -> the students waiting for its result
    executor = None
    with contextlib.ExitStack() as stack:
        for student in tqdm(students, desc="preflight", unit="sub", disable=not progress):
            job = run.plan(student)
            if job is not None and job.key not in waiting:
                if executor is None:   # execution starts with the first job, while preflight goes on
                    executor = stack.enter_context(Executor(workers, scheduler))
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
            run.record(student)
            recording.update(1)
        for job, result in (executor.finished() if executor is not None else ()):
            if isinstance(result, Exception):
                run.failed_jobs[job.key] = f"execution failed: {type(result).__name__}: {result}"[:300]
            else:
                run.cache.put(result)
            executing.update(1)
            for student in waiting[job.key]:
                run.record(student)
                recording.update(1)
        executing.close()
        recording.close()

    ordered = [run.outcomes[s] for s in students if s in run.outcomes]
    log(summary_line(ordered, time.monotonic() - started))
    return ordered


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
