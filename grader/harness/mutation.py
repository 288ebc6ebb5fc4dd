"""Prove the hidden tests: grade every mutant and every correct alternative.

``python -m grader mutants`` (``make mutants``) builds each mutant of an
assignment's ``samples/mutants.py`` ``CATALOG`` and each correct solution style
as a submission in a *scratch* course (grader.harness.scratch: its own source/,
release/, nbgrader_config.py and gradebook; the instructor's submitted/,
gradebook and cache are never touched), grades them all with the real
pipeline (``batch.grade_batch``: parallel, sandboxed kernel, trusted checks,
nbgrader bookkeeping), and prints

* a kill table: mutant -> graded cells that lost points, declared cells, verdict;
* the kill rate: mutants that lost points on a declared cell / non-equivalent mutants;
* the survivors, with what they change;
* the alternatives table: score / max of every correct style;
* the wall time of the style the assignment times (``TIMED_STYLE`` in its
  ``samples/mutants.py``; graded alone first, so the number is not inflated by
  our own parallel jobs).

The exit code is non-zero when a non-equivalent mutant survives, any mutant
loses points on a cell it does not declare (for an equivalent mutant: on any
cell), or an alternative misses full marks.

:func:`evaluate_in_process` is the same experiment without notebooks or
kernels: the notebook's setup cell and a sample's solution cells are executed
into a plain namespace, and at each graded cell the visible and hidden checks
it names run through a ``LocalStudent`` (tests/grading/test_mutants_fast.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import time
import warnings

import nbformat
from nbgrader import utils

from gradekit.checking import CheckResult, inputs_salt
from gradekit.student import LocalStudent

from ..engine import course
from ..engine.assignment import Assignment
from ..engine.assignment import load as load_assignment
from ..engine.nbgrader_ext.execute import HIDDEN_MARK, check_calls
from . import samples as sample_cells
from .samples import Mutant
from .scratch import scratch_course

TIMING_ATTEMPTS = 3        # the timed submission is re-executed (at most this often) while it is over the bar
# the pipeline's scratch course grades under this course secret, so its hidden inputs, and with them its
# verdicts, are the same from run to run
PIPELINE_SECRET = hashlib.sha256(b"grader.harness.mutation pipeline").digest()
SETUP_CELLS = ("setup",)   # locked code cells the checks need (default; an assignment may name its own)
MUTANT_PREFIX, STYLE_PREFIX = "mut_", "alt_"


def catalog(assignment: Assignment) -> dict[str, Mutant]:
    """The assignment's mutants by name (its ``samples/mutants.py``; none when it has no such module)."""
    if not assignment.has("samples.mutants"):
        return {}
    return {m.name: m for m in assignment.module("samples.mutants").CATALOG}


def _declared(assignment: Assignment, what: str, default):
    return getattr(assignment.module("samples.mutants"), what, default) if assignment.has("samples.mutants") \
        else default


def setup_cells(assignment: Assignment) -> tuple[str, ...]:
    """The grade ids of the locked cells the checks need (``SETUP_CELLS`` in its mutants module)."""
    return tuple(_declared(assignment, "SETUP_CELLS", SETUP_CELLS))


def timed_style(assignment: Assignment) -> tuple[str | None, float]:
    """The style whose autograde is timed alone, and its bar in seconds (``TIMED_STYLE``, ``TIMED_SECONDS_BAR``)."""
    return _declared(assignment, "TIMED_STYLE", None), float(_declared(assignment, "TIMED_SECONDS_BAR", 0.0))


def alternative_styles(assignment: Assignment) -> list[str]:
    """Every correct solution style: the notebook's own ("reference") and each file in samples/styles."""
    return ["reference"] + sample_cells.style_names(assignment.styles_dir)


def source_notebook(assignment: Assignment):
    return nbformat.read(assignment.source_notebook, as_version=4)


def sample_cells_for(assignment: Assignment, kind: str, name: str, source_nb) -> dict[str, str]:
    if kind == "mutant":
        return catalog(assignment)[name].cells(source_nb)
    return sample_cells.read_style(assignment.styles_dir, name, source_nb)


