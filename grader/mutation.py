"""Prove the hidden tests: grade every mutant and every correct alternative.

``python -m grader mutants`` (``make mutants``) builds each mutant of
``grader.samples.mutants.CATALOG`` and each correct solution style as a
submission in a *scratch* course (a temporary directory with its own source/,
release/, nbgrader_config.py and gradebook; the instructor's submitted/,
gradebook and cache are never touched), grades them all with the real
pipeline (``batch.grade_batch``: parallel, sandboxed kernel, trusted checks,
nbgrader bookkeeping), and prints

* a kill table: mutant -> graded cells that lost points, declared cells, verdict;
* the kill rate: mutants that lost points on a declared cell / non-equivalent mutants;
* the survivors, with what they change;
* the alternatives table: score / max of every correct style;
* the wall time of the explicit-loop style's execution (graded alone first, so
  the number is not inflated by our own parallel jobs).

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
import os
import shutil
import sys
import tempfile
import time

import nbformat
from nbgrader import utils

from . import course
from .samples import cells as sample_cells
from .samples.mutants import BY_NAME, CATALOG, Mutant

ASSIGNMENT = course.ASSIGNMENT
LOOPS_STYLE = "loops"
LOOPS_SECONDS_BAR = 15.0
TIMING_ATTEMPTS = 3        # the loops submission is re-executed (at most this often) while it is over the bar
SETUP_CELLS = ("setup",)   # locked code cells the checks need; the demo cells (feature_maps, timing) are skipped
MUTANT_PREFIX, STYLE_PREFIX = "mut_", "alt_"


def alternative_styles() -> list[str]:
    """Every correct solution style: the notebook's own ("reference") and each file in samples/styles."""
    return ["reference"] + sample_cells.style_names()


def source_notebook(root: str = course.ROOT):
    return nbformat.read(os.path.join(root, "source", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), as_version=4)


def sample_cells_for(kind: str, name: str, source_nb) -> dict[str, str]:
    if kind == "mutant":
        return BY_NAME[name].cells(source_nb)
    return sample_cells.read_style(name, source_nb)


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
def _check_calls(source: str):
    from .nbgrader_ext.execute import check_calls  # the executor's own parser of test cells
    return check_calls(source)


def notebook_plan(source_nb) -> list[tuple[str, str, object]]:
    """The notebook's code cells as steps: ("setup", id, source), ("solution", id, None), ("grade", id, calls)."""
    steps = []
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if utils.is_solution(cell):
            steps.append(("solution", grade_id, None))
        elif utils.is_grade(cell):
            steps.append(("grade", grade_id, _check_calls(cell.source)))
        elif grade_id in SETUP_CELLS:
            steps.append(("setup", grade_id, cell.source))
    return steps


def _ensure_notebook_imports(root: str) -> None:
    """``tinytorch`` and ``spatial_checks`` live next to the notebook (symlinked packages)."""
    here = os.path.join(root, "source", ASSIGNMENT)
    if here not in sys.path:
        sys.path.insert(0, here)


def evaluate_in_process(sample: dict[str, str], source_nb=None, root: str = course.ROOT) -> dict[str, list]:
    """graded cell -> [(hidden, CheckResult), ...] for one sample's solution cells, without a kernel.

    Cells run in notebook order into one namespace; each graded cell's checks run
    at its place in the notebook, as in the real pipeline.  A solution cell that
    raises is reported under the pseudo cell ``"<cell>:error"`` and execution
    goes on (a notebook does the same).
    """
    from .hidden_checks import REGISTRY as HIDDEN
    from .public.checking import CheckResult
    from .public.student import LocalStudent
    from .public.visible_checks import REGISTRY as VISIBLE

    _ensure_notebook_imports(root)
    source_nb = source_nb if source_nb is not None else source_notebook(root)
    namespace: dict = {"__name__": "__main__"}
    student = LocalStudent(namespace)
    results: dict[str, list] = {}
    for kind, grade_id, payload in notebook_plan(source_nb):
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
            registry = HIDDEN if hidden else VISIBLE
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


