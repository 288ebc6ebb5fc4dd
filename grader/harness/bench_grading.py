"""``python -m grader bench`` (``make bench-grading``): grading throughput, and what isolation costs.

One run, every variant in its own fresh copy of a scratch course (its own gradebook, no execution
cache carried over), on the same synthetic submissions:

* **stock nbgrader**: ``NbGraderAPI.autograde`` in this process, one student after another, with
  nbgrader's shipped ``Autograde`` preprocessors (in-kernel ``Execute``) and shipped ``Execute``
  settings.  Of the course's nbgrader_config.py only the ``CourseDirectory``/``Exchange`` settings
  are kept (where the course and gradebook are); everything else is printed as dropped.
* **ours**: ``grader.engine.batch.grade_batch`` (bubblewrap sandbox, trusted checks, nbgrader recording)
  with one worker, then with its default (``batch.default_workers()``: cores + 1, every core busy
  while some kernels wait; ``--workers`` sets another count).
* **isolation** (``--isolation``, on by default): one correct submission of each of two styles graded
  again and again through ``NbGraderAPI.autograde``, interleaved: stock nbgrader, ours with
  ``SandboxPolicy.mode = "none"``, ours with ``mode = "bwrap"`` (each of ours with a fresh, empty
  execution cache, so it executes); medians and ratios.

``--scale`` grades a large batch (``--n 1000``) with ours only, after a calibration run that prints
an estimate, and checks that no submission is lost: each has a gradebook submission with all
autograded grade rows, or a failure record with a reason.

Submissions are synthetic and all different: correct solutions in several styles, buggy variants
(``the assignment's samples/mutants.py``), runaway cells (``its samples/attacks.py``), blank releases and broken
files, each with its student id in a comment of its first solution cell (so the content-addressed
cache cannot merge two of them).  The runaway cells are ones stock nbgrader also survives (its cell
timeout interrupts them); memory and fork bombs are left out, stock nbgrader has no limit for them.

Wall time is ``time.monotonic()``.  CPU time is user+system time of this process and all its
descendants (pool workers, kernels, sandboxed kernels in their own PID namespace), read from
/proc every 0.2 s: a process that ends between two samples loses at most its last 0.2 s.
The exit status is 1 when a target or a structural check fails.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time

import nbformat
from nbgrader import utils
from nbgrader.apps import NbGraderAPI
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets.config import Config

from ..engine import batch, course
from ..engine.assignment import Assignment, names
from ..engine.assignment import load as load_assignment
from . import samples as sample_cells
from .mutation import catalog, source_notebook
from .scratch import scratch_course

THROUGHPUT_TARGET = 2.0      # ours with its default workers (all cores) vs stock nbgrader, submissions/min
ISOLATION_TARGET = 2.0       # bwrap vs stock nbgrader, one correct submission, wall time
SCALE_WARN_MINUTES = 45
KEPT_SECTIONS = ("CourseDirectory", "Exchange")   # what the stock run keeps of the course's config


# ------------------------------------------------------------------ limits
def stock_execute_settings() -> dict:
    """nbgrader's ``Execute`` defaults as shipped (read from the installed nbgrader)."""
    traits = Execute.class_traits()
    return {name: traits[name].default() for name in
            ("timeout", "interrupt_on_timeout", "startup_timeout", "iopub_timeout", "allow_errors")}


def stock_preprocessors() -> dict[str, list[str]]:
    traits = Autograde.class_traits()
    return {kind: [p.__name__ for p in traits[f"{kind}_preprocessors"].default()]
            for kind in ("sanitize", "autograde")}


@dataclasses.dataclass
class Limits:
    """Our SandboxPolicy limits for the benchmark (the per-cell one equals stock nbgrader's timeout)."""
    cell_timeout: int
    check_timeout: int = 10
    submission_timeout: int = 90

    @classmethod
    def default(cls) -> Limits:
        return cls(cell_timeout=int(stock_execute_settings()["timeout"]))

    def config_lines(self) -> str:
        return "".join(f"c.SandboxPolicy.{f.name} = {getattr(self, f.name)}\n" for f in dataclasses.fields(self))

    def describe(self) -> str:
        return (f"cell {self.cell_timeout} s, check {self.check_timeout} s, "
                f"submission {self.submission_timeout} s")


