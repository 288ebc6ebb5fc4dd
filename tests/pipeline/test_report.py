"""``make report``: the numbers, the HTML page and the plots for the graded demo class."""
from __future__ import annotations

import html
import os
import shutil
import statistics
import struct

import nbformat
import pytest

from grader.engine import batch, course
from grader.engine.records import INCIDENT_KINDS
from grader.tools import report
from grader.tools.cli import main

from ..conftest import ASSIGNMENT, MUTANTS, SPATIAL

DEMO = SPATIAL.module("samples.demo")

# Autograded totals out of 44: each buggy sample keeps, of the cells its mutant fails, the share of the hidden
# checks it still passes (partial credit, equal weights; a failing visible check counts against the cell).
# pat_truncated_file cannot be graded (a failure record, left out of the totals); oscar's endless loop costs
# nothing but is an incident; mallory's and trudy's tampering earn what the blank release does (trudy's
# fake agent is an incident too).
DEMO_TOTALS = {"alice_loops": 44.0, "bob_im2col": 44.0, "carol_blank": 0.0, "dave_flipped_kernel": 35.6,
               "erin_maxpool_stride1": 29 + 1 / 3, "frank_avgpool_div4": 41.0, "grace_bias_grad": 35.0,
               "mallory_patches_numpy": 0.0, "oscar_endless_loop": 44.0, "trudy_fakes_the_agent": 0.0}
STATUS = {**{s: "graded" for s in DEMO_TOTALS}, "oscar_endless_loop": "graded_with_incidents",
          "pat_truncated_file": "failed", "trudy_fakes_the_agent": "graded_with_incidents"}
