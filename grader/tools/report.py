"""``make report``: an instructor's HTML page (with PNG plots) about the last grading run.

``gather`` collects the numbers from the grading records and the gradebook;
``build_report`` draws the plots and writes ``reports/<assignment>/report.html``.
"""
from __future__ import annotations

import collections
import dataclasses
import html
import math
import os
import re
import statistics

from ..engine import batch, course
from ..engine.library_policy import INCIDENT as FORBIDDEN_LIBRARY
from ..engine.records import INCIDENT_KINDS, GradingRecord
from ..engine.service.queue import QUEUE_FILE, STATES, SubmissionQueue

SLOWEST = 10
TOP_FAILURES = 3
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
STATUSES = ("graded", "graded_with_incidents", "failed")


class NothingGraded(RuntimeError):
    """There are no grading records to report on."""


@dataclasses.dataclass
class CellStats:
    grade_id: str
    points: float
    full: int
    partial: int
    zero: int

    @property
    def students(self) -> int:
        return self.full + self.partial + self.zero

    def rate(self, count: int) -> float:
        return count / self.students if self.students else 0.0


@dataclasses.dataclass
class CheckStats:
    """How the graded submissions did on one check: passes, and the most frequent failure messages."""

    cell: str
    check: str
    title: str
    hidden: bool
    passed: int
    total: int
    failures: list[tuple[str, int]]    # (message with its numbers replaced by #, submissions), most frequent first

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


def failure_pattern(message: str) -> str:
    """A failure message with its numbers as #, so the same mistake on different values counts once."""
    return _NUMBER.sub("#", message.splitlines()[0] if message else "")[:200]


def check_stats(records: list[GradingRecord]) -> list[CheckStats]:
    """Per check, in the order the checks ran: pass counts and the most frequent failures."""
    order: dict[str, CheckStats] = {}
    patterns: dict[str, collections.Counter] = {}
    for record in records:
        for c in record.checks:
            stats = order.setdefault(c.check, CheckStats(c.cell, c.check, c.title, c.hidden, 0, 0, []))
            stats.total += 1
            stats.passed += c.passed
            if not c.passed:
                patterns.setdefault(c.check, collections.Counter())[failure_pattern(c.message)] += 1
    for name, stats in order.items():
        stats.failures = patterns.get(name, collections.Counter()).most_common(TOP_FAILURES)
    return list(order.values())


@dataclasses.dataclass
class ReportData:
    assignment: str
    max_auto: float                         # sum of the autograded cells' points
    manual_cells: dict[str, float]          # written answers (graded by hand), grade id -> points
    counts: dict[str, int]                  # graded / graded_with_incidents / failed / not_graded
    failure_kinds: dict[str, int]           # first part of each failure reason -> submissions
    totals: dict[str, float]                # graded student -> autograded score
    mean: float
    median: float
    bin_edges: list[float]                  # histogram: bin i is [edge i, edge i+1), the last one closed
    bin_counts: list[int]
    cells: list[CellStats]                  # autograded cells in notebook order
    slowest: list[batch.Outcome]
    issues: list[batch.Outcome]             # every submission not graded cleanly
    not_graded: list[str]
    forbidden: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)
    # ^ forbidden_library incidents: (student, cell, module, detail), in student order
    checks: list[CheckStats] = dataclasses.field(default_factory=list)   # every check of the graded submissions