# ------------------------------------------------------------------ verdicts
@dataclasses.dataclass
class Verdict:
    mutant: Mutant
    lost: tuple[str, ...]           # graded cells that lost points
    status: str = ""                # the grading outcome's status, or cell errors (in process)
    visible_lost: tuple[str, ...] | None = None   # cells where a *visible* check failed (None: unknown)

    @property
    def declared(self) -> tuple[str, ...]:
        return self.mutant.fails

    @property
    def undeclared(self) -> tuple[str, ...]:
        return tuple(c for c in self.lost if c not in self.mutant.fails)

    @property
    def killed(self) -> bool:
        """Lost points on at least one declared cell."""
        return any(c in self.mutant.fails for c in self.lost)

    @property
    def ok(self) -> bool:
        if self.mutant.equivalent:
            return not self.lost
        return self.killed and not self.undeclared

    @property
    def hidden_only(self) -> bool:
        """Killed, and every visible check passed: only the hidden checks catch it."""
        return self.killed and self.visible_lost is not None and not self.visible_lost

    @property
    def verdict(self) -> str:
        if self.mutant.equivalent:
            return "equivalent" if not self.lost else "EQUIVALENT BUT LOST POINTS"
        if not self.lost:
            return "SURVIVED"
        if self.undeclared:
            return "LOST POINTS ON UNDECLARED CELLS" + (" (killed)" if self.killed else "")
        return "killed"


@dataclasses.dataclass
class AlternativeResult:
    style: str
    score: float
    max_score: float
    lost: tuple[str, ...]
    status: str = "graded"
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return not self.lost and self.score >= self.max_score and self.status == "graded"


def kill_rate(verdicts: list[Verdict]) -> tuple[int, int]:
    live = [v for v in verdicts if not v.mutant.equivalent]
    return sum(v.killed for v in live), len(live)


# ------------------------------------------------------------- in process
def notebook_plan(source_nb, setup_cells: tuple[str, ...] = SETUP_CELLS) -> list[tuple[str, str, object]]:
    """The notebook's code cells as steps: ("setup", id, source), ("solution", id, None), ("grade", id, calls)."""
    steps = []
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if utils.is_solution(cell):
            steps.append(("solution", grade_id, None))
        elif utils.is_grade(cell):
            steps.append(("grade", grade_id, check_calls(cell.source)))  # the executor's own parser
        elif grade_id in setup_cells:
            steps.append(("setup", grade_id, cell.source))
    return steps


def use_shipped_packages(assignment: Assignment) -> None:
    """Make this process import the packages the assignment ships from its source folder, as its notebook does.

    Another assignment's packages of the same names (each assignment ships its own ``tinytorch``)
    are dropped from ``sys.modules`` first.
    """
    here = assignment.source_dir
    for package in assignment.shipped():
        if package == "gradekit":
            continue  # the engine's own in-kernel half: one copy serves every assignment
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if not origin.startswith(here + os.sep):
                del sys.modules[name]
    if here in sys.path:
        sys.path.remove(here)
    sys.path.insert(0, here)


def evaluate_in_process(assignment: Assignment, sample: dict[str, str], source_nb=None,
                        namespace: dict | None = None) -> dict[str, list]:
    """graded cell -> [(hidden, CheckResult), ...] for one sample's solution cells, without a kernel.

    Cells run in notebook order into one namespace (``namespace``: this one, which the caller may
    have filled and reads afterwards); each graded cell's checks run at its place in the notebook,
    as in the real pipeline.  A solution cell that raises is reported under the pseudo cell
    ``"<cell>:error"`` and execution goes on (a notebook does the same).
    """
    use_shipped_packages(assignment)
    source_nb = source_nb if source_nb is not None else source_notebook(assignment)
    setup = setup_cells(assignment)
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    student = LocalStudent(namespace)
    results: dict[str, list] = {}
    for kind, grade_id, payload in notebook_plan(source_nb, setup):
        if kind in ("setup", "solution"):
            code = payload if kind == "setup" else sample.get(grade_id)
            if code is None:
                continue
            try:
                exec(compile(code, f"<cell {grade_id}>", "exec"), namespace)  # noqa: S102 - trusted samples
            except Exception as exc:  # noqa: BLE001 - a broken cell is part of what is measured
                results[f"{grade_id}:error"] = [(False, CheckResult(grade_id, "exec", "cell runs", False,
                                                                    f"{type(exc).__name__}: {exc}"))]
            continue
        group_results = []
        for group, hidden in payload:
            registry = assignment.registry(hidden)
            group_results.extend((hidden, r) for r in registry.run(group, student))
        results[grade_id] = group_results
    return results


