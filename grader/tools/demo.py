"""``make demo``: for every assignment, release, sample submissions, grading, feedback, export and a score table.

Each assignment's content package names its demo class in ``samples/demo.py``:
``CORRECT`` (student -> correct style), ``BUGGY`` (student -> mutant) and,
optionally, ``HOSTILE`` (student -> attack).  A blank submission is always added.
"""
from __future__ import annotations

import os
import shutil

import nbformat

from ..engine import batch, course, grading_lock
from ..engine.assignment import Assignment, load_all
from ..harness import samples as cells


def build_samples(assignment: Assignment) -> list[str]:
    """Write the demo submissions of ``assignment`` under submitted/ (replacing earlier ones)."""
    root, name = assignment.root, assignment.name
    demo = assignment.module("samples.demo")
    mutants = assignment.module("samples.mutants").BY_NAME
    release_dir = os.path.join(root, "release", name)
    release_nb = nbformat.read(os.path.join(release_dir, f"{name}.ipynb"), as_version=4)
    source_nb = nbformat.read(assignment.source_notebook, as_version=4)
    samples = {demo.BLANK: release_nb}
    for student, style in demo.CORRECT.items():
        samples[student] = cells.build_notebook(release_nb, cells.read_style(assignment.styles_dir, style, source_nb))
    for student, mutant in demo.BUGGY.items():
        samples[student] = cells.build_notebook(release_nb, mutants[mutant].cells(source_nb))
    for student, nb in samples.items():
        cells.write_submission(root, name, student, nb, release_dir)
    hostile = getattr(demo, "HOSTILE", {})
    if hostile:
        attacks = assignment.module("samples.attacks")
        for student, attack in hostile.items():
            attacks.build(attacks.BY_NAME[attack], root, release_nb, source_nb, release_dir, student=student)
    return sorted(list(samples) + list(hostile))


def points(value: float) -> str:
    """Points as the table shows them: partial credit to two decimals, whole points without any."""
    return f"{round(value, 2):g}"


def score_table(assignment: str, root: str = course.ROOT, students: list[str] | None = None) -> str:
    """Per student: each autograded cell's points, the total and the grading status."""
    scores = course.cell_scores(assignment, root)
    maxima = course.max_scores(assignment, root)
    outcomes = {o.student: o for o in batch.all_outcomes(assignment, root)}
    auto = course.autograded_only(maxima)
    students = students or sorted(set(scores) | set(outcomes))
    short = [c.removeprefix("test_").replace("_forward", "_fwd").replace("_backward", "_bwd") for c in auto]
    width = max(len(s) for s in students + ["student"])
    header = f"{'student':<{width}} " + " ".join(f"{s:>{max(len(s), 4)}}" for s in short) + "   total  status"
    lines = [header, "-" * len(header)]
    for student in students:
        row = scores.get(student, {})
        cells_txt = []
        for c, s in zip(auto, short):
            v = row.get(c)
            cells_txt.append(f"{'-' if v is None else f'{points(v)}/{auto[c]:g}':>{max(len(s), 4)}}")
        total, _ = course.autograded_points(row, auto)
        outcome = outcomes.get(student)
        status = outcome.status if outcome else "not graded"
        if outcome and outcome.reasons:
            status += " (" + "; ".join(r[:60] for r in outcome.reasons) + ")"
        lines.append(f"{student:<{width}} " + " ".join(cells_txt) +
                     f"   {points(total):>5}/{sum(auto.values()):g}  {status}")
    manual = [c for c in maxima if c not in auto]
    lines.append(f"(autograded cells only; {len(manual)} written answers worth "
                 f"{sum(maxima[c] for c in manual):g} points await manual grading in formgrader)")
    return "\n".join(lines)


def run_demo(root: str = course.ROOT, workers: int | None = None, progress: bool = True,
             only: list[str] | None = None) -> dict[str, str]:
    """The whole loop for every assignment (``only``: these); returns assignment -> score table. It holds the
    course's grading lock throughout, so it refuses to start while the grading service grades the course."""
    assignments = load_all(root, only)
    with grading_lock.hold(root, "the demo (python -m grader demo)"):
        return _run_demo(root, assignments, workers, progress)


def _run_demo(root: str, assignments, workers: int | None, progress: bool) -> dict[str, str]:
    for d in ("submitted", "autograded", "feedback"):
        shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    state = os.path.join(root, ".grading")
    for entry in os.listdir(state):   # all of the course's grading state but the lock this process holds
        if entry != os.path.basename(grading_lock.LOCK_FILE):
            path = os.path.join(state, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    tables = {}
    for assignment in assignments:
        name = assignment.name
        print(f"== {name}: release (nbgrader generate_assignment) -> release/{name}")
        course.release(name, root)
        print(f"== {name}: sample submissions -> submitted/")
        students = build_samples(assignment)
        print("   " + ", ".join(students))
        print(f"== {name}: grading (sandboxed, trusted checks)")
        # the hostile samples first: the runaways among them run to a time limit, which at the end
        # of the batch would leave the other workers idle
        hostile = list(getattr(assignment.module("samples.demo"), "HOSTILE", {}))
        batch.grade_batch(name, root, students=hostile + [s for s in students if s not in hostile],
                          workers=workers, progress=progress)
        print(f"== {name}: feedback -> feedback/")
        course.feedback(name, root)
        tables[name] = score_table(name, root, students)
    print("== export -> grades.csv")
    course.export(root)
    for name, table in tables.items():
        print(f"\n{name}: {next(a.title for a in assignments if a.name == name)}")
        print(table)
    return tables