# ------------------------------------------------------------------ synthetic submissions
@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of synthetic submission."""
    kind: str           # correct | buggy | runaway | blank | broken
    name: str           # style, mutant, runaway cell (the assignment's RUNAWAY_CELLS), "release", or an
                        # attack with a file edit
    base: str = ""      # the correct style a runaway submission starts from
    weight: float = 1.0

    @property
    def label(self) -> str:
        return self.name + (f" (on {self.base})" if self.base else "")

    def expected_score(self, maxima: dict[str, float], mutants: dict) -> float | None:
        """Autograded points it must get (``maxima``: course.autograded_maxima; ``mutants``: the catalog by name);
        None: it must fail with a reason."""
        if self.kind in ("correct", "runaway"):
            return sum(maxima.values())
        if self.kind == "buggy":
            return sum(m for c, m in maxima.items() if c not in mutants[self.name].fails)
        if self.kind == "blank":
            return 0.0
        return None


def the_assignment(root: str) -> Assignment:
    """The one assignment of a benchmark course (built from one assignment by :func:`make_template`)."""
    found = names(root)
    if len(found) != 1:
        raise ValueError(f"a benchmark course holds one assignment; {root} has {found}")
    return load_assignment(root, found[0])


def bench_samples(assignment: Assignment):
    """The assignment's benchmark declaration: its ``samples/bench.py`` (``MIXES``, ``RUNAWAY_CELLS``)."""
    if not assignment.has("samples.bench"):
        raise ValueError(f"assignment {assignment.name} declares no benchmark: expected "
                         f"{assignment.content_dir}/samples/bench.py with MIXES and RUNAWAY_CELLS")
    return assignment.module("samples.bench")


@dataclasses.dataclass(frozen=True)
class Sample:
    student: str
    kind: Kind