def lost_cells(results: dict[str, list], visible_only: bool = False) -> tuple[str, ...]:
    """Graded cells with at least one failed check (what nbgrader would score 0)."""
    return tuple(cell for cell, rs in results.items()
                 if not cell.endswith(":error") and any(not r.passed and not (visible_only and hidden)
                                                        for hidden, r in rs))


def first_failures(results: dict[str, list]) -> dict[str, str]:
    out = {}
    for cell, rs in results.items():
        for hidden, r in rs:
            if not r.passed:
                out[cell] = ("(hidden) " if hidden else "") + f"{r.name}: {r.message}"
                break
    return out


@dataclasses.dataclass
class InProcessOutcome:
    kind: str                       # "mutant" | "alternative"
    name: str
    lost: tuple[str, ...]           # graded cells with a failed check
    visible_lost: tuple[str, ...]   # graded cells with a failed visible check
    errors: tuple[str, ...]         # solution cells that raised when executed
    failures: dict[str, str]        # graded cell -> first failure message
    seconds: float


def _evaluate_task(task: tuple[str, str, str, str, bytes | None]) -> InProcessOutcome:
    kind, name, root, assignment_name, salt = task
    warnings.simplefilter("ignore", RuntimeWarning)   # numpy's overflow warnings from buggy samples: expected
    start = time.perf_counter()
    assignment = load_assignment(root, assignment_name)
    source_nb = source_notebook(assignment)
    with inputs_salt(salt):
        results = evaluate_in_process(assignment, sample_cells_for(assignment, kind, name, source_nb), source_nb)
    errors = tuple(c[:-len(":error")] for c in results if c.endswith(":error"))
    return InProcessOutcome(kind, name, lost_cells(results), lost_cells(results, visible_only=True), errors,
                            first_failures(results),
                            time.perf_counter() - start)


def evaluate_all_in_process(assignment: Assignment, mutants: list[str] | None = None,
                            styles: list[str] | None = None, workers: int | None = None,
                            salt: bytes | None = None) -> list[InProcessOutcome]:
    """Every sample through :func:`evaluate_in_process`, in a fork pool of ``workers`` processes; the hidden
    checks draw their inputs under ``salt`` (None: name-only, the inputs of the catalog's declarations)."""
    import concurrent.futures
    import multiprocessing

    known = catalog(assignment)
    mutants = list(known) if mutants is None else list(mutants)
    styles = alternative_styles(assignment) if styles is None else list(styles)
    tasks = ([("alternative", s, assignment.root, assignment.name, salt) for s in styles] +
             [("mutant", m, assignment.root, assignment.name, salt) for m in mutants])
    # the samples of the timed style are the slow ones: start them first
    slow, _ = timed_style(assignment)
    tasks.sort(key=lambda t: (t[0] == "mutant" and known[t[1]].style != slow) or
               (t[0] == "alternative" and t[1] != slow))
    workers = workers or os.cpu_count() or 1   # CPU-bound processes, no kernels waiting: one per core
    if workers <= 1 or len(tasks) <= 1:
        outcomes = [_evaluate_task(t) for t in tasks]
    else:
        assignment.registry(hidden=True)   # import the checks and the reference once, before forking
        use_shipped_packages(assignment)
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            outcomes = list(pool.map(_evaluate_task, tasks))
    order = {(k, n): i for i, (k, n) in enumerate(
        [("alternative", s) for s in styles] + [("mutant", m) for m in mutants])}
    return sorted(outcomes, key=lambda o: order[o.kind, o.name])


