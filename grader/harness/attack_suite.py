"""Prove the trusted grading: grade every hostile and broken submission next to good ones.

``python -m grader attacks`` (``make attacks``) builds each entry of an
assignment's ``samples/attacks.py`` ``CATALOG`` as a submission in a *scratch*
course (grader.harness.scratch: its own source/, release/, config and
gradebook), adds the good submissions its ``GOOD`` names to the same batch
(correct solutions, a buggy one, the blank release), grades them all in one run of
the real pipeline (``batch.grade_batch``: parallel, sandboxed, trusted checks,
nbgrader recording) and checks each against what its entry says:

* ``at_most_blank``: the tampering scores no more than the blank release;
* ``full``: the correct solution under it keeps full autograded marks;
* ``lose:<cells>``: exactly these cells lost points;
* ``failed``: no grade, a zero row, and a failure record with its reason;
* the incident kinds (or failure-reason fragment) of ``reasons`` are recorded.

An entry with ``replay`` is handed in twice by the same student.  Its base style (a correct solution,
the probe) is graded in the batch; then ``replay`` builds, from the hidden inputs that grading drew
(its record's salt) and the reference's answers to them, a submission that answers from a table,
which is graded as the student's new submission.  It must score no more than the blank release, and
the same notebook graded by the trusted executor under the probe's salt must score more (so the
table is real, and only the new inputs defeat it).

On top of the scores it checks what the probes saw: the secrets probe read no
course, grader or host file and imported nothing hidden; the network probe
reached neither a TCP server this run listens with on the host's loopback nor
the internet; the pickling agent executed nothing in the grader; the link
left in place of a kernel's connection file did not make the grader change a
file's owner; the leave probe planted its mark in every channel it could (and
the keyring refused it), and the look probe found no mark in any channel.
The limits of the run are :data:`LIMITS` (short, so runaway submissions cost
seconds).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import threading
import time

import nbformat
from nbgrader import utils

from ..engine import batch, course, jobs
from ..engine.assignment import Assignment
from ..engine.assignment import load as load_assignment
from ..engine.nbgrader_ext.execute import TrustedExecute, cell_name, cell_points, earned_points
from ..engine.records import GradingRecord
from . import samples as sample_cells
from .mutation import catalog, source_notebook
from .scratch import scratch_course

LIMITS = {"cell_timeout": 12, "check_timeout": 5, "submission_timeout": 120}
# incidents of submissions that run until a limit stops them
RUNAWAY_REASONS = {"timeout", "check_timeout", "unresponsive", "out_of_memory", "process_limit"}
PROBE = re.compile(r"^(SECRETS|NETWORK|LEAVE|LOOK)-PROBE (\{.*\})$", re.M)
SECRET_SEEN = ("READ", "LISTED", "IMPORTED")
# what the leave_state probe must report: channels closed at the root refuse the plant with these errors
# (the seccomp filter refuses the keyring calls; the sandbox's root and /dev are root-owned), every other
# channel takes the mark inside the planting sandbox, and its two lingering processes are alive
LEAVE_REFUSED = {"keyring_user": "EPERM", "keyring_session": "EPERM", "cwd_parent": "EACCES", "dev_shm": "EACCES"}
LEAVE_PLANTED = ("tmp", "home_cache", "mplconfigdir", "ipythondir", "cwd", "sysv_shm", "sysv_msg", "sysv_sem",
                 "posix_mqueue", "sleeper_process", "abstract_socket", "environment")
RESUBMITTED = "2026-11-20 13:00:00.000000 UTC"   # when a replaying attack hands in its second notebook


@dataclasses.dataclass
class Result:
    """One graded submission of the suite and whether it did what it must."""
    student: str
    expect: str
    status: str
    total: float
    lost: tuple[str, ...]
    reasons: list[str]
    problems: list[str]
    seconds: float = 0.0
    coordinator_seconds: float = 0.0   # the coordinating process's own time on it (planning, recording)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclasses.dataclass
class SuiteReport:
    root: str
    results: dict[str, Result]
    blank_total: float
    max_total: float
    wall_seconds: float
    summary: str
    probes: dict[str, dict[str, dict]]        # student -> probe name -> what it printed (parsed)
    # student -> for a replaying attack: probe_total, probe_salt, table_entries, salt (its new submission's),
    # control_total (its new submission graded under the probe's salt)
    replays: dict[str, dict] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values())


class _Listener:
    """A TCP server on the host's loopback that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def _expected_lost(expect: str) -> set[str] | None:
    return set(expect.split(":", 1)[1].split(",")) if expect.startswith("lose:") else None