ZERO_EVERYWHERE = ("carol_blank", "mallory_patches_numpy", "trudy_fakes_the_agent")
GRADED = len(DEMO_TOTALS)   # 10: pat's failure record is not a graded attempt
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def notebook_auto_cells(root):
    nb = nbformat.read(os.path.join(root, "source", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells
           if c.metadata.get("nbgrader", {}).get("grade")]
    return [i for i in ids if i.startswith("test_")]


def assert_png(path):
    with open(path, "rb") as fh:
        data = fh.read()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 300 and height >= 200
    assert len(data) > 5000


@pytest.mark.slow
def test_gather_summarises_the_demo_class(demo_course):
    root, students, _, _ = demo_course
    data = report.gather(ASSIGNMENT, root)
    assert data.counts == {"graded": 8, "graded_with_incidents": 2, "failed": 1, "not_graded": 0}
    assert data.failure_kinds == {"the notebook is not valid notebook JSON": 1}
    assert data.max_auto == 44.0
    assert data.totals == pytest.approx(DEMO_TOTALS)
    assert data.mean == pytest.approx((272.6 + 1 / 3) / 10)
    assert data.median == pytest.approx(35.3)
    assert data.bin_edges == [0, 5, 10, 15, 20, 25, 30, 35, 40, 44]
    assert data.bin_counts == [3, 0, 0, 0, 0, 1, 0, 2, 4]
    assert [(o.student, o.status) for o in data.issues] == [("oscar_endless_loop", "graded_with_incidents"),
                                                            ("pat_truncated_file", "failed"),
                                                            ("trudy_fakes_the_agent", "graded_with_incidents")]
    assert data.not_graded == []
    assert len(data.slowest) == report.SLOWEST == 10 < len(students)
    oscar = next(o for o in data.slowest if o.student == "oscar_endless_loop")
    assert oscar.seconds >= 20                                          # its endless cell ran to the 20 s limit
    assert "pat_truncated_file" not in {o.student for o in data.slowest}  # never executed: 0 s
    assert [o.seconds for o in data.slowest] == sorted((o.seconds for o in data.slowest), reverse=True)
    assert data.manual_cells == {"answer_sharing": 4.0, "answer_im2col": 4.0}


@pytest.mark.slow
def test_cell_pass_rates_follow_the_demo_bugs(demo_course):
    root, _, _, _ = demo_course
    cells = {c.grade_id: c for c in report.gather(ASSIGNMENT, root).cells}
    assert list(cells) == notebook_auto_cells(root)
    out_size = cells["test_conv_output_size"]
    # over the 10 graded submissions (pat's failure record is not a graded attempt)
    assert (out_size.points, out_size.full, out_size.partial, out_size.zero) == (2.0, 7, 0, 3)
    assert out_size.rate(out_size.full) == pytest.approx(7 / 10)
    training = cells["test_simplecnn_training"]   # dave, erin, grace's bugs break training; the three zeros: none
    assert (training.full, training.partial, training.zero) == (4, 0, 6)
    # the buggy samples' cells that keep a share of their points (a hidden check still passes)
    partial = {"test_conv2d_forward": 1, "test_maxpool2d_forward": 1, "test_simplecnn_structure": 1}
    for cell, stats in cells.items():   # the three zeros fail every cell, each buggy sample its mutant's cells
        failing = len(ZERO_EVERYWHERE) + sum(cell in MUTANTS[m].fails for m in DEMO.BUGGY.values())
        assert (stats.full, stats.partial, stats.zero) == (
            GRADED - failing, partial.get(cell, 0), failing - partial.get(cell, 0)), cell


@pytest.mark.slow
def test_cli_writes_html_and_png_plots(demo_course, tmp_path, monkeypatch, capsys):
    root, students, _, _ = demo_course
    monkeypatch.setattr(course, "ROOT", root)
    out = tmp_path / "out"
    assert main(["report", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    # a report per assignment of the course, then the index that links them
    assert printed == [str(out / "04_losses" / "report.html"), str(out / ASSIGNMENT / "report.html"),
                       str(out / "index.html")]
    path = printed[1]
    assert_png(out / ASSIGNMENT / "scores.png")
    assert_png(out / ASSIGNMENT / "cells.png")
    with open(out / "index.html", encoding="utf-8") as fh:
        index = fh.read()
    assert '<a href="09_spatial/report.html">' in index and '<a href="04_losses/report.html">' in index
    with open(path, encoding="utf-8") as fh:
        page = fh.read()
    assert '<img src="scores.png"' in page and '<img src="cells.png"' in page
    assert "<script" not in page and "<link" not in page and "http" not in page
    for student in students:
        assert f"<td>{student}</td><td>{STATUS[student]}</td>" in page
    assert "35.3 / 44" in page                                 # median
    assert ("<td>(hidden) values match the reference over strides, paddings, non-square inputs and kernels</td>"
            "<td class=\"n\">6/10 (60%)</td>") in page           # dave and the three zeros fail it
    assert "<td>40 ≤ score ≤ 44</td><td class=\"n\">4</td>" in page
    assert "<td><code>test_conv_output_size</code></td><td class=\"n\">2</td><td class=\"n\">7 (70%)</td>" in page
    assert ("<tr><td>oscar_endless_loop</td><td>graded_with_incidents</td>"
            f"<td><code>timeout</code>: {html.escape(INCIDENT_KINDS['timeout'])}</td>") in page
    assert "<tr><td>pat_truncated_file</td><td>failed</td><td>the notebook is not valid notebook JSON" in page
    assert "Every graded submission was graded cleanly." not in page


@pytest.mark.slow
def test_failures_incidents_and_hostile_ids_are_listed_escaped(demo_course, tmp_path):
    source, _, _, _ = demo_course
    root = str(tmp_path / "course")
    shutil.copytree(source, root, symlinks=True)
    paths = batch.Paths(root, ASSIGNMENT)
    db_url = course.load_config(root).CourseDirectory.db_url
    extra = [
        batch.Outcome("<script>", "failed", ["nbgrader could not read the notebook: <b>&</b>"], 0.0, 52.0, 0.0),
        batch.Outcome("ivan_timeout", "graded_with_incidents", ["timeout", "out_of_memory"], 0.0, 52.0, 999.0),
        batch.Outcome("judy_unreadable", "failed", ["the notebook is not UTF-8 text (invalid start byte)"],
                      0.0, 52.0, 0.0),
    ]
    for outcome in extra:
        batch.zero_row(db_url, outcome.student, ASSIGNMENT)
        batch.write_state(paths, outcome, "test")
    os.makedirs(os.path.join(root, "submitted", "kim_waiting", ASSIGNMENT))

    data = report.gather(ASSIGNMENT, root)
    assert data.counts == {"graded": 8, "graded_with_incidents": 3, "failed": 3, "not_graded": 1}
    assert data.failure_kinds == {"nbgrader could not read the notebook": 1,
                                  "the notebook is not UTF-8 text (invalid start byte)": 1,
                                  "the notebook is not valid notebook JSON": 1}
    assert [o.student for o in data.issues] == ["<script>", "ivan_timeout", "judy_unreadable", "oscar_endless_loop",
                                                "pat_truncated_file", "trudy_fakes_the_agent"]
    assert data.not_graded == ["kim_waiting"]
    assert data.totals == pytest.approx({**DEMO_TOTALS, "ivan_timeout": 0.0})   # failed submissions are left out
    assert data.bin_counts == [4, 0, 0, 0, 0, 1, 0, 2, 4]
    assert data.median == statistics.median(data.totals.values()) == 35.0
    assert data.slowest[0].student == "ivan_timeout"
    out_size = next(c for c in data.cells if c.grade_id == "test_conv_output_size")
    assert (out_size.full, out_size.partial, out_size.zero) == (7, 0, 4)

    path = report.build_report(ASSIGNMENT, root)
    assert path == os.path.join(root, "reports", ASSIGNMENT, "report.html")
    with open(path, encoding="utf-8") as fh:
        page = fh.read()
    assert "<script" not in page and "<b>" not in page
    assert ("<tr><td>&lt;script&gt;</td><td>failed</td>"
            "<td>nbgrader could not read the notebook: &lt;b&gt;&amp;&lt;/b&gt;</td>") in page
    assert ("<tr><td>ivan_timeout</td><td>graded_with_incidents</td>"
            f"<td><code>timeout</code>: {html.escape(INCIDENT_KINDS['timeout'])}<br>"
            f"<code>out_of_memory</code>: {html.escape(INCIDENT_KINDS['out_of_memory'])}</td>") in page
    assert "<tr><td>judy_unreadable</td><td>failed</td><td>the notebook is not UTF-8 text" in page
    assert "failed (nbgrader could not read the notebook: 1, the notebook is not UTF-8 text" in page
    assert "kim_waiting" in page


def test_nothing_graded_is_a_clear_error(course_copy, monkeypatch, capsys):
    os.makedirs(os.path.join(course_copy, "submitted", "alice", ASSIGNMENT))
    with pytest.raises(report.NothingGraded) as err:
        report.build_report(ASSIGNMENT, course_copy)
    message = str(err.value)
    assert "nothing has been graded yet for 09_spatial" in message
    assert os.path.join(course_copy, ".grading", "state", ASSIGNMENT) in message
    assert "found none; 1 submission(s)" in message
    assert not os.path.exists(os.path.join(course_copy, "reports"))
    assert not os.path.exists(os.path.join(course_copy, "gradebook.db"))

    monkeypatch.setattr(course, "ROOT", course_copy)
    assert main(["report"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: nothing has been graded yet")


def test_check_stats_count_passes_and_group_failures_by_their_pattern():
    from grader.engine.records import CheckOutcome, GradingRecord

    def record(student, passed_a, message_b):
        return GradingRecord(student, ASSIGNMENT, ASSIGNMENT, checks=[
            CheckOutcome("test_x", "test_x.a", "a works", False, passed_a, "" if passed_a else "a off by 1"),
            CheckOutcome("test_x", "test_x.b", "b works", True, message_b is None, message_b or "")])
    stats = report.check_stats([record("ada", True, "3 of 12 values differ at (0, 1)"),
                                record("bo", False, "5 of 12 values differ at (2, 0)"),
                                record("cy", True, None), record("di", True, "expected shape (2, 3), got (3, 2).")])
    assert [(s.check, s.hidden, s.passed, s.total, s.rate) for s in stats] == [
        ("test_x.a", False, 3, 4, 0.75), ("test_x.b", True, 1, 4, 0.25)]
    assert stats[0].failures == [("a off by #", 1)]
    assert stats[1].failures == [("# of # values differ at (#, #)", 2), ("expected shape (#, #), got (#, #).", 1)]