def representative_mutants(outcomes: list[InProcessOutcome], mutants: dict[str, Mutant],
                           slow_style: str | None = None) -> list[str]:
    """Mutants whose pipeline verdicts stand for the in-process matrix, in catalog order.

    Every equivalent mutant and, for each graded cell, a mutant the visible checks catch on it and
    a mutant only the hidden checks catch on it (where the catalog has such mutants): each way a
    cell can be scored in a notebook is seen end to end.  One mutant often stands for several
    (cell, way) pairs, so the pairs are covered greedily: the mutant covering most pairs not yet
    covered first; among equals, mutants of a style other than ``slow_style`` (cheaper to execute),
    then catalog order.
    """
    by_name = {o.name: o for o in outcomes if o.kind == "mutant" and o.name in mutants}
    order = {n: i for i, n in enumerate(mutants)}

    # (cell, caught only by hidden checks) for each cell a mutant loses
    ways = {n: {(cell, cell not in o.visible_lost) for cell in o.lost} for n, o in by_name.items()}
    chosen = [n for n in by_name if mutants[n].equivalent]
    wanted = set().union(*ways.values())
    covered: set[tuple[str, bool]] = set()
    while covered != wanted:
        best = max(by_name, key=lambda n: (len(ways[n] - covered), mutants[n].style != slow_style, -order[n]))
        chosen.append(best)
        covered |= ways[best]
    return sorted(chosen, key=order.__getitem__)


def disagreements(report: PipelineReport, outcomes: dict) -> dict[str, tuple]:
    """Mutants whose pipeline verdict differs from the in-process one: name -> (pipeline, in process,
    the pipeline's failure messages).  ``outcomes``: (kind, name) -> InProcessOutcome.  A verdict is the
    grading status, the cells that lost points and the cells where a visible check failed."""
    differ = {}
    for v in report.verdicts:
        expected = outcomes["mutant", v.mutant.name]
        got = (v.status, set(v.lost), set(v.visible_lost or ()))
        want = ("graded", set(expected.lost), set(expected.visible_lost))
        if got != want:
            differ[v.mutant.name] = (got, want, report.failures.get(student_id("mutant", v.mutant.name)))
    return differ


def run_in_process(assignment: Assignment, mutants: list[str] | None = None, styles: list[str] | None = None,
                   workers: int | None = None):
    """(verdicts, alternatives, failures) from the in-process matrix; failures: student id -> cell -> message."""
    source_nb = source_notebook(assignment)
    graded = [gid for kind, gid, _ in notebook_plan(source_nb) if kind == "grade"]
    known = catalog(assignment)
    verdicts, alternatives, failures = [], [], {}
    for o in evaluate_all_in_process(assignment, mutants, styles, workers):
        failures[student_id(o.kind, o.name)] = o.failures
        if o.kind == "mutant":
            verdicts.append(Verdict(known[o.name], o.lost, "cell error: " + ", ".join(o.errors) if o.errors else "",
                                    o.visible_lost))
        else:
            alternatives.append(AlternativeResult(o.name, float(len(graded) - len(o.lost)), float(len(graded)),
                                                  o.lost,
                                                  "graded" if not o.errors else "cell error: " + ", ".join(o.errors),
                                                  o.seconds))
    return verdicts, alternatives, failures


# ------------------------------------------------------------- pipeline
def student_id(kind: str, name: str) -> str:
    return (MUTANT_PREFIX if kind == "mutant" else STYLE_PREFIX) + name


