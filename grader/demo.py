"""``make demo``: release, sample submissions, grading, feedback, export and the score table."""
from __future__ import annotations

import os
import shutil

import nbformat

from . import batch, course
from .samples import attacks, cells
from .samples.mutants import BY_NAME

# student id -> what the sample is
CORRECT = {"alice_loops": "loops", "bob_im2col": "im2col"}
BUGGY = {"dave_flipped_kernel": "flipped_kernel", "erin_maxpool_stride1": "maxpool_default_stride_1",
         "frank_avgpool_div4": "avgpool_divides_by_4", "grace_bias_grad": "bias_grad_first_item"}
# from grader.samples.attacks: tampering (blank + patched numpy; blank + a fake grading agent), runaway
# (a correct solution with an endless loop cell), and a truncated notebook file
HOSTILE = {"mallory_patches_numpy": "patch_numpy", "trudy_fakes_the_agent": "fake_agent",
           "oscar_endless_loop": "infinite_loop", "pat_truncated_file": "invalid_json"}


def build_samples(root: str = course.ROOT) -> list[str]:
    """Write the demo submissions under submitted/ (replacing earlier ones)."""
    assignment = course.ASSIGNMENT
    release_dir = os.path.join(root, "release", assignment)
    release_nb = nbformat.read(os.path.join(release_dir, f"{assignment}.ipynb"), as_version=4)
    source_nb = nbformat.read(os.path.join(root, "source", assignment, f"{assignment}.ipynb"), as_version=4)
    samples = {"carol_blank": release_nb}
    for student, style in CORRECT.items():
        samples[student] = cells.build_notebook(release_nb, cells.read_style(style, source_nb))
    for student, mutant in BUGGY.items():
        samples[student] = cells.build_notebook(release_nb, BY_NAME[mutant].cells(source_nb))
    for student, nb in samples.items():
        cells.write_submission(root, assignment, student, nb, release_dir)
    for student, attack in HOSTILE.items():
        attacks.build(attacks.BY_NAME[attack], root, release_nb, source_nb, release_dir, student=student)
    return sorted(list(samples) + list(HOSTILE))


def points(value: float) -> str:
    """Points as the table shows them: partial credit to two decimals, whole points without any."""
    return f"{round(value, 2):g}"


def score_table(root: str = course.ROOT, students: list[str] | None = None) -> str:
    scores = course.cell_scores(root)
    maxima = course.max_scores(root)
    outcomes = {o.student: o for o in batch.all_outcomes(root)}
    auto = course.autograded_only(maxima)
    students = students or sorted(set(scores) | set(outcomes))
    short = [c.replace("test_", "").replace("simplecnn", "cnn").replace("_forward", "_fwd")
             .replace("_backward", "_bwd").replace("output_size", "outsize").replace("receptive_field", "rf")
             for c in auto]
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


def run_demo(root: str = course.ROOT, workers: int | None = None, progress: bool = True) -> str:
    print("== release: nbgrader generate_assignment -> release/09_spatial")
    course.release(root)
    print("== sample submissions -> submitted/")
    for d in ("submitted", "autograded", "feedback", ".grading"):
        shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    students = build_samples(root)
    print("   " + ", ".join(students))
    print("== grading (sandboxed, trusted checks)")
    batch.grade_batch(root, workers=workers, progress=progress)
    print("== feedback -> feedback/")
    course.feedback(root)
    print("== export -> grades.csv")
    course.export(root)
    table = score_table(root, students)
    print(table)
    return table
