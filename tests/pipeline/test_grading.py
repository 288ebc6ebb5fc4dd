"""Through the real nbgrader pipeline: scores, feedback, exports, determinism, nbgrader's own CLI."""
from __future__ import annotations

import csv
import glob
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from grader.engine import batch, course
from grader.engine.nbgrader_ext.execute import earned_points
from grader.engine.records import GradingRecord

from ..conftest import ASSIGNMENT, MUTANTS, SPATIAL
from ..locking import held_elsewhere

DEMO = SPATIAL.module("samples.demo")

pytestmark = pytest.mark.slow
AUTO_CELLS = ["test_conv_output_size", "test_receptive_field", "test_conv2d_init", "test_conv2d_forward",
              "test_conv2d_backward", "test_maxpool2d_forward", "test_maxpool2d_backward",
              "test_avgpool2d_forward", "test_avgpool2d_backward", "test_flatten", "test_simplecnn_structure",
              "test_simplecnn_forward", "test_simplecnn_training"]


def auto_scores(root, student):
    row = course.cell_scores(ASSIGNMENT, root)[student]
    return {c: row[c] for c in AUTO_CELLS}


def test_correct_samples_get_full_marks(demo_course):
    root, _, outcomes, _ = demo_course
    maxima = course.max_scores(ASSIGNMENT, root)
    for student in DEMO.CORRECT:
        assert auto_scores(root, student) == {c: maxima[c] for c in AUTO_CELLS}
        assert outcomes[student].status == "graded" and outcomes[student].reasons == []


def test_blank_release_gets_zero(demo_course):
    root, _, outcomes, _ = demo_course
    assert auto_scores(root, "carol_blank") == {c: 0.0 for c in AUTO_CELLS}
    assert outcomes["carol_blank"].score == 0.0


@pytest.mark.parametrize("student", sorted(DEMO.BUGGY))
def test_buggy_sample_loses_points_exactly_on_its_cells(demo_course, student):
    root, _, _, _ = demo_course
    mutant = MUTANTS[DEMO.BUGGY[student]]
    maxima = course.max_scores(ASSIGNMENT, root)
    scores = auto_scores(root, student)
    lost = {c for c in AUTO_CELLS if scores[c] < maxima[c]}
    assert lost == set(mutant.fails)
    record = grading_record(root, student)
    for cell in lost:   # partial credit: the passing checks' share of the cell's points, as the record says
        checks = [c for c in record.checks if c.cell == cell]
        assert scores[cell] == pytest.approx(earned_points(checks, maxima[cell]))
        assert not all(c.passed for c in checks)


def grading_record(root, student):
    path = os.path.join(root, "autograded", student, ASSIGNMENT, f"{ASSIGNMENT}.grading.json")
    with open(path, encoding="utf-8") as fh:
        return GradingRecord.from_json(fh.read())


def test_partial_credit_gives_a_buggy_cell_its_passing_checks_share_and_the_switch_turns_it_off(demo_course_copy):
    root = demo_course_copy
    student = "dave_flipped_kernel"   # flips the kernel: the forward values fail, weight sharing and shifts pass
    maxima = course.max_scores(ASSIGNMENT, root)
    partial = {c: v for c, v in auto_scores(root, student).items() if v < maxima[c]}
    assert any(0 < v < maxima[c] for c, v in partial.items()), partial
    with open(os.path.join(root, "nbgrader_config.py"), "a", encoding="utf-8") as fh:
        fh.write("\nc.TrustedExecute.partial_credit = False\n")
    outcomes = {o.student: o for o in batch.grade_batch(ASSIGNMENT, root, students=[student], force=True,
                                                        progress=False, log=lambda line: None)}
    assert outcomes[student].status == "graded"
    assert {c: v for c, v in auto_scores(root, student).items() if v < maxima[c]} == {c: 0.0 for c in partial}