def write_samples(assignment: Assignment, mutants: list[str], styles: list[str]) -> dict[str, tuple[str, str]]:
    """Write every sample under the assignment's course's submitted/; returns student id -> (kind, name)."""
    root, name_ = assignment.root, assignment.name
    release_dir = os.path.join(root, "release", name_)
    release_nb = nbformat.read(os.path.join(release_dir, f"{name_}.ipynb"), as_version=4)
    source_nb = source_notebook(assignment)
    written = {}
    for kind, names in (("alternative", styles), ("mutant", mutants)):
        for name in names:
            student = student_id(kind, name)
            nb = sample_cells.build_notebook(release_nb, sample_cells_for(assignment, kind, name, source_nb))
            sample_cells.write_submission(root, name_, student, nb, release_dir)
            written[student] = (kind, name)
    return written


@dataclasses.dataclass
class PipelineReport:
    root: str
    verdicts: list[Verdict]
    alternatives: list[AlternativeResult]
    timed_seconds: float | None     # best of the timing attempts: wall time of its whole autograde
    wall_seconds: float
    maxima: dict[str, float]
    failures: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # student -> cell -> message
    timed_attempts: list[float] = dataclasses.field(default_factory=list)
    load: tuple[float, float, float] | None = None  # os.getloadavg() when the timing ended
    timed_style: str | None = None
    timed_bar: float = 0.0

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts) and all(a.ok for a in self.alternatives)


def _cell_reports(root: str, assignment: str, student: str) -> tuple[dict[str, str], tuple[str, ...] | None]:
    """From the autograded notebook: graded cell -> its error message, and the cells where a visible
    check failed (the executor marks hidden checks "(hidden)" in its [PASS]/[FAIL] listing)."""
    path = os.path.join(root, "autograded", student, assignment, f"{assignment}.ipynb")
    errors: dict[str, str] = {}
    if not os.path.exists(path):
        return errors, None
    visible_failed = []
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            grade_id = cell.metadata.nbgrader["grade_id"]
            for o in cell.get("outputs", []):
                if o.get("output_type") == "error" and grade_id not in errors:
                    errors[grade_id] = str(o.get("evalue", ""))[:300]
                if o.get("output_type") == "stream" and any(
                        line.startswith("[FAIL] ") and not line.startswith("[FAIL] " + HIDDEN_MARK)
                        for line in str(o.get("text", "")).splitlines()):
                    visible_failed.append(grade_id)
    return errors, tuple(dict.fromkeys(visible_failed))


