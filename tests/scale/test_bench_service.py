"""The grading service's load bench (python -m grader bench-service) at tiny size: what it finds, not its timings."""
from __future__ import annotations

import json
import os

import pytest

from grader.harness import bench_grading
from grader.harness import bench_service as bench

from ..conftest import SPATIAL

# long: its rate window is waited out in real time; the service's own tests (tests/service) prove the same rules
# with an injected clock
pytestmark = [pytest.mark.slow, pytest.mark.long]

# the quickest notebooks: a correct im2col solution and an im2col one that loses test_conv_output_size
MIX = [bench_grading.Kind("correct", "im2col"), bench_grading.Kind("buggy", "outsize_true_division")]
WINDOW = 45.0   # a student's first grading, three at once on a loaded machine, ends well within it


def test_six_submissions_from_three_students_in_two_bursts(tmp_path):
    assert bench_grading.sandbox_ready() == "", "the bench needs the sandbox (root and bubblewrap: make sysdeps)"
    keep, out = str(tmp_path / "bench"), str(tmp_path / "result.json")
    # each student hands in one per burst; one grading per student per WINDOW s: a second submission waits unless
    # its student's first took longer than that to grade
    result = bench.run_bench(SPATIAL, students=3, per_student=2, bursts=2, gap=2.0, eager=0, rate_limit=1,
                             rate_window=WINDOW, stock=0, breakdown=False, idle=False, keep=keep, out=out, mix=MIX,
                             timeout=600, log=lambda line: None)
    s, b = result.service, result.batch
    assert (s["submissions"], s["students"]) == (6, 3)
    assert [(a.student, a.number, a.burst) for a in bench.arrival_plan(3, 2, 2, 0, MIX)] == [
        ("s0", 1, 0), ("s1", 1, 0), ("s2", 1, 0), ("s0", 2, 1), ("s1", 2, 1), ("s2", 2, 1)]
    # with an eager student (the full bench's way to reach the limit): three at once, and one student hands in one
    assert [(a.student, a.number, a.burst) for a in bench.arrival_plan(3, 2, 2, 1, MIX)] == [
        ("s0", 1, 0), ("s0", 2, 0), ("s0", 3, 0), ("s1", 1, 0), ("s2", 1, 0), ("s1", 2, 1)]

    # every submission graded exactly once, nothing lost, each scored as its kind must be
    assert s["states"] == {"queued": 0, "waiting": 0, "running": 0, "done": 6, "failed": 0, "superseded": 0}
    assert s["not_queued"] == s["lost"] == s["graded_twice"] == s["done_without_graded_row"] == []
    assert s["started_more_than_once"] == [] and s["score_mismatches"] == []
    rows, graded = bench.read_queue(os.path.join(keep, "service"))
    assert len(rows) == 6 and sorted(graded) == sorted(r.id for r in rows) and set(graded.values()) == {1}
    assert result.feedback == {"fetched_with_score": 6, "mismatched": []}
    assert s["submitted_at_skew_seconds"] <= 5.0

    # the rate limit: one start per student per window, and the ones that had to wait were told
    assert s["rate_violations"] == [] and s["waits_respected"] and s["most_starts_in_a_window"] == 1
    assert s["limit_reached_not_waited"] == [] and s["waited"] >= 1 and s["fifo_inversions"] == []
    assert s["wait_notes_missing"] == [] and s["wait_notes_seen"] >= 1   # "graded at <when>", fetched while waiting
    for student in ("s0", "s1", "s2"):
        starts = sorted(r.started_at for r in rows if r.student == student)
        assert all(later - earlier >= WINDOW - 1e-6 for earlier, later in zip(starts, starts[1:])), (student, starts)
    for r in rows:
        if r.not_before is not None:
            assert r.started_at >= r.not_before and r.reason is None and r.feedback_at > r.started_at

    # make grade on the same notebooks, one folder per submission
    assert (b["notebooks"], b["graded"], b["failed"], b["missing"], b["score_mismatches"]) == (6, 6, 0, [], [])
    assert sorted(os.listdir(os.path.join(keep, "batch", "submitted"))) == [
        "s0_1", "s0_2", "s1_1", "s1_2", "s2_1", "s2_2"]

    # the numbers are there
    assert s["per_minute"] > 0 and b["per_minute"] > 0 and result.ratios["throughput_service_vs_batch"] > 0
    assert s["saturated_per_minute"] is None or s["saturated_per_minute"] >= 0
    assert 0 < s["latency_p50"] <= s["latency_p95"] <= s["latency_max"]
    assert s["latency_max"] >= WINDOW - 2   # a waiting submission's latency holds its wait (it came 2 s late)
    assert s["cpu_per_graded"] > 0 and 0 < s["coordinator_cpu_seconds"] < s["cpu_seconds"]
    assert b["cpu_per_submission"] > 0 and result.ratios["cpu_service_vs_batch"] > 0
    assert result.stock is None and result.breakdown is None and result.idle == []
    assert result.ok, [text for ok, text in result.checks if not ok]
    with open(out, encoding="utf-8") as fh:
        written = json.load(fh)
    assert written["service"]["states"]["done"] == 6 and written["ratios"] == result.ratios
    assert any(line.startswith(f"PASS  service: rate limit 1 per {WINDOW:g} s honoured") for line in result.lines)