def probe_outputs(root: str, assignment: str, student: str) -> dict[str, dict]:
    """What the probes of a submission printed, from its autograded notebook."""
    path = os.path.join(root, "autograded", student, assignment, f"{assignment}.ipynb")
    found: dict[str, dict] = {}
    if not os.path.exists(path):
        return found
    for cell in nbformat.read(path, as_version=4).cells:
        for out in cell.get("outputs", []):
            for name, payload in PROBE.findall(str(out.get("text", ""))):
                found[name.lower()] = json.loads(payload)
    return found


def _only_python(path: str, seen: str) -> bool:
    """A directory listing that holds nothing but the way down to the Python environment (bound read-only)."""
    from ..engine.sandbox import _python_roots

    if not seen.startswith("LISTED "):
        return False
    base = path.rstrip("/") + "/"
    way_down = {root[len(base):].split("/")[0] for root in _python_roots() if root.startswith(base)}
    return set(json.loads(seen[len("LISTED "):])) <= way_down


def _probe_problems(attack, probes: dict[str, dict], targets,
                    listener: _Listener) -> list[str]:
    problems = []
    if attack.name == "read_secrets":
        seen = probes.get("secrets")
        if seen is None:
            return ["the secrets probe printed nothing"]
        missing = [p for p in targets.secret_paths if p not in seen]
        if missing:
            problems.append(f"the secrets probe did not try {missing}")
        problems += [f"the sandbox could see {what}: {how}" for what, how in sorted(seen.items())
                     if isinstance(how, str) and how.startswith(SECRET_SEEN) and not _only_python(what, how)]
        if seen.get("sandboxes visible") != 1:
            problems.append(f"the sandbox sees {seen.get('sandboxes visible')} sandbox directories (its own only: 1)")
    if attack.name == "network":
        seen = probes.get("network")
        if seen is None:
            return ["the network probe printed nothing"]
        problems += [f"the sandbox connected to {where}" for where, how in sorted(seen.items()) if how == "CONNECTED"]
        if f"127.0.0.1:{targets.port}" not in seen:
            problems.append("the network probe did not try the host's listener")
    if attack.name == "leave_state":
        problems += leave_problems(probes.get("leave"))
    if attack.name == "look_for_state":
        problems += look_problems(probes.get("look"))
    return problems


def leave_problems(planted: dict | None) -> list[str]:
    """How the leave_state probe's report differs from :data:`LEAVE_REFUSED` / :data:`LEAVE_PLANTED`."""
    if planted is None:
        return ["the leave probe printed nothing"]
    want = {**LEAVE_REFUSED, **{name: "PLANTED" for name in LEAVE_PLANTED}, "processes_left": 2}
    return [f"leave probe: {name} is {planted.get(name)!r}, expected {value!r}"
            for name, value in want.items() if planted.get(name) != value]


def look_problems(found: dict | None) -> list[str]:
    """The channels in which the look_for_state probe found a mark (none may hold one), or what it missed."""
    if found is None:
        return ["the look probe printed nothing"]
    missing = sorted((set(LEAVE_REFUSED) | set(LEAVE_PLANTED)) - set(found))
    return ([f"the look probe did not try {missing}"] if missing else []) + \
        [f"a later sandbox found the mark in {name}" for name, how in sorted(found.items()) if how == "FOUND"]


def _check(attack, outcome, total: float, lost: tuple[str, ...], blank_total: float,
           max_total: float) -> list[str]:
    problems = []
    if attack.expect == "failed":
        if outcome.status != "failed":
            problems.append(f"expected a failure record, got {outcome.status} with {total:g} points")
    elif outcome.status == "failed":
        problems.append(f"expected a grade, got a failure: {'; '.join(outcome.reasons)[:200]}")
    elif attack.expect == "at_most_blank" and total > blank_total:
        problems.append(f"scored {total:g}, more than the blank release's {blank_total:g}")
    elif attack.expect == "full" and total != max_total:
        problems.append(f"scored {total:g}/{max_total:g}, lost {', '.join(lost)}")
    elif _expected_lost(attack.expect) is not None and set(lost) != _expected_lost(attack.expect):
        problems.append(f"lost {sorted(lost)}, expected exactly {sorted(_expected_lost(attack.expect))}")
    text = " | ".join(outcome.reasons)
    for reason in attack.reasons:
        if reason not in outcome.reasons and reason not in text:
            problems.append(f"no {reason!r} in the record (it has: {text or 'nothing'})")
    return problems