def run_pipeline(assignment: Assignment, mutants: list[str] | None = None, styles: list[str] | None = None,
                 workers: int | None = None, root: str | None = None, keep: bool = False, progress: bool = True,
                 log=print, timed: bool = True) -> PipelineReport:
    """Grade the given mutants and styles (default: all) of ``assignment`` in a scratch course with the real
    pipeline (``root``: build the scratch course there).  With ``timed``, the assignment's timed style is
    autograded alone first and its wall time reported; otherwise it is graded with the others."""
    from ..engine import batch

    known = catalog(assignment)
    mutants = list(known) if mutants is None else list(mutants)
    styles = alternative_styles(assignment) if styles is None else list(styles)
    unknown = [m for m in mutants if m not in known] + [s for s in styles if s not in alternative_styles(assignment)]
    if unknown:
        raise KeyError(f"unknown mutants/styles: {unknown}")
    started = time.monotonic()
    name_ = assignment.name
    scratch = scratch_course(root, [name_], repo=assignment.root, release=True, secret=PIPELINE_SECRET)
    try:
        log(f"scratch course: {scratch}")
        written = write_samples(load_assignment(scratch, name_), mutants, styles)
        outcomes = {}
        slow_style, bar = timed_style(assignment)
        loops = student_id("alternative", slow_style) if slow_style and timed else None
        attempts, load = [], None
        if loops in written:
            # Graded alone, so our own parallel jobs do not slow it down. The machine may be busy with
            # other work: while it is over the bar, execute it again (the execution cache of the scratch
            # course is emptied first, or nothing would run) and keep the best time.
            for attempt in range(TIMING_ATTEMPTS):
                if attempt:
                    shutil.rmtree(batch.Paths(scratch, name_).cache, ignore_errors=True)
                log(f"grading {loops} alone (timing, attempt {attempt + 1})")
                t0 = time.monotonic()   # the whole autograde: preflight, sandboxed execution, nbgrader recording
                for o in batch.grade_batch(name_, scratch, students=[loops], workers=1, force=True,
                                           progress=progress, log=log):
                    outcomes[o.student] = o
                attempts.append(time.monotonic() - t0)
                load = os.getloadavg()
                if outcomes[loops].status != "graded" or attempts[-1] <= bar:
                    break
        rest = [s for s in written if s != loops]
        if rest:
            log(f"grading {len(rest)} samples")
            for o in batch.grade_batch(name_, scratch, students=rest, workers=workers, progress=progress, log=log):
                outcomes[o.student] = o
        scores = course.cell_scores(name_, scratch)
        maxima = course.autograded_maxima(name_, scratch)
        verdicts, alternatives, failures = [], [], {}
        for student, (kind, name) in written.items():
            score, lost = course.autograded_points(scores.get(student, {}), maxima)
            outcome = outcomes.get(student)
            status = outcome.status if outcome else "not graded"
            errors, visible_lost = _cell_reports(scratch, name_, student)
            if lost:
                failures[student] = errors
            if kind == "mutant":
                verdicts.append(Verdict(known[name], lost, status, visible_lost))
            else:
                alternatives.append(AlternativeResult(name, score, sum(maxima.values()), lost, status,
                                                      outcome.seconds if outcome else None))
        order = {n: i for i, n in enumerate(mutants)}
        verdicts.sort(key=lambda v: order[v.mutant.name])
        timed_seconds = min(attempts) if attempts else None
        return PipelineReport(scratch, verdicts, alternatives, timed_seconds, time.monotonic() - started,
                              maxima, failures, attempts, load, slow_style, bar)
    finally:
        if not keep and root is None:
            shutil.rmtree(scratch, ignore_errors=True)


# ------------------------------------------------------------- report
def _short(cell: str) -> str:
    return cell.removeprefix("test_").replace("_forward", "_fwd").replace("_backward", "_bwd")


def kill_table(verdicts: list[Verdict]) -> str:
    rows = []
    for v in verdicts:
        m = v.mutant
        lost = ", ".join(_short(c) for c in v.lost) or "-"
        declared = ("(none: equivalent)" if m.equivalent else
                    "= lost" if set(m.fails) == set(v.lost) else ", ".join(_short(c) for c in m.fails))
        caught = ("-" if not v.lost or v.visible_lost is None else
                  "hidden only" if not v.visible_lost else "visible+hidden")
        rows.append((m.name, f"{m.style}/{m.cell}", lost, declared, caught, v.verdict))
    head = ("mutant", "base/cell", "cells that lost points", "declared", "caught by", "verdict")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  " + head[5]]
    lines.append("-" * len(lines[0]))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5] for r in rows]
    return "\n".join(lines)


def alternatives_table(alternatives: list[AlternativeResult]) -> str:
    lines = [f"{'style':<12} {'score':>9}  {'seconds':>7}  status", "-" * 48]
    for a in alternatives:
        secs = "-" if a.seconds is None else f"{a.seconds:.1f}"
        note = "" if a.ok else "  NOT FULL MARKS: lost " + ", ".join(a.lost)
        lines.append(f"{a.style:<12} {a.score:>4g}/{a.max_score:<4g}  {secs:>7}  {a.status}{note}")
    return "\n".join(lines)