def histogram(values: list[float], maximum: float) -> tuple[list[float], list[int]]:
    """About ten bins a whole number of points wide from 0 to ``maximum`` (the last one may be narrower)."""
    width = max(1, math.ceil(maximum / 10))
    edges = [float(i * width) for i in range(max(1, math.ceil(maximum / width)))] + [float(max(maximum, width))]
    counts = [0] * (len(edges) - 1)
    for value in values:
        i = min(int(value // width), len(counts) - 1)
        counts[max(i, 0)] += 1
    return edges, counts


def grading_records(root: str, assignment: str, outcomes: list[batch.Outcome]) -> dict[str, GradingRecord | None]:
    """student -> the grading record of every graded outcome (None when it cannot be read)."""
    records: dict[str, GradingRecord | None] = {}
    for o in outcomes:
        if o.status == "failed":
            continue
        path = os.path.join(root, "autograded", o.student, assignment, f"{assignment}.grading.json")
        try:
            with open(path, encoding="utf-8") as fh:
                records[o.student] = GradingRecord.from_json(fh.read())
        except (OSError, ValueError, TypeError):
            records[o.student] = None
    return records


def forbidden_uses(records: dict[str, GradingRecord | None],
                   outcomes: list[batch.Outcome]) -> list[tuple[str, str, str, str]]:
    """(student, cell, module, detail) of every forbidden_library incident, from the grading records."""
    uses = []
    for o in outcomes:
        if FORBIDDEN_LIBRARY not in o.reasons:
            continue
        record = records.get(o.student)
        if record is None:
            uses.append((o.student, "", "", "the grading record could not be read"))
            continue
        for incident in record.incidents:
            if incident.kind == FORBIDDEN_LIBRARY:  # its detail starts with the module: "scipy.signal: …"
                uses.append((o.student, incident.cell, incident.detail.split(":", 1)[0], incident.detail))
    return uses


def gather(assignment: str, root: str = course.ROOT) -> ReportData:
    """The report's numbers; raises NothingGraded when no submission has a grading record."""
    outcomes = batch.all_outcomes(assignment, root)
    submitted = course.submitted_students(assignment, root)
    if not outcomes:
        state_dir = batch.Paths(root, assignment).state
        raise NothingGraded(
            f"nothing has been graded yet for {assignment}: expected grading records in {state_dir} "
            f"(written by `make grade`), found none; {len(submitted)} submission(s) under "
            f"{os.path.join(root, 'submitted')} wait to be graded")
    maxima = course.max_scores(assignment, root)
    scores = course.cell_scores(assignment, root)
    auto = course.autograded_only(maxima)

    graded = [o for o in outcomes if o.status != "failed"]
    records = grading_records(root, assignment, outcomes)
    totals = {o.student: float(course.autograded_points(scores.get(o.student, {}), auto)[0]) for o in graded}
    max_auto = float(sum(auto.values()))
    edges, counts = histogram(list(totals.values()), max_auto)

    cells = []
    for cell, points in auto.items():
        got = [scores.get(o.student, {}).get(cell) or 0 for o in graded]
        full = sum(1 for g in got if g >= points)
        zero = sum(1 for g in got if g <= 0)
        cells.append(CellStats(cell, float(points), full, len(got) - full - zero, zero))

    failure_kinds: dict[str, int] = {}
    for o in outcomes:
        if o.status == "failed":
            kind = (o.reasons[0].split(":")[0] if o.reasons else "no reason recorded")[:80]
            failure_kinds[kind] = failure_kinds.get(kind, 0) + 1

    known = {o.student for o in outcomes}
    not_graded = [s for s in submitted if s not in known]
    status_counts = {s: sum(1 for o in outcomes if o.status == s) for s in STATUSES}
    return ReportData(
        assignment=assignment, max_auto=max_auto,
        manual_cells={c: float(p) for c, p in maxima.items() if c not in auto},
        counts={**status_counts, "not_graded": len(not_graded)},
        failure_kinds=dict(sorted(failure_kinds.items())),
        totals=totals,
        mean=statistics.fmean(totals.values()) if totals else 0.0,
        median=float(statistics.median(totals.values())) if totals else 0.0,
        bin_edges=edges, bin_counts=counts, cells=cells,
        slowest=sorted(outcomes, key=lambda o: (-o.seconds, o.student))[:SLOWEST],
        issues=[o for o in outcomes if o.status != "graded"],
        not_graded=not_graded, forbidden=forbidden_uses(records, outcomes),
        checks=check_stats([r for r in records.values() if r is not None]))


# ---------------------------------------------------------------------------------------------- plots

def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_histogram(data: ReportData, path: str) -> str:
    fig = _figure(7, 3.5)
    ax = fig.add_subplot()
    widths = [b - a for a, b in zip(data.bin_edges, data.bin_edges[1:])]
    ax.bar(data.bin_edges[:-1], data.bin_counts, width=widths, align="edge", color="#4c78a8", edgecolor="white")
    ax.set_xlim(0, data.bin_edges[-1])
    ax.set_xticks(data.bin_edges)
    ax.set_xlabel(f"autograded score (out of {data.max_auto:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{data.assignment}: scores of {len(data.totals)} graded submissions")
    fig.savefig(path, format="png")
    return path


def plot_cells(data: ReportData, path: str) -> str:
    from matplotlib.ticker import PercentFormatter
    fig = _figure(7, 0.35 * len(data.cells) + 1.4)
    ax = fig.add_subplot()
    labels = [f"{c.grade_id} ({c.points:g})" for c in data.cells]
    left = [0.0] * len(data.cells)
    for attr, colour in (("full", "#59a14f"), ("partial", "#f28e2b"), ("zero", "#e15759")):
        rates = [c.rate(getattr(c, attr)) for c in data.cells]
        ax.barh(labels, rates, left=left, color=colour, label=attr)
        left = [a + b for a, b in zip(left, rates)]
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of graded submissions")
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")
    fig.savefig(path, format="png")
    return path


# ---------------------------------------------------------------------------------------------- HTML

_CSS = """body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}td.n{text-align:right}th{background:#f3f3f3}code{font-size:.95em}
img{max-width:100%}"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def explain(reason: str) -> str:
    """A reason as HTML: incident kinds with their explanation, other reasons as text."""
    if reason in INCIDENT_KINDS:
        return f"<code>{_e(reason)}</code>: {_e(INCIDENT_KINDS[reason])}"
    return _e(reason)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>\n" for row in rows)
    return f"<table><tr>{head}</tr>\n{body}</table>\n"


def service_status(root: str, assignment: str) -> dict | None:
    """The grading service's counts and latencies for ``assignment`` (None if the course has no service queue)."""
    path = os.path.join(root, QUEUE_FILE)
    if not os.path.exists(path):
        return None
    queue = SubmissionQueue(path)
    try:
        status = queue.status(assignment=assignment)
    finally:
        queue.close()
    return status if status["students"] else None


def render_service(status: dict | None) -> str:
    """The report's grading-service section: what the service did with submissions, and how fast."""
    if status is None:
        return ""

    def secs(v):
        return "–" if v is None else f"{v:.1f} s"
    rows = [["submissions (students)", f"{sum(status[s] for s in STATES)} ({status['students']})"],
            ["graded", str(status["done"])], ["could not be graded", str(status["failed"])],
            ["replaced while waiting for the rate limit", str(status["superseded"])],
            ["queued or waiting now", str(status["queue"])],
            ["held back by the rate limit at least once", str(status["rate_limited"])],
            ["submit to feedback, median", secs(status["latency_p50"])],
            ["submit to feedback, 95th percentile", secs(status["latency_p95"])],
            ["submit to feedback, slowest", secs(status["latency_max"])]]
    return ("<h2>Grading service</h2>\n<p>Submissions graded on arrival by <code>python -m grader serve</code>; "
            "latency runs from the student's submit to the release of the feedback (a rate-limited wait "
            "included).</p>\n" + _table(["", ""], rows, {1}))


def render_html(data: ReportData, histogram_png: str, cells_png: str, service: dict | None = None) -> str:
    c = data.counts
    failed_detail = ", ".join(f"{_e(k)}: {v}" for k, v in data.failure_kinds.items())
    summary = _table(["", "submissions"], [
        ["graded", str(c["graded"])],
        ["graded with incidents", str(c["graded_with_incidents"])],
        ["failed" + (f" ({failed_detail})" if failed_detail else ""), str(c["failed"])],
        ["not yet graded", str(c["not_graded"])],
        [f"mean autograded score (of {len(data.totals)} graded)", f"{data.mean:.2f} / {data.max_auto:g}"],
        ["median autograded score", f"{data.median:g} / {data.max_auto:g}"],
    ], {1})
    manual = ""
    if data.manual_cells:
        manual = (f"<p>Scores are autograded cells only; {len(data.manual_cells)} written answers worth "
                  f"{sum(data.manual_cells.values()):g} points are graded by hand in formgrader.</p>\n")
    bins = _table(["score", "submissions"], [
        [f"{a:g} ≤ score {'<' if i < len(data.bin_counts) - 1 else '≤'} {b:g}", str(n)]
        for i, (a, b, n) in enumerate(zip(data.bin_edges, data.bin_edges[1:], data.bin_counts))], {1})
    cells = _table(["cell", "points", "full", "partial", "zero"], [
        [f"<code>{_e(s.grade_id)}</code>", f"{s.points:g}"] +
        [f"{n} ({s.rate(n):.0%})" for n in (s.full, s.partial, s.zero)] for s in data.cells], {1, 2, 3, 4})
    checks = _table(["cell", "check", "passed", "most frequent failures (numbers as #)"], [
        [f"<code>{_e(c.cell)}</code>", ("(hidden) " if c.hidden else "") + _e(c.title),
         f"{c.passed}/{c.total} ({c.rate:.0%})",
         "<br>".join(f"{n} × {_e(pattern)}" for pattern, n in c.failures)] for c in data.checks], {2})
    slowest = _table(["student", "status", "seconds"], [
        [_e(o.student), _e(o.status), f"{o.seconds:.1f}"] for o in data.slowest], {2})
    modules: dict[str, list[str]] = {}   # student -> forbidden modules, for the incidents table
    for student, _, module, _ in data.forbidden:
        if module not in modules.setdefault(student, []):
            modules[student].append(module)

    def reason(o: batch.Outcome, r: str) -> str:
        text = explain(r)
        if r == FORBIDDEN_LIBRARY and modules.get(o.student):
            text += " (" + ", ".join(f"<code>{_e(m)}</code>" for m in modules[o.student]) + ")"
        return text

    if data.issues:
        issues = _table(["student", "status", "reasons", "preflight notes"], [
            [_e(o.student), _e(o.status),
             "<br>".join(reason(o, r) for r in o.reasons) or "no reason recorded",
             "<br>".join(_e(n) for n in o.notes)] for o in data.issues])
    else:
        issues = "<p>Every graded submission was graded cleanly.</p>\n"
    forbidden = ""
    if data.forbidden:
        forbidden = ("<h2>Forbidden libraries</h2>\n<p>Uses of modules the assignment forbids "
                     "(<code>c.LibraryPolicy</code>), one row per cell and module: found in the cell's source "
                     "before it ran, or by the import guard in the kernel.</p>\n" +
                     _table(["student", "cell", "module", "detail"], [
                         [_e(student), f"<code>{_e(cell)}</code>", f"<code>{_e(module)}</code>", _e(detail)]
                         for student, cell, module, detail in data.forbidden]))
    waiting = ""
    if data.not_graded:
        waiting = ("<h2>Not yet graded</h2>\n<p>" + ", ".join(_e(s) for s in data.not_graded) + "</p>\n")
    title = f"{_e(data.assignment)}: grading report"
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n"
            f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
            f"<h2>Summary</h2>\n{summary}{manual}"
            f"<h2>Score distribution</h2>\n<img src=\"{_e(histogram_png)}\" alt=\"histogram of autograded scores\">\n"
            f"{bins}"
            f"<h2>Autograded cells</h2>\n<p>Share of the {len(data.totals)} graded submissions with full, "
            f"partial and zero points on each cell, in notebook order.</p>\n"
            f"<img src=\"{_e(cells_png)}\" alt=\"pass rates per autograded cell\">\n{cells}"
            f"<h2>Checks</h2>\n<p>Every check of every autograded cell: the share of graded submissions that "
            f"pass it, and what the others most often got wrong.</p>\n{checks}"
            f"<h2>Slowest submissions</h2>\n{slowest}"
            f"<h2>Failures and incidents</h2>\n{issues}{forbidden}{waiting}"
            f"{render_service(service)}"
            "</body>\n</html>\n")


def build_report(assignment: str, root: str | None = None, out_dir: str | None = None) -> str:
    """Write report.html and its PNG plots into ``out_dir`` (default <root>/reports/<assignment>/).

    ``root`` defaults to ``course.ROOT``; returns the HTML file's path.
    """
    root = root or course.ROOT
    data = gather(assignment, root)
    out_dir = out_dir or os.path.join(root, "reports", data.assignment)
    os.makedirs(out_dir, exist_ok=True)
    plot_histogram(data, os.path.join(out_dir, "scores.png"))
    plot_cells(data, os.path.join(out_dir, "cells.png"))
    path = os.path.join(out_dir, "report.html")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(render_html(data, "scores.png", "cells.png", service_status(root, data.assignment)))
    os.replace(tmp, path)
    return path


def build_index(reports: dict[str, str | None], out_dir: str) -> str:
    """``out_dir``/index.html: a link to each assignment's report (``None``: the reason it has none)."""
    rows = []
    for assignment, target in reports.items():
        if target is None or not os.path.isfile(target):
            rows.append([_e(assignment), _e(target or "nothing graded yet")])
        else:
            link = os.path.relpath(target, out_dir)
            rows.append([_e(assignment), f'<a href="{_e(link)}">{_e(link)}</a>'])
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "index.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 f"<title>Grading reports</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
                 f"<h1>Grading reports</h1>\n" + _table(["assignment", "report"], rows) + "</body>\n</html>\n")
    return path