def _replay_problems(replay: dict | None, blank_total: float, max_total: float) -> list[str]:
    """What a replaying attack's experiment must show: a probe with full marks, new inputs for the new
    submission, and a table that scores under the probe's own inputs."""
    if replay is None:
        return []
    problems = []
    if replay["probe_total"] != max_total:
        problems.append(f"the probe scored {replay['probe_total']:g}/{max_total:g}: it did not see every check")
    if not replay["table_entries"]:
        problems.append("the table is empty")
    if not replay["salt"] or replay["salt"] == replay["probe_salt"]:
        problems.append("the new submission was graded on the probe's inputs")
    if replay["control_total"] <= blank_total:
        problems.append(f"under the probe's own inputs the table scored {replay['control_total']:g}, no more than "
                        f"the blank release's {blank_total:g}: the experiment shows nothing")
    return problems


def grading_record(root: str, assignment: str, student: str) -> GradingRecord:
    path = os.path.join(root, "autograded", student, assignment, f"{assignment}.grading.json")
    with open(path, encoding="utf-8") as fh:
        return GradingRecord.from_json(fh.read())


def score_under_salt(root: str, assignment: str, student: str, salt: bytes) -> float:
    """The autograded points the student's graded submission earns from the trusted executor (sandbox,
    checks in the grader) when its hidden inputs are drawn under ``salt`` instead of its own.

    It executes what nbgrader graded: the autograded notebook (sanitized, so its test cells hold the
    hidden checks' calls again), its outputs cleared, with the files beside it.
    """
    folder = os.path.join(root, "autograded", student, assignment)
    nb = nbformat.read(os.path.join(folder, f"{assignment}.ipynb"), as_version=4)
    points = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if utils.is_grade(cell) and not utils.is_solution(cell):
                points[cell_name(cell, i)] = cell_points(cell)
    resources = {"nbgrader": {"student": student, "assignment": assignment, "notebook": assignment}}
    executor = TrustedExecute(config=course.load_config(root))
    _, record = executor.run_notebook(nb, jobs.directory_files(folder), resources, salt=salt)
    return sum(earned_points([c for c in record.checks if c.cell == cell], worth) for cell, worth in points.items())


def _write_good(assignment: Assignment, good: dict, release_nb, source_nb, release_dir: str) -> None:
    for student, (name, kind) in good.items():
        if kind == "style":
            nb = sample_cells.build_notebook(release_nb,
                                             sample_cells.read_style(assignment.styles_dir, name, source_nb))
        elif kind == "mutant":
            nb = sample_cells.build_notebook(release_nb, catalog(assignment)[name].cells(source_nb))
        else:
            nb = release_nb
        sample_cells.write_submission(assignment.root, assignment.name, student, nb, release_dir)


def _good_problems(good: tuple[str, str], mutants: dict, outcome, lost: tuple[str, ...], total: float,
                   max_total: float) -> list[str]:
    name, kind = good
    if outcome.status != "graded":
        return [f"a good submission was {outcome.status}: {'; '.join(outcome.reasons)[:200]}"]
    if kind == "style" and total != max_total:
        return [f"scored {total:g}/{max_total:g}, lost {', '.join(lost)}"]
    if kind == "mutant" and set(lost) != set(mutants[name].fails):
        return [f"lost {sorted(lost)}, expected exactly {sorted(mutants[name].fails)}"]
    if kind == "blank" and total != 0:
        return [f"the blank release scored {total:g}"]
    return []