def summary(verdicts: list[Verdict], alternatives: list[AlternativeResult], failures: dict | None = None,
            report: PipelineReport | None = None) -> str:
    killed, live = kill_rate(verdicts)
    equivalent = [v for v in verdicts if v.mutant.equivalent]
    lines = ["== kill table", kill_table(verdicts), ""]
    rate = f"{100.0 * killed / live:.1f}%" if live else "n/a"
    lines.append(f"kill rate: {killed}/{live} = {rate} of the non-equivalent mutants lost points on a declared cell "
                 f"({len(equivalent)} equivalent mutants not counted)")
    hidden_only = [v for v in verdicts if v.hidden_only]
    if any(v.visible_lost is not None for v in verdicts):
        lines.append(f"caught only by the hidden checks (every visible check passes): {len(hidden_only)} of {killed}"
                     + (": " + ", ".join(v.mutant.name for v in hidden_only) if hidden_only else ""))
    for v in equivalent:
        lines.append(f"  equivalent: {v.mutant.name}: {v.mutant.equivalent}"
                     + ("" if v.ok else f" -- BUT IT LOST POINTS ON {', '.join(v.lost)}"))
    survivors = [v for v in verdicts if not v.mutant.equivalent and not v.lost]
    lines.append("survivors: " + ("none" if not survivors else ""))
    for v in survivors:
        lines.append(f"  {v.mutant.name} ({v.mutant.style}/{v.mutant.cell}): {v.mutant.about}")
    stray = [v for v in verdicts if v.undeclared and not v.mutant.equivalent]
    if stray:
        lines.append("lost points on undeclared cells:")
        for v in stray:
            lines.append(f"  {v.mutant.name}: {', '.join(v.undeclared)}")
            msgs = (failures or {}).get(student_id("mutant", v.mutant.name), {})
            for cell in v.undeclared:
                if cell in msgs:
                    lines.append(f"      {cell}: {msgs[cell][:200]}")
    lines += ["", "== alternatives (correct solutions)", alternatives_table(alternatives)]
    for a in alternatives:
        msgs = (failures or {}).get(student_id("alternative", a.style), {})
        for cell in a.lost:
            if cell in msgs:
                lines.append(f"  {a.style} {cell}: {msgs[cell][:300]}")
    if report is not None and report.timed_seconds is not None:
        seconds, bar = report.timed_seconds, report.timed_bar
        verdict = "OK" if seconds <= bar else "OVER THE BAR"
        lines += ["", f"timing: the '{report.timed_style}' submission was autograded in {seconds:.1f} s "
                      f"(preflight, sandboxed execution and nbgrader recording, graded alone; bar "
                      f"{bar:g} s): {verdict}"]
        if len(report.timed_attempts) > 1:
            lines.append("        attempts: " + ", ".join(f"{a:.1f} s" for a in report.timed_attempts)
                         + " (best counts)")
        if report.load:
            load = report.load
            lines.append(f"        load average when timed: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
                         f"on {os.cpu_count()} cores")
    return "\n".join(lines)


def main(assignments: list[Assignment], workers: int | None = None, only: list[str] | None = None,
         styles: list[str] | None = None, keep: str | None = None, in_process: bool = False) -> int:
    ok = True
    for assignment in assignments:
        print(f"==== {assignment.name}: {assignment.title}")
        if in_process:
            t0 = time.monotonic()
            verdicts, alternatives, failures = run_in_process(assignment, only, styles, workers=workers)
            print(summary(verdicts, alternatives, failures))
            print(f"\n(in process, no notebooks: {time.monotonic() - t0:.1f} s)")
            ok &= all(v.ok for v in verdicts) and all(a.ok for a in alternatives)
            continue
        dest = os.path.join(keep, assignment.name) if keep else None
        report = run_pipeline(assignment, only, styles, workers=workers, root=dest, keep=keep is not None)
        print(summary(report.verdicts, report.alternatives, report.failures, report))
        print(f"\n{len(report.verdicts)} mutants and {len(report.alternatives)} alternatives graded with the real "
              f"pipeline in {report.wall_seconds:.0f} s" + (f"; scratch course kept in {report.root}" if keep else ""))
        if report.timed_seconds is not None and report.timed_seconds > report.timed_bar:
            print(f"warning: the {report.timed_style} submission took {report.timed_seconds:.1f} s "
                  f"(> {report.timed_bar:g} s)")
        ok &= report.ok
    return 0 if ok else 1