def test_hostile_samples_gain_nothing_and_their_reasons_are_recorded(demo_course):
    root, _, outcomes, _ = demo_course
    assert auto_scores(root, "mallory_patches_numpy") == {c: 0.0 for c in AUTO_CELLS}
    assert (outcomes["mallory_patches_numpy"].status, outcomes["mallory_patches_numpy"].reasons) == ("graded", [])
    assert auto_scores(root, "trudy_fakes_the_agent") == {c: 0.0 for c in AUTO_CELLS}
    assert (outcomes["trudy_fakes_the_agent"].status, outcomes["trudy_fakes_the_agent"].reasons) == \
        ("graded_with_incidents", ["agent_unavailable"])
    maxima = course.max_scores(ASSIGNMENT, root)
    assert auto_scores(root, "oscar_endless_loop") == {c: maxima[c] for c in AUTO_CELLS}
    assert (outcomes["oscar_endless_loop"].status, outcomes["oscar_endless_loop"].reasons) == \
        ("graded_with_incidents", ["timeout"])
    pat = outcomes["pat_truncated_file"]
    assert pat.status == "failed" and pat.score == 0.0
    assert pat.reasons[0].startswith("the notebook is not valid notebook JSON: NotJSONError")
    assert pat.reasons[0].endswith("(in 09_spatial.ipynb)")
    assert auto_scores(root, "pat_truncated_file") == {c: 0.0 for c in AUTO_CELLS}   # a zero row


def test_the_demo_prints_one_row_per_student_with_total_and_status(demo_course):
    _, students, _, table = demo_course
    lines = table.splitlines()
    assert lines[0].startswith("student ") and lines[0].endswith("   total  status")
    rows = {line.split()[0]: line for line in lines[2:2 + len(students)]}
    assert sorted(rows) == sorted(students) == sorted(list(DEMO.CORRECT) + list(DEMO.BUGGY) + list(DEMO.HOSTILE)
                                                      + ["carol_blank"])
    totals = {s: rows[s].split("   ")[-1].split()[0] for s in rows}
    assert totals == {"alice_loops": "44/44", "bob_im2col": "44/44", "carol_blank": "0/44",
                      "dave_flipped_kernel": "35.6/44", "erin_maxpool_stride1": "29.33/44",
                      "frank_avgpool_div4": "41/44", "grace_bias_grad": "35/44", "mallory_patches_numpy": "0/44",
                      "oscar_endless_loop": "44/44", "pat_truncated_file": "0/44", "trudy_fakes_the_agent": "0/44"}
    assert rows["trudy_fakes_the_agent"].endswith("graded_with_incidents (agent_unavailable)")
    assert rows["oscar_endless_loop"].endswith("graded_with_incidents (timeout)")
    assert "  failed (the notebook is not valid notebook JSON" in rows["pat_truncated_file"]
    assert rows["alice_loops"].endswith("  graded") and " 6/6 " in rows["alice_loops"]
    assert " 1.33/4 " in rows["erin_maxpool_stride1"] and " 3.6/6 " in rows["dave_flipped_kernel"]   # partial credit
    assert lines[-1] == "(autograded cells only; 2 written answers worth 8 points await manual grading in formgrader)"


def test_grades_csv_export(demo_course):
    """The demo's export step wrote grades.csv (nbgrader's CSV export) with every student's scores."""
    root, students, _, _ = demo_course
    with open(os.path.join(root, "grades.csv"), newline="") as fh:
        every = list(csv.DictReader(fh))
    rows = {r["student_id"]: r for r in every if r["assignment"] == ASSIGNMENT}
    # one export for the course: nbgrader lists every student of the gradebook under every assignment,
    # with 0 points where they submitted nothing
    others = set(rows) - set(students)
    assert set(students) <= set(rows) and len(others) >= 5
    assert all(float(rows[s]["raw_score"]) == 0.0 for s in others)
    assert len(every) == 2 * len(rows) and {r["assignment"] for r in every} == {ASSIGNMENT, "04_losses"}
    assert float(rows["alice_loops"]["raw_score"]) == 44.0
    assert float(rows["carol_blank"]["raw_score"]) == 0.0
    assert float(rows["dave_flipped_kernel"]["raw_score"]) == 35.6     # 3.6 of 6 on the forward cell, 0 on the CNN's
    assert float(rows["erin_maxpool_stride1"]["raw_score"]) == pytest.approx(29 + 1 / 3)   # fractional, unrounded
    assert float(rows["alice_loops"]["max_score"]) == 52.0