def _evaluate_task(task: tuple[str, str, str]) -> InProcessOutcome:
    kind, name, root = task
    start = time.perf_counter()
    source_nb = source_notebook(root)
    results = evaluate_in_process(sample_cells_for(kind, name, source_nb), source_nb, root)
    errors = tuple(c[:-len(":error")] for c in results if c.endswith(":error"))
    return InProcessOutcome(kind, name, lost_cells(results), lost_cells(results, visible_only=True), errors,
                            first_failures(results),
                            time.perf_counter() - start)


def evaluate_all_in_process(mutants: list[str] | None = None, styles: list[str] | None = None,
                            root: str = course.ROOT, workers: int | None = None) -> list[InProcessOutcome]:
    """Every sample through :func:`evaluate_in_process`, in a fork pool of ``workers`` processes."""
    import concurrent.futures
    import multiprocessing

    mutants = [m.name for m in CATALOG] if mutants is None else list(mutants)
    styles = alternative_styles() if styles is None else list(styles)
    tasks = [("alternative", s, root) for s in styles] + [("mutant", m, root) for m in mutants]
    # the explicit-loop samples are the slow ones: start them first
    tasks.sort(key=lambda t: (t[0] == "mutant" and BY_NAME[t[1]].style != LOOPS_STYLE) or
               (t[0] == "alternative" and t[1] != LOOPS_STYLE))
    workers = workers or os.cpu_count() or 1   # CPU-bound processes, no kernels waiting: one per core
    if workers <= 1 or len(tasks) <= 1:
        outcomes = [_evaluate_task(t) for t in tasks]
    else:
        from . import hidden_checks  # noqa: F401 - import once, before forking
        _ensure_notebook_imports(root)
        __import__("tinytorch")
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            outcomes = list(pool.map(_evaluate_task, tasks))
    order = {(k, n): i for i, (k, n, _) in enumerate(
        [("alternative", s, "") for s in styles] + [("mutant", m, "") for m in mutants])}
    return sorted(outcomes, key=lambda o: order[o.kind, o.name])


def run_in_process(mutants: list[str] | None = None, styles: list[str] | None = None,
                   root: str = course.ROOT, workers: int | None = None):
    """(verdicts, alternatives, failures) from the in-process matrix; failures: student id -> cell -> message."""
    source_nb = source_notebook(root)
    graded = [gid for kind, gid, _ in notebook_plan(source_nb) if kind == "grade"]
    verdicts, alternatives, failures = [], [], {}
    for o in evaluate_all_in_process(mutants, styles, root, workers):
        failures[student_id(o.kind, o.name)] = o.failures
        if o.kind == "mutant":
            verdicts.append(Verdict(BY_NAME[o.name], o.lost, "cell error: " + ", ".join(o.errors) if o.errors else "",
                                    o.visible_lost))
        else:
            alternatives.append(AlternativeResult(o.name, float(len(graded) - len(o.lost)), float(len(graded)),
                                                  o.lost, "graded" if not o.errors else "cell error: " + ", ".join(o.errors),
                                                  o.seconds))
    return verdicts, alternatives, failures