def run_suite(assignment: Assignment, names: list[str] | None = None, workers: int | None = None,
              root: str | None = None, keep: bool = False, progress: bool = True, log=print) -> SuiteReport:
    """Grade the named attacks (default: all) of ``assignment`` and its good submissions in one batch
    of a scratch course (``root``: build it there)."""
    attacks = assignment.module("samples.attacks")
    good, blank = attacks.GOOD, attacks.GOOD_BLANK
    names = [a.name for a in attacks.CATALOG] if names is None else list(names)
    unknown = [n for n in names if n not in attacks.BY_NAME]
    if unknown:
        raise KeyError(f"unknown attacks: {unknown}; known: {sorted(attacks.BY_NAME)}")
    started = time.monotonic()
    name_ = assignment.name
    scratch = scratch_course(root, [name_], repo=assignment.root, release=True, config=(
        "# grader.harness.attack_suite: short limits, so runaway submissions cost seconds\n"
        + "".join(f"c.SandboxPolicy.{k} = {v}\n" for k, v in LIMITS.items())))
    listener = _Listener()
    try:
        in_scratch = load_assignment(scratch, name_)
        targets = attacks.ProbeTargets.for_course(scratch, port=listener.port)
        with open(targets.canary, "w", encoding="utf-8") as fh:
            fh.write("canary\n")
        os.chmod(targets.canary, 0o600)
        release_dir = os.path.join(scratch, "release", name_)
        release_nb = nbformat.read(os.path.join(release_dir, f"{name_}.ipynb"), as_version=4)
        source_nb = source_notebook(in_scratch)
        students = {}
        for name in names:
            students[attacks.build(attacks.BY_NAME[name], scratch, release_nb, source_nb, release_dir,
                                   targets=targets)] = name
        _write_good(in_scratch, good, release_nb, source_nb, release_dir)
        lines: list[str] = []

        def note(line: str) -> None:
            lines.append(line)
            log(line)

        log(f"scratch course: {scratch}; grading {len(students)} attacks and {len(good)} good submissions")
        # the runaways first: they run to a time or resource limit, and at the end they would leave the
        # other workers idle while they wait
        everyone = course.submitted_students(name_, scratch)
        runaway = {s for s, n in students.items() if set(attacks.BY_NAME[n].reasons) & RUNAWAY_REASONS}
        order = [s for s in everyone if s in runaway] + [s for s in everyone if s not in runaway]
        outcomes = {o.student: o for o in batch.grade_batch(name_, scratch, students=order, workers=workers,
                                                            progress=progress, log=note)}
        maxima = course.autograded_maxima(name_, scratch)
        replays = _replay(attacks, students, outcomes, scratch, in_scratch, release_nb, source_nb, release_dir,
                          maxima, workers, progress, note)
        scores = course.cell_scores(name_, scratch)
        max_total = sum(maxima.values())

        def score(student):
            return course.autograded_points(scores.get(student, {}), maxima)

        blank_total, _ = score(blank)
        results, probes = {}, {}
        mutants = catalog(assignment)
        for student in good:
            total, lost = score(student)
            o = outcomes[student]
            results[student] = Result(student, "good", o.status, total, lost, o.reasons,
                                      _good_problems(good[student], mutants, o, lost, total, max_total), o.seconds,
                                      o.coordinator_seconds)
        for student, name in students.items():
            attack, o = attacks.BY_NAME[name], outcomes[student]
            total, lost = score(student)
            probes[student] = probe_outputs(scratch, name_, student)
            problems = _check(attack, o, total, lost, blank_total, max_total)
            problems += _probe_problems(attack, probes[student], targets, listener)
            problems += _replay_problems(replays.get(student), blank_total, max_total)
            results[student] = Result(student, attack.expect, o.status, total, lost, o.reasons, problems, o.seconds,
                                      o.coordinator_seconds)
        # what the host saw, charged to the attack that aimed at it
        student_of = {name: student for student, name in students.items()}
        if "network" in names and listener.accepted:
            results[student_of["network"]].problems.append(
                f"the host's listener accepted {listener.accepted} connections during grading")
        if "symlink_swap" in names:
            st = os.stat(targets.canary)
            with open(targets.canary, encoding="utf-8") as fh:
                unchanged = fh.read() == "canary\n"
            if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()) or not unchanged:
                results[student_of["symlink_swap"]].problems.append(
                    f"the canary file changed: owner {st.st_uid}:{st.st_gid}, content unchanged: {unchanged}")
        if "pickle_agent" in names and os.path.exists(targets.pwned):
            results[student_of["pickle_agent"]].problems.append("the pickled object ran code in the grader")
        summary = "; then ".join(line for line in lines if " graded (" in line)   # the batch, then the resubmissions
        return SuiteReport(scratch, results, blank_total, max_total, time.monotonic() - started, summary, probes,
                           replays)
    finally:
        listener.close()
        if not keep and root is None:
            shutil.rmtree(scratch, ignore_errors=True)