def hidden_lines(root):
    nb = nbformat.read(os.path.join(root, "source", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), as_version=4)
    return [line.strip() for c in nb.cells
            for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", c.source, re.S)
            for line in block.splitlines() if line.strip()]


def hidden_code_lines():
    """Distinctive lines of the hidden checks' own source (they must never surface)."""
    with open(SPATIAL.module("hidden_checks").__file__, encoding="utf-8") as fh:
        return [line.strip() for line in fh
                if len(line.strip()) >= 30 and not line.strip().startswith(("#", '"', "hint="))]


# markers of the trusted side: its files, packages and check function names
TRUSTED_MARKS = ["hidden_checks", "/grader/", "tinytorch_ref", "conv_forward_grid", "maxpool_ties", "case_rng("]


def test_feedback_shows_no_hidden_test_source_and_no_grader_traceback(demo_course):
    """The feedback pages the demo's feedback step wrote (nbgrader generate_feedback)."""
    root, students, _, _ = demo_course
    secrets = hidden_lines(root)
    assert len(secrets) == 13
    code_lines = hidden_code_lines()
    assert len(code_lines) > 50
    pages = glob.glob(os.path.join(root, "feedback", "*", ASSIGNMENT, "*.html"))
    # every graded submission has its page; the ungradable one (a truncated file) has none
    assert sorted(p.split(os.sep)[-3] for p in pages) == sorted(set(students) - {"pat_truncated_file"})
    for page in pages:
        with open(page, encoding="utf-8") as fh:
            html = fh.read()
        assert "test_conv2d_forward" in html  # it is the real feedback page
        for line in secrets + code_lines:
            assert line not in html and line.replace('"', "&quot;") not in html, (page, line)
        for mark in TRUSTED_MARKS:
            assert mark not in html, (page, mark)
    with open(os.path.join(root, "feedback", "dave_flipped_kernel", ASSIGNMENT, f"{ASSIGNMENT}.html")) as fh:
        dave = fh.read()
    assert "(hidden) values match the reference" in dave and "flipped" in dave  # says what broke


def test_graded_cell_outputs_carry_no_traceback_or_hidden_code(demo_course):
    root, students, outcomes, _ = demo_course
    code_lines = hidden_code_lines()
    for student in (s for s in students if outcomes[s].status != "failed"):
        nb = nbformat.read(os.path.join(root, "autograded", student, ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), as_version=4)
        graded = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
        assert len(graded) == 13
        for cell in graded:
            text = "".join(str(o) for o in cell.outputs)
            assert "Traceback" not in text and "run(" not in text
            for mark in TRUSTED_MARKS:
                assert mark not in text, (student, cell.metadata.nbgrader.grade_id, mark)
            assert not any(line in text for line in code_lines)


# one sample of each kind that executes quickly: correct, buggy (partial credit), blank, tampering
REGRADED = ["bob_im2col", "dave_flipped_kernel", "carol_blank", "mallory_patches_numpy"]


def test_regrading_from_scratch_gives_identical_scores(demo_course, demo_course_copy):
    root = demo_course_copy
    before = course.cell_scores(ASSIGNMENT, demo_course[0])
    assert course.cell_scores(ASSIGNMENT, root) == before      # the copy starts with the demo's gradebook
    shutil.rmtree(os.path.join(root, ".grading"))  # no cache, no state: execute them again
    outcomes = batch.grade_batch(ASSIGNMENT, root, students=REGRADED, workers=2, progress=False)
    assert [o.student for o in outcomes] == REGRADED and not any(o.skipped for o in outcomes)
    assert course.cell_scores(ASSIGNMENT, root) == before