# ------------------------------------------------------------- pipeline
def make_scratch_course(dest: str | None = None, repo: str = course.ROOT) -> str:
    """A throw-away course: copies of source/<assignment> (symlinks resolved) and nbgrader_config.py
    whose gradebook is forced into the copy, then a fresh release. Nothing under ``repo`` changes."""
    root = os.path.abspath(dest) if dest else tempfile.mkdtemp(prefix="mutants-")
    os.makedirs(root, exist_ok=True)
    src = os.path.join(root, "source", ASSIGNMENT)
    if os.path.exists(src):
        shutil.rmtree(src)
    shutil.copytree(os.path.join(repo, "source", ASSIGNMENT), src, symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    with open(os.path.join(repo, "nbgrader_config.py"), encoding="utf-8") as fh:
        config = fh.read()
    config += ("\n\n# Scratch course (grader.mutation): the gradebook always lives here, whatever\n"
               "# NBGRADER_DB_URL says, so mutation runs never write to a shared gradebook.\n"
               "c.CourseDirectory.db_url = f\"sqlite:///{os.path.join(ROOT, 'gradebook.db')}\"\n")
    with open(os.path.join(root, "nbgrader_config.py"), "w", encoding="utf-8") as fh:
        fh.write(config)
    course.release(root)
    return root


def student_id(kind: str, name: str) -> str:
    return (MUTANT_PREFIX if kind == "mutant" else STYLE_PREFIX) + name


def write_samples(root: str, mutants: list[str], styles: list[str]) -> dict[str, tuple[str, str]]:
    """Write every sample under root/submitted/; returns student id -> (kind, name)."""
    release_dir = os.path.join(root, "release", ASSIGNMENT)
    release_nb = nbformat.read(os.path.join(release_dir, f"{ASSIGNMENT}.ipynb"), as_version=4)
    source_nb = source_notebook(root)
    written = {}
    for kind, names in (("alternative", styles), ("mutant", mutants)):
        for name in names:
            student = student_id(kind, name)
            nb = sample_cells.build_notebook(release_nb, sample_cells_for(kind, name, source_nb))
            sample_cells.write_submission(root, ASSIGNMENT, student, nb, release_dir)
            written[student] = (kind, name)
    return written


@dataclasses.dataclass
class PipelineReport:
    root: str
    verdicts: list[Verdict]
    alternatives: list[AlternativeResult]
    loops_seconds: float | None     # best of the timing attempts: wall time of its whole autograde
    wall_seconds: float
    maxima: dict[str, float]
    failures: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # student -> cell -> message
    loops_attempts: list[float] = dataclasses.field(default_factory=list)
    load: tuple[float, float, float] | None = None  # os.getloadavg() when the loops timing ended

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts) and all(a.ok for a in self.alternatives)


def _cell_reports(root: str, student: str) -> tuple[dict[str, str], tuple[str, ...] | None]:
    """From the autograded notebook: graded cell -> its error message, and the cells where a visible
    check failed (the executor marks hidden checks "(hidden)" in its [PASS]/[FAIL] listing)."""
    from .nbgrader_ext.execute import HIDDEN_MARK

    path = os.path.join(root, "autograded", student, ASSIGNMENT, f"{ASSIGNMENT}.ipynb")
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


def run_pipeline(mutants: list[str] | None = None, styles: list[str] | None = None, workers: int | None = None,
                 root: str | None = None, keep: bool = False, progress: bool = True, log=print) -> PipelineReport:
    """Grade the given mutants and styles (default: all) in a scratch course with the real pipeline."""
    from . import batch

    mutants = [m.name for m in CATALOG] if mutants is None else list(mutants)
    styles = alternative_styles() if styles is None else list(styles)
    unknown = [m for m in mutants if m not in BY_NAME] + [s for s in styles if s not in alternative_styles()]
    if unknown:
        raise KeyError(f"unknown mutants/styles: {unknown}")
    started = time.monotonic()
    scratch = make_scratch_course(root)
    try:
        log(f"scratch course: {scratch}")
        written = write_samples(scratch, mutants, styles)
        outcomes = {}
        loops = student_id("alternative", LOOPS_STYLE)
        attempts, load = [], None
        if loops in written:
            # Graded alone, so our own parallel jobs do not slow it down. The machine may be busy with
            # other work: while it is over the bar, execute it again (the execution cache of the scratch
            # course is emptied first, or nothing would run) and keep the best time.
            for attempt in range(TIMING_ATTEMPTS):
                if attempt:
                    shutil.rmtree(batch.Paths(scratch).cache, ignore_errors=True)
                log(f"grading {loops} alone (timing of an explicit-loop submission, attempt {attempt + 1})")
                t0 = time.monotonic()   # the whole autograde: preflight, sandboxed execution, nbgrader recording
                for o in batch.grade_batch(scratch, students=[loops], workers=1, force=True, progress=progress,
                                           log=log):
                    outcomes[o.student] = o
                attempts.append(time.monotonic() - t0)
                load = os.getloadavg()
                if outcomes[loops].status != "graded" or attempts[-1] <= LOOPS_SECONDS_BAR:
                    break
        rest = [s for s in written if s != loops]
        if rest:
            log(f"grading {len(rest)} samples")
            for o in batch.grade_batch(scratch, students=rest, workers=workers, progress=progress, log=log):
                outcomes[o.student] = o
        scores = course.cell_scores(scratch)
        maxima = course.autograded_maxima(scratch)
        verdicts, alternatives, failures = [], [], {}
        for student, (kind, name) in written.items():
            score, lost = course.autograded_points(scores.get(student, {}), maxima)
            outcome = outcomes.get(student)
            status = outcome.status if outcome else "not graded"
            errors, visible_lost = _cell_reports(scratch, student)
            if lost:
                failures[student] = errors
            if kind == "mutant":
                verdicts.append(Verdict(BY_NAME[name], lost, status, visible_lost))
            else:
                alternatives.append(AlternativeResult(name, score, sum(maxima.values()), lost, status,
                                                      outcome.seconds if outcome else None))
        order = {n: i for i, n in enumerate(mutants)}
        verdicts.sort(key=lambda v: order[v.mutant.name])
        loops_seconds = min(attempts) if attempts else None
        return PipelineReport(scratch, verdicts, alternatives, loops_seconds, time.monotonic() - started,
                              maxima, failures, attempts, load)
    finally:
        if not keep and root is None:
            shutil.rmtree(scratch, ignore_errors=True)