def _replay(attacks, students: dict[str, str], outcomes: dict, root: str, assignment: Assignment, release_nb,
            source_nb, release_dir: str, maxima: dict, workers: int | None, progress: bool, log) -> dict[str, dict]:
    """The second round of the replaying attacks in the course at ``root``: build each resubmission from its
    graded probe, grade them all as new submissions (``outcomes`` is updated), then grade each under its
    probe's salt."""
    name_ = assignment.name
    replayed = {s: n for s, n in students.items() if attacks.BY_NAME[n].replay is not None}
    if not replayed:
        return {}
    scores = course.cell_scores(name_, root)
    replays = {}
    for student, name in list(replayed.items()):
        if outcomes[student].status == "failed":   # no probe, no table: _replay_problems says so
            replays[student] = {"probe_total": 0.0, "probe_salt": "", "table_entries": 0, "salt": "",
                                "control_total": 0.0}
            del replayed[student]
            continue
        probe = grading_record(root, name_, student)
        nb, entries = attacks.BY_NAME[name].replay(assignment, release_nb, source_nb, bytes.fromhex(probe.inputs_salt))
        sample_cells.write_submission(root, name_, student, nb, release_dir, timestamp=RESUBMITTED)
        replays[student] = {"probe_total": course.autograded_points(scores.get(student, {}), maxima)[0],
                            "probe_salt": probe.inputs_salt, "table_entries": entries}
    if not replayed:
        return replays
    log(f"grading {len(replayed)} resubmissions built from their first grading")
    outcomes.update({o.student: o for o in batch.grade_batch(name_, root, students=list(replayed), workers=workers,
                                                             progress=progress, log=log)})
    for student in replayed:
        replay, graded = replays[student], outcomes[student].status != "failed"
        replay["salt"] = grading_record(root, name_, student).inputs_salt if graded else ""
        replay["control_total"] = (score_under_salt(root, name_, student, bytes.fromhex(replay["probe_salt"]))
                                   if graded else 0.0)
    return replays


def table(report: SuiteReport) -> str:
    width = max(len(s) for s in report.results)
    head = f"{'submission':<{width}}  {'expect':<16} {'points':>7}  {'status':<22} verdict"
    lines = [head, "-" * len(head)]
    for student, r in report.results.items():
        expect = r.expect if len(r.expect) <= 16 else r.expect[:13] + "..."
        reasons = f" [{', '.join(x[:50] for x in r.reasons)}]" if r.reasons else ""
        verdict = "ok" if r.ok else "WRONG: " + "; ".join(r.problems)
        lines.append(f"{student:<{width}}  {expect:<16} {r.total:>4g}/{report.max_total:g}  "
                     f"{r.status:<22} {verdict}{reasons}")
    bad = [r for r in report.results.values() if not r.ok]
    lines.append(f"{len(report.results) - len(bad)}/{len(report.results)} submissions graded as they must be "
                 f"(blank release: {report.blank_total:g} points); {report.summary}")
    return "\n".join(lines)


def main(assignments: list[Assignment], workers: int | None = None, only: list[str] | None = None,
         keep: str | None = None) -> int:
    """The suite for every given assignment that has an attack catalog."""
    ok = True
    for assignment in assignments:
        if not assignment.has("samples.attacks"):
            print(f"==== {assignment.name}: no samples/attacks.py, nothing to run")
            continue
        print(f"==== {assignment.name}: {assignment.title}")
        dest = os.path.join(keep, assignment.name) if keep else None
        report = run_suite(assignment, only, workers=workers, root=dest, keep=keep is not None)
        print(table(report))
        slowest = max(report.results.values(), key=lambda r: r.coordinator_seconds)
        print(f"\ncoordinator time per submission: at most {slowest.coordinator_seconds:.2f} s ({slowest.student})")
        print(f"wall time {report.wall_seconds:.0f} s on {os.cpu_count()} cores"
              + (f"; scratch course kept in {report.root}" if keep else ""))
        ok &= report.ok
    return 0 if ok else 1