def make_plan(n: int, kinds: list[Kind], prefix: str = "s") -> list[Sample]:
    """``n`` submissions: counts proportional to the weights (largest remainder), spread evenly."""
    total = sum(k.weight for k in kinds)
    exact = [n * k.weight / total for k in kinds]
    counts = [int(x) for x in exact]
    order = sorted(range(len(kinds)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:n - sum(counts)]:
        counts[i] += 1
    slots = sorted(((j + 0.5) / c, i) for i, c in enumerate(counts) for j in range(c))
    width = len(str(max(n - 1, 1)))
    return [Sample(f"{prefix}{pos:0{width}d}_{kinds[i].kind}_{kinds[i].name}", kinds[i])
            for pos, (_, i) in enumerate(slots)]


def mix_counts(plan: list[Sample]) -> dict[Kind, int]:
    counts: dict[Kind, int] = {}
    for s in plan:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    return counts


def describe_mix(plan: list[Sample]) -> list[str]:
    by_kind: dict[str, list[str]] = {}
    for kind, count in mix_counts(plan).items():
        by_kind.setdefault(kind.kind, []).append(f"{kind.label} x{count}")
    return [f"{k} {sum(s.kind.kind == k for s in plan)}: " + ", ".join(v) for k, v in by_kind.items()]


def build_submission(root: str, sample: Sample, release_nb, source_nb) -> str:
    assignment = the_assignment(root)
    kind = sample.kind
    if kind.kind == "correct":
        solution = sample_cells.read_style(assignment.styles_dir, kind.name, source_nb)
    elif kind.kind == "buggy":
        solution = catalog(assignment)[kind.name].cells(source_nb)
    elif kind.kind == "runaway":
        solution = sample_cells.read_style(assignment.styles_dir, kind.base, source_nb)
    else:
        solution = {}
    nb = sample_cells.build_notebook(release_nb, solution)
    first = next(c for c in nb.cells if c.cell_type == "code" and utils.is_solution(c))
    first.source = f"# synthetic submission of {sample.student}\n" + first.source
    if kind.kind == "runaway":
        runaway = bench_samples(assignment).RUNAWAY_CELLS[kind.name]
        nb.cells.insert(sample_cells.cell_index(nb, "setup") + 1, nbformat.v4.new_code_cell(runaway))
    release_dir = os.path.join(root, "release", assignment.name)
    dest = sample_cells.write_submission(root, assignment.name, sample.student, nb, release_dir)
    if kind.kind == "broken":
        assignment.module("samples.attacks").BY_NAME[kind.name].files(dest, nb)
    return dest


def write_plan(root: str, plan: list[Sample]) -> None:
    assignment = the_assignment(root)
    release_nb = nbformat.read(os.path.join(root, "release", assignment.name, f"{assignment.name}.ipynb"),
                               as_version=4)
    source_nb = source_notebook(assignment)
    for sample in plan:
        build_submission(root, sample, release_nb, source_nb)


def make_template(assignment: Assignment, dest: str, limits: Limits) -> str:
    """A released scratch course of ``assignment`` (gradebook inside it) whose config carries the limits."""
    return scratch_course(dest, [assignment.name], repo=assignment.root, release=True,
                          config="# grader.harness.bench_grading: the benchmark's sandbox limits\n"
                                 + limits.config_lines())


def clone_course(template: str, dest: str, plan: list[Sample]) -> str:
    """A fresh copy of the template (own gradebook, no cache, nothing graded) holding ``plan``."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(template, dest, symlinks=True)
    write_plan(dest, plan)
    return dest


# ------------------------------------------------------------------ measuring
class TreeCPU:
    """User+system CPU seconds of a process (default: this one) and every descendant, sampled from /proc.

    Each process counts the most CPU time it was seen with, so a sandboxed kernel counts in full although
    nobody waits for it when its sandbox is torn down (the kernel's namespace reaps it, and its time goes
    to no parent's count of its children)."""

    def __init__(self, interval: float = 0.2, root: int | None = None):
        self.interval = interval
        self.root = os.getpid() if root is None else root
        self._tick = os.sysconf("SC_CLK_TCK")
        self._seen: dict[tuple[int, int], int] = {}
        self._base: dict[tuple[int, int], int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="tree-cpu")

    def _sample(self) -> dict[tuple[int, int], int]:
        table: dict[int, tuple[int, int, int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            fields = data[data.rindex(b")") + 2:].split()
            # fields[1] ppid, [11] utime, [12] stime, [19] starttime (stat fields 4, 14, 15, 22)
            table[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19]))
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        found, stack = {}, [self.root]
        while stack:
            pid = stack.pop()
            if pid in table:
                found[(pid, table[pid][2])] = table[pid][1]
                stack.extend(children.get(pid, []))
        return found

    def _record(self) -> None:
        sample = self._sample()
        with self._lock:
            for key, ticks in sample.items():
                if ticks > self._seen.get(key, -1):
                    self._seen[key] = ticks

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._record()

    def __enter__(self) -> TreeCPU:
        self._base = self._sample()
        self._seen = dict(self._base)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._record()

    def _total(self, pid: int | None = None) -> float:
        with self._lock:
            seen = list(self._seen.items())
        return sum(t - self._base.get(k, 0) for k, t in seen if pid is None or k[0] == pid) / self._tick

    @property
    def seconds(self) -> float:
        return self._total()

    def now(self) -> float:
        """:attr:`seconds` from a reading taken now (not only from the last periodic one)."""
        self._record()
        return self._total()

    def own(self, pid: int) -> float:
        """The seconds of process ``pid`` alone, as of the last reading."""
        return self._total(pid)


@dataclasses.dataclass
class Measured:
    wall: float = 0.0
    cpu: float = 0.0


@contextlib.contextmanager
def measure():
    m = Measured()
    cpu = TreeCPU()
    start = time.monotonic()
    with cpu:
        yield m
        m.wall = time.monotonic() - start
    m.cpu = cpu.seconds


# ------------------------------------------------------------------ the runs
@dataclasses.dataclass
class Rows:
    graded: int = 0                  # a submission row with every autograded grade
    failed_with_reason: int = 0      # a failure record with a reason
    failed_with_zero_row: int = 0    # ... of which also have a gradebook row (of zeros)
    lost: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> str:
        return (f"{self.graded} with all autograded grade rows, {self.failed_with_reason} failed with a reason "
                f"({self.failed_with_zero_row} of them with a zero row), {len(self.lost)} lost")


@dataclasses.dataclass
class RunResult:
    name: str
    workers: int
    students: list[str]
    wall: float
    cpu: float
    seconds: dict[str, float]            # per submission: stock: its autograde call; ours: its execution
    totals: dict[str, float | None]      # autograded points (None: no complete row)
    failures: dict[str, str]             # student -> reason
    rows: Rows
    load: tuple[float, float]            # 1-minute load average before, after
    log: list[str] = dataclasses.field(default_factory=list)
    phases: dict[str, float] = dataclasses.field(default_factory=dict)   # ours: preflight, execution, recording

    @property
    def per_minute(self) -> float:
        return 60.0 * len(self.students) / self.wall if self.wall > 0 else float("inf")

    @property
    def max_seconds(self) -> float:
        return max(self.seconds.values(), default=0.0)


def check_rows(root: str, students: list[str], failures: dict[str, str]) -> tuple[Rows, dict]:
    """Every student: a complete gradebook row, or a failure with a reason; also the autograded totals."""
    name = the_assignment(root).name
    cells = course.autograded_maxima(name, root)
    scores = course.cell_scores(name, root)
    rows, totals = Rows(), {}
    for student in students:
        row = scores.get(student)
        complete = row is not None and all(row.get(c) is not None for c in cells)
        totals[student] = sum(row[c] for c in cells) if complete else None
        if student in failures and failures[student].strip():
            rows.failed_with_reason += 1
            rows.failed_with_zero_row += complete
        elif complete:
            rows.graded += 1
        else:
            rows.lost.append(student)
    return rows, totals


def stock_config(root: str) -> tuple[Config, list[str]]:
    """nbgrader as shipped, pointed at this course: only the course's location settings are kept."""
    ours = course.load_config(root)
    config = Config()
    for section, values in ours.items():
        if section in KEPT_SECTIONS:
            config[section] = copy.deepcopy(values)
    dropped = sorted(f"{s}.{k}" for s, values in ours.items() if s not in KEPT_SECTIONS
                     for k in (values if isinstance(values, dict) else {}))
    return config, dropped


def stock_api(root: str) -> NbGraderAPI:
    """nbgrader's API with :func:`stock_config`."""
    return _api(stock_config(root)[0])


def _api(config: Config) -> NbGraderAPI:
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _autograde(api: NbGraderAPI, root: str, student: str) -> dict:
    with course.chdir(root):
        return api.autograde(the_assignment(root).name, student, force=True, create=True)


def _failure_text(result: dict) -> str:
    return (result.get("error") or result.get("log") or "nbgrader reported no log")[-300:].strip()


def run_stock(root: str, students: list[str]) -> RunResult:
    api = stock_api(root)
    seconds, failures = {}, {}
    load = os.getloadavg()[0]
    with measure() as m:
        for student in students:
            t0 = time.monotonic()
            result = _autograde(api, root, student)
            seconds[student] = time.monotonic() - t0
            if not result.get("success"):
                failures[student] = _failure_text(result)
    rows, totals = check_rows(root, students, failures)
    return RunResult("stock nbgrader", 1, students, m.wall, m.cpu, seconds, totals, failures, rows,
                     (load, os.getloadavg()[0]))


def _phases(cache_dir: str, started: float, executing: float | None, ended: float) -> dict[str, float]:
    """Preflight / execution / recording seconds of one grade_batch run (wall clock, time.time()).

    "preflight" ends when grade_batch announces the execution (jobs already run during preflight, so
    it includes some execution); "execution" ends with the last result written to the execution
    cache; "recording" (nbgrader autograde, one student at a time, also overlapping) is the rest."""
    if executing is None:
        return {}
    written = [os.path.getmtime(os.path.join(d, f)) for d, _, files in os.walk(cache_dir)
               for f in files if f.endswith(".json")]
    last = max(written, default=executing)
    return {"preflight": executing - started, "execution": last - executing, "recording": ended - last}


def run_ours(root: str, students: list[str], workers: int) -> RunResult:
    log: list[str] = []
    executing: list[float] = []

    def note(line: str) -> None:
        if line.startswith("executing ") and not executing:
            executing.append(time.time())
        log.append(line)

    load = os.getloadavg()[0]
    started = time.time()
    with measure() as m:
        name = the_assignment(root).name
        outcomes = batch.grade_batch(name, root, students=students, workers=workers, progress=False, log=note)
    phases = _phases(batch.Paths(root, name).cache, started, executing[0] if executing else None, time.time())
    seconds = {o.student: o.seconds for o in outcomes}
    failures = {o.student: "; ".join(o.reasons) for o in outcomes if o.status == "failed"}
    for student in set(students) - {o.student for o in outcomes}:
        seconds.setdefault(student, 0.0)
    rows, totals = check_rows(root, students, failures)
    return RunResult(f"ours, {workers} worker{'s' if workers > 1 else ''}", workers, students, m.wall, m.cpu,
                     seconds, totals, failures, rows, (load, os.getloadavg()[0]), log, phases)


def expected_mismatches(run: RunResult, plan: list[Sample], maxima: dict[str, float], mutants: dict) -> list[str]:
    """Students whose result differs from what their kind must get."""
    wrong = []
    for sample in plan:
        want = sample.kind.expected_score(maxima, mutants)
        got = run.totals.get(sample.student)
        if want is None:
            if sample.student not in run.failures:
                wrong.append(f"{sample.student}: expected a failure, got {got}")
        elif sample.student in run.failures or got is None or abs(got - want) > 1e-9:
            wrong.append(f"{sample.student}: expected {want:g}, got {got}"
                         + (f" ({run.failures[sample.student][:80]})" if sample.student in run.failures else ""))
    return wrong


# ------------------------------------------------------------------ isolation
@dataclasses.dataclass
class IsolationResult:
    styles: list[str]
    repeats: int
    samples: dict[str, dict[str, list[Measured]]]   # style -> variant -> measurements

    def median(self, style: str, variant: str, what: str = "wall") -> float:
        return statistics.median(getattr(m, what) for m in self.samples[style][variant])

    def ratio(self, style: str, a: str, b: str, what: str = "wall") -> float:
        return self.median(style, a, what) / self.median(style, b, what)


ISOLATION_VARIANTS = ("stock", "none", "bwrap")


def run_isolation(root: str, styles: tuple[str, ...], repeats: int = 3, log=print) -> IsolationResult:
    """Each style's submission graded by each variant ``repeats`` times, interleaved (rotating order)."""
    name = the_assignment(root).name
    students = {style: f"iso_{style}" for style in styles}
    write_plan(root, [Sample(students[s], Kind("correct", s)) for s in styles])
    stock, _ = stock_config(root)
    maxima = course.autograded_maxima(name, root)
    full = sum(maxima.values())
    caches = tempfile.mkdtemp(prefix="caches-", dir=root)

    def grade(style: str, variant: str) -> Measured:
        if variant == "stock":
            config = stock
        else:
            config = course.load_config(root)
            config.SandboxPolicy.mode = variant
            config.TrustedExecute.cache_dir = tempfile.mkdtemp(dir=caches)   # empty: it must execute
        api = _api(config)
        with measure() as m:
            result = _autograde(api, root, students[style])
        if not result.get("success"):
            raise RuntimeError(f"isolation run {variant}/{style} failed: {_failure_text(result)}")
        total, _ = course.autograded_points(course.cell_scores(name, root).get(students[style], {}), maxima)
        if total != full:
            raise RuntimeError(f"isolation run {variant}/{style}: {total:g} points, expected {full:g}")
        if variant != "stock" and not any(files for _, _, files in os.walk(config.TrustedExecute.cache_dir)):
            raise RuntimeError(f"isolation run {variant}/{style} did not execute (nothing was cached)")
        return m

    for variant in ISOLATION_VARIANTS:   # warm-up, not counted: imports, matplotlib's font list
        grade(styles[0], variant)
    samples = {style: {v: [] for v in ISOLATION_VARIANTS} for style in styles}
    for rep in range(repeats):
        order = ISOLATION_VARIANTS[rep % 3:] + ISOLATION_VARIANTS[:rep % 3]
        for style in styles:
            for variant in order:
                m = grade(style, variant)
                samples[style][variant].append(m)
                log(f"   isolation {rep + 1}/{repeats} {style:<7} {variant:<5} {m.wall:6.2f} s wall "
                    f"{m.cpu:6.2f} s CPU")
    shutil.rmtree(caches, ignore_errors=True)
    return IsolationResult(list(styles), repeats, samples)


# ------------------------------------------------------------------ the benchmark
@dataclasses.dataclass
class BenchResult:
    root: str
    plan: list[Sample]
    limits: Limits
    runs: dict[str, RunResult]
    ratios: dict[str, float]             # throughput ratios, ours / stock
    cpu_ratios: dict[str, float]         # CPU seconds per submission, ours / stock
    bounds: dict[str, tuple[float, float]]   # run -> (bound seconds, observed wall)
    mismatches: dict[str, list[str]]     # run -> students whose score is not what their kind must get
    agreement: dict[str, list[str]]      # run -> students scored differently from stock
    isolation: IsolationResult | None = None
    estimate_seconds: float | None = None
    checks: list[tuple[bool, str]] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.checks)


def sandbox_ready() -> str:
    """Empty when the bubblewrap sandbox can run here; otherwise why not."""
    if os.geteuid() != 0:
        return "the sandbox needs root (it switches kernels to unprivileged uids)"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (make sysdeps-sandbox)"
    return ""


def _table(runs: list[RunResult]) -> list[str]:
    head = (f"{'run':<20}{'N':>6}{'wall s':>9}{'subs/min':>10}{'CPU s':>9}{'CPU s/sub':>11}"
            f"{'max sub s':>11}{'load 1m before/after':>23}")
    lines = [head, "-" * len(head)]
    for r in runs:
        n = len(r.students)
        lines.append(f"{r.name:<20}{n:>6}{r.wall:>9.1f}{r.per_minute:>10.2f}{r.cpu:>9.1f}{r.cpu / n:>11.2f}"
                     f"{r.max_seconds:>11.1f}{r.load[0]:>12.2f} / {r.load[1]:<8.2f}")
    return lines


def _estimate(template: str, base: str, plan: list[Sample], workers: int, log) -> float:
    """Seconds the batch should take, from one submission of each kind graded first (the mix scales execution)."""
    kinds = list(mix_counts(plan))
    calibration = [Sample(f"cal{i:02d}_{k.kind}_{k.name}", k) for i, k in enumerate(kinds)]
    root = clone_course(template, os.path.join(base, "calibration"), calibration)
    students = [s.student for s in calibration]
    first = run_ours(root, students, workers)
    per_sub = {k: first.phases.get(k, 0.0) / len(calibration) for k in ("preflight", "recording")}
    counts = mix_counts(plan)
    execute = sum(counts[s.kind] * first.seconds[s.student] for s in calibration)
    serial = (per_sub["preflight"] + per_sub["recording"]) * len(plan)
    estimate = execute / workers + serial
    log(f"calibration (one of each of {len(kinds)} kinds, {workers} workers): execution "
        + ", ".join(f"{s.kind.label} {first.seconds[s.student]:.1f} s" for s in calibration)
        + f"; per submission, serial: preflight {per_sub['preflight']:.2f} s, recording {per_sub['recording']:.2f} s")
    log(f"estimate for {len(plan)} submissions on {workers} workers: {execute / workers / 60:.1f} min execution"
        f" + {serial / 60:.1f} min preflight and recording = {estimate / 60:.1f} min")
    shutil.rmtree(root, ignore_errors=True)
    return estimate


def run_benchmark(assignment: Assignment, n: int = 12, workers: int | None = None, keep: str | None = None,
                  isolation: bool = True, repeats: int = 3, mix: str | list[Kind] = "default",
                  variants=("stock", "ours-1", "ours-all"), limits: Limits | None = None, scale: bool = False,
                  log=print) -> BenchResult:
    cores = os.cpu_count() or 1
    workers = workers or batch.default_workers()
    limits = limits or Limits.default()
    declared = bench_samples(assignment)
    mixes = declared.MIXES
    kinds = mixes[mix] if isinstance(mix, str) else list(mix)
    if scale:
        variants = ("ours-all",)
    plan = make_plan(n, kinds)
    students = [s.student for s in plan]
    base = os.path.abspath(keep) if keep else tempfile.mkdtemp(prefix="bench-grading-")
    os.makedirs(base, exist_ok=True)
    stock_settings = stock_execute_settings()

    log(f"== grading benchmark: {n} synthetic submissions, {cores} cores (os.cpu_count), "
        f"load {os.getloadavg()[0]:.2f}; Python {platform.python_version()}, nbgrader {_nbgrader_version()}")
    for line in describe_mix(plan):
        log(f"   {line}")
    log("   every submission carries its student id in a comment (no two are alike: the cache cannot merge them)")
    log("   runaway cells: " + "; ".join(f"{k} = {v.strip()!r}" for k, v in declared.RUNAWAY_CELLS.items()))
    if "stock" in variants or isolation:
        pre = stock_preprocessors()
        log("stock nbgrader: NbGraderAPI.autograde in this process, one student at a time")
        log(f"   Autograde.sanitize_preprocessors (shipped): {', '.join(pre['sanitize'])}")
        log(f"   Autograde.autograde_preprocessors (shipped): {', '.join(pre['autograde'])}")
        log("   Execute as shipped: " + ", ".join(f"{k} {v}" for k, v in stock_settings.items())
            + "; no per-notebook time limit, no memory or process limit")
    log(f"ours: grader.engine.batch.grade_batch, sandbox mode bwrap; limits: {limits.describe()} "
        f"(per cell = stock's timeout; the other SandboxPolicy limits as shipped)")
    log(f"scratch courses under {base}" + ("" if keep else " (removed at the end)"))

    template = make_template(assignment, os.path.join(base, "template"), limits)
    _, dropped = stock_config(template)
    if "stock" in variants or isolation:
        log(f"   stock run keeps {', '.join(s + '.*' for s in KEPT_SECTIONS)} of the course config; "
            f"drops {', '.join(dropped)}")
    maxima = course.autograded_maxima(assignment.name, template)

    result = BenchResult(base, plan, limits, {}, {}, {}, {}, {}, {})
    if scale:
        result.estimate_seconds = _estimate(template, base, plan, workers, log)
        if result.estimate_seconds > SCALE_WARN_MINUTES * 60:
            default = batch.default_workers()
            if workers < default or kinds != mixes["cheap"]:
                log(f"   (over {SCALE_WARN_MINUTES} min: --workers {default} and --mix cheap would be faster)")
            else:
                log(f"   (over {SCALE_WARN_MINUTES} min already on all cores with the cheap mix; "
                    "the measured time follows)")

    try:
        for variant in variants:
            root = clone_course(template, os.path.join(base, variant), plan)
            log(f"-- {variant}: grading {n} submissions ...")
            if variant == "stock":
                run = run_stock(root, students)
            else:
                run = run_ours(root, students, 1 if variant == "ours-1" else workers)
            for line in run.log:
                log(f"   {line}")
            log(f"   {run.wall:.1f} s wall, {run.per_minute:.2f} submissions/min, {run.cpu:.1f} s CPU"
                + ("; phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.phases.items()) if run.phases else ""))
            result.runs[variant] = run
        _report_runs(result, maxima, catalog(assignment), workers, log)
        if isolation:
            log(f"== isolation: one correct submission per style, {repeats} interleaved repeats "
                "(NbGraderAPI.autograde; ours with an empty execution cache each time)")
            root = os.path.join(base, "isolation")
            clone_course(template, root, [])
            result.isolation = run_isolation(root, tuple(declared.ISOLATION_STYLES), repeats=repeats, log=log)
            _report_isolation(result, log)
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    for ok, text in result.checks:
        log(f"{'PASS' if ok else 'FAIL'}  {text}")
    return result


def _nbgrader_version() -> str:
    import nbgrader
    return nbgrader.__version__


def _report_runs(result: BenchResult, maxima: dict[str, float], mutants: dict, workers: int, log) -> None:
    runs = result.runs
    if not runs:
        return
    log("== results")
    for line in _table(list(runs.values())):
        log(line)
    log("   (stock: max sub s is one whole autograde call; ours: one notebook's execution in the sandbox. "
        "CPU: this process and all descendants)")
    n = len(result.plan)
    stock = runs.get("stock")
    for key, run in runs.items():
        result.checks.append((not run.rows.lost, f"{run.name}: every submission has a row or a failure reason "
                                                 f"({run.rows.describe()})"))
        result.mismatches[key] = expected_mismatches(run, result.plan, maxima, mutants)
        result.checks.append((not result.mismatches[key],
                              f"{run.name}: {n - len(result.mismatches[key])}/{n} submissions scored as their "
                              "kind must be (correct and runaway: full autograded marks; buggy: exactly the "
                              "mutant's cells lost; blank: 0; broken: failed)"))
        for line in result.mismatches[key][:10]:
            log(f"   {run.name}: {line}")
        if stock is not None and run is not stock:
            result.ratios[key] = run.per_minute / stock.per_minute
            result.cpu_ratios[key] = (run.cpu / n) / (stock.cpu / n) if stock.cpu else float("nan")
            result.agreement[key] = [s for s in run.students if not _same_result(run, stock, s)]
            log(f"   {run.name} vs stock nbgrader: throughput {result.ratios[key]:.2f}x, CPU per submission "
                f"{result.cpu_ratios[key]:.2f}x; same result as stock (points, or failed) for "
                f"{n - len(result.agreement[key])}/{n}")
        if key != "stock":
            bound = math.ceil(n / run.workers) * result.limits.submission_timeout
            result.bounds[key] = (bound, run.wall)
            runaway = [s.student for s in result.plan if s.kind.kind == "runaway"]
            slowest = max(runaway, key=lambda s: run.seconds.get(s, 0.0)) if runaway else None
            log(f"   {run.name}: bound ceil({n}/{run.workers})*{result.limits.submission_timeout} s = {bound} s; "
                f"observed {run.wall:.1f} s; max per-submission execution {run.max_seconds:.1f} s"
                + (f" (slowest runaway {slowest}: {run.seconds.get(slowest, 0.0):.1f} s)" if slowest else ""))
            result.checks.append((run.wall <= bound, f"{run.name}: batch time {run.wall:.1f} s <= "
                                                     f"ceil(N/workers)*submission_timeout = {bound} s"))
            result.checks.append((run.max_seconds <= result.limits.submission_timeout,
                                  f"{run.name}: every submission's execution <= submission_timeout "
                                  f"(max {run.max_seconds:.1f} s <= {result.limits.submission_timeout} s)"))
    if stock is not None and "ours-all" in result.ratios:
        ratio = result.ratios["ours-all"]
        result.checks.append((ratio >= THROUGHPUT_TARGET,
                              f"throughput ours ({workers} workers) / stock nbgrader = {ratio:.2f}x "
                              f"(target >= {THROUGHPUT_TARGET:g}x)"))
    if result.estimate_seconds is not None and "ours-all" in runs:
        log(f"   estimate was {result.estimate_seconds / 60:.1f} min; measured {runs['ours-all'].wall / 60:.1f} min")


def _same_result(a: RunResult, b: RunResult, student: str) -> bool:
    """Both failed, or both graded with the same autograded points."""
    if student in a.failures or student in b.failures:
        return student in a.failures and student in b.failures
    return a.totals.get(student) == b.totals.get(student)


def _report_isolation(result: BenchResult, log) -> None:
    iso = result.isolation
    head = f"{'style':<9}{'variant':<9}{'median wall s':>15}{'median CPU s':>14}   all wall s"
    log(head)
    log("-" * len(head))
    for style in iso.styles:
        for variant in ISOLATION_VARIANTS:
            walls = " ".join(f"{m.wall:.2f}" for m in iso.samples[style][variant])
            log(f"{style:<9}{variant:<9}{iso.median(style, variant):>15.2f}"
                f"{iso.median(style, variant, 'cpu'):>14.2f}   {walls}")
    for style in iso.styles:
        bs, bn = iso.ratio(style, "bwrap", "stock"), iso.ratio(style, "bwrap", "none")
        log(f"   {style}: bwrap/stock {bs:.2f}x wall ({iso.ratio(style, 'bwrap', 'stock', 'cpu'):.2f}x CPU), "
            f"bwrap/none {bn:.2f}x wall ({iso.ratio(style, 'bwrap', 'none', 'cpu'):.2f}x CPU), "
            f"none/stock {iso.ratio(style, 'none', 'stock'):.2f}x wall")
        result.checks.append((bs <= ISOLATION_TARGET, f"isolation, {style}: bwrap / stock nbgrader = {bs:.2f}x "
                                                      f"wall (target <= {ISOLATION_TARGET:g}x)"))


def main(assignment: Assignment, n: int = 12, workers: int | None = None, keep: str | None = None,
         isolation: bool = True, repeats: int = 3, scale: bool = False, mix: str | None = None) -> int:
    import warnings

    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)   # nbgrader's ORM chatter on every autograde
    reason = sandbox_ready()
    if reason:
        print(f"cannot benchmark our grading here: {reason}", file=sys.stderr)
        return 2
    result = run_benchmark(assignment, n=n, workers=workers, keep=keep, isolation=isolation and not scale,
                           repeats=repeats, mix=mix or ("cheap" if scale else "default"), scale=scale,
                           log=lambda line: print(line, flush=True))
    return 0 if result.ok else 1