# ------------------------------------------------------------- report
def _short(cell: str) -> str:
    return (cell.replace("test_", "").replace("simplecnn", "cnn").replace("_forward", "_fwd")
            .replace("_backward", "_bwd").replace("output_size", "outsize").replace("receptive_field", "rf"))


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


def summary(verdicts: list[Verdict], alternatives: list[AlternativeResult], loops_seconds: float | None = None,
            failures: dict | None = None, attempts: list[float] | None = None, load=None) -> str:
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
    if loops_seconds is not None:
        verdict = "OK" if loops_seconds <= LOOPS_SECONDS_BAR else "OVER THE BAR"
        lines += ["", f"timing: the '{LOOPS_STYLE}' submission (explicit loops) was autograded in {loops_seconds:.1f} s "
                      f"(preflight, sandboxed execution and nbgrader recording, graded alone; bar "
                      f"{LOOPS_SECONDS_BAR:g} s): {verdict}"]
        if attempts and len(attempts) > 1:
            lines.append("        attempts: " + ", ".join(f"{a:.1f} s" for a in attempts) + " (best counts)")
        if load:
            lines.append(f"        load average when timed: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
                         f"on {os.cpu_count()} cores")
    return "\n".join(lines)


def main(workers: int | None = None, only: list[str] | None = None, styles: list[str] | None = None,
         keep: str | None = None, in_process: bool = False) -> int:
    if in_process:
        t0 = time.monotonic()
        verdicts, alternatives, failures = run_in_process(only, styles, workers=workers)
        print(summary(verdicts, alternatives, failures=failures))
        print(f"\n(in process, no notebooks: {time.monotonic() - t0:.1f} s)")
        ok = all(v.ok for v in verdicts) and all(a.ok for a in alternatives)
        return 0 if ok else 1
    report = run_pipeline(only, styles, workers=workers, root=keep, keep=keep is not None)
    print(summary(report.verdicts, report.alternatives, report.loops_seconds, report.failures,
                  report.loops_attempts, report.load))
    print(f"\n{len(report.verdicts)} mutants and {len(report.alternatives)} alternatives graded with the real "
          f"pipeline in {report.wall_seconds:.0f} s" + (f"; scratch course kept in {report.root}" if keep else ""))
    loops_ok = report.loops_seconds is None or report.loops_seconds <= LOOPS_SECONDS_BAR
    if not loops_ok:
        print(f"warning: the loops submission took {report.loops_seconds:.1f} s (> {LOOPS_SECONDS_BAR:g} s)")
    return 0 if report.ok else 1
