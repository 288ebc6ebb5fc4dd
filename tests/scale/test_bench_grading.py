"""The grading benchmark (python -m grader bench) at tiny N: the structure of its result, not its timings."""
from __future__ import annotations

import os

import pytest

from grader.harness import bench_grading as bench

from ..conftest import SPATIAL

pytestmark = pytest.mark.slow

MIX = [bench.Kind("correct", "im2col"), bench.Kind("buggy", "outsize_true_division"), bench.Kind("blank", "release")]


def test_stock_vs_ours_one_worker(tmp_path):
    assert bench.sandbox_ready() == "", "the benchmark needs the sandbox (root and bubblewrap: make sysdeps)"
    keep = str(tmp_path / "bench")
    result = bench.run_benchmark(SPATIAL, n=3, mix=MIX, variants=("stock", "ours-1"), isolation=False, keep=keep)
    students = [s.student for s in result.plan]
    assert len(set(students)) == 3 and {s.kind.kind for s in result.plan} == {"correct", "buggy", "blank"}
    correct = next(s.student for s in result.plan if s.kind.kind == "correct")
    buggy = next(s.student for s in result.plan if s.kind.kind == "buggy")
    blank = next(s.student for s in result.plan if s.kind.kind == "blank")

    assert set(result.runs) == {"stock", "ours-1"}
    for name, run in result.runs.items():
        assert run.students == students
        assert run.rows.graded == 3 and run.rows.lost == [] and run.failures == {}, name
        assert run.totals == {correct: 44.0, buggy: 42.0, blank: 0.0}, name
        assert set(run.seconds) == set(students) and all(s > 0 for s in run.seconds.values()), name
        assert run.wall > 0 and run.cpu > 0, name
        assert result.mismatches[name] == [], name

    # the ratio fields: ours vs stock only, and no disagreement between them
    assert set(result.ratios) == set(result.cpu_ratios) == {"ours-1"}
    assert result.ratios["ours-1"] > 0 and result.cpu_ratios["ours-1"] > 0
    assert result.agreement == {"ours-1": []}
    bound, observed = result.bounds["ours-1"]
    assert bound == 3 * result.limits.submission_timeout and observed == result.runs["ours-1"].wall
    assert [ok for ok, text in result.checks if "every submission has a row" in text] == [True, True]

    # no two submissions alike: ours executed (and cached) each of them
    cache = os.path.join(keep, "ours-1", ".grading", "cache")
    cached = [f for _, _, files in os.walk(cache) for f in files if f.endswith(".json")]
    assert len(cached) == 3