def test_rerunning_a_finished_batch_does_no_work(demo_course):
    root, students, _, _ = demo_course
    outcomes = batch.grade_batch(ASSIGNMENT, root, workers=2, progress=False)
    assert [o.student for o in outcomes] == students and all(o.skipped for o in outcomes)


def test_a_submission_paired_with_jupytext_shares_the_execution_and_is_autograded_unpaired(demo_course,
                                                                                           demo_course_copy):
    """The pairing changes no verdict: the submission is recorded again from the cached execution, and the
    autograded notebook drops it (the instructor's lab would otherwise write a .pct.py into autograded/)."""
    root, student = demo_course_copy, "carol_blank"
    path = os.path.join(root, "submitted", student, ASSIGNMENT, f"{ASSIGNMENT}.ipynb")
    nb = nbformat.read(path, as_version=4)
    assert "jupytext" not in nb.metadata   # the release carries no pairing
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nbformat.write(nb, path)
    cache = os.path.join(root, ".grading", "cache")
    cached_before = sorted(glob.glob(os.path.join(cache, "*", "*.json")))
    (outcome,) = batch.grade_batch(ASSIGNMENT, root, students=[student], progress=False, log=lambda line: None)
    assert (outcome.status, outcome.skipped, outcome.score) == ("graded", False, 0.0)
    assert outcome.key == demo_course[2][student].key                      # the same execution key
    assert sorted(glob.glob(os.path.join(cache, "*", "*.json"))) == cached_before   # nothing new executed
    autograded = nbformat.read(os.path.join(root, "autograded", student, ASSIGNMENT, f"{ASSIGNMENT}.ipynb"),
                               as_version=4)
    assert autograded.metadata == {"kernelspec": nb.metadata["kernelspec"]}
    assert nbformat.read(path, as_version=4).metadata["jupytext"] == {"formats": "ipynb,py:percent"}


def test_nbgrader_cli_autograde_and_export_work_on_the_course(demo_course_copy):
    root = demo_course_copy
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    result = subprocess.run(["nbgrader", "autograde", ASSIGNMENT, "--student", "frank_avgpool_div4", "--force"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert auto_scores(root, "frank_avgpool_div4")["test_avgpool2d_forward"] == 0.0   # its hidden check fails
    assert auto_scores(root, "frank_avgpool_div4")["test_conv2d_forward"] == 6.0
    result = subprocess.run(["nbgrader", "export", "--to", "cli.csv"], cwd=root, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(os.path.join(root, "cli.csv")) as fh:
        assert "frank_avgpool_div4" in fh.read()

    # while another process grades the course (the grading service), nbgrader's autograde refuses, saying who,
    # before it touches the submission
    graded = os.path.join(root, "autograded", "frank_avgpool_div4", ASSIGNMENT, f"{ASSIGNMENT}.ipynb")
    with open(graded, "rb") as fh:
        graded_before = fh.read()
    with held_elsewhere(root, "the grading service (python -m grader serve)") as holder:
        result = subprocess.run(["nbgrader", "autograde", ASSIGNMENT, "--student", "frank_avgpool_div4", "--force"],
                                cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"the grading service (python -m grader serve) (pid {holder.pid}, since " in result.stderr, \
        result.stderr[-2000:]
    assert "Traceback" not in result.stderr   # an error for the instructor, not a crash
    assert "nbgrader autograde would write the same autograded/ folders and gradebook scores" in result.stderr
    assert auto_scores(root, "frank_avgpool_div4")["test_conv2d_forward"] == 6.0   # the gradebook keeps its score
    with open(graded, "rb") as fh:
        assert fh.read() == graded_before                                         # and autograded/ its notebook
