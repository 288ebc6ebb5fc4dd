"""The one-line summary a batch ends with."""
from __future__ import annotations

from grader.engine.batch import Outcome, summary_line


def test_summary_counts_and_reasons():
    outcomes = [
        Outcome("ada", "graded", [], 44.0, 52.0, 5.0),
        Outcome("bo", "graded_with_incidents", ["timeout", "out_of_memory"], 30.0, 52.0, 40.0),
        Outcome("cai", "failed", ["no notebook submitted (expected 09_spatial.ipynb)"], 0.0, 52.0, 0.0),
        Outcome("dee", "failed", ["execution failed: RuntimeError: worker lost", "second reason: ignored"],
                0.0, 52.0, 0.0),
        Outcome("eve", "failed", ["execution failed: OSError: no sandbox"], 0.0, 52.0, 0.0),
        Outcome("fay", "graded", [], 44.0, 52.0, 5.0, skipped=True),
        Outcome("gus", "failed", ["empty"], 0.0, 52.0, 0.0, skipped=True),
        Outcome("hal", "graded_with_incidents", ["crashed"], 40.0, 52.0, 9.0, skipped=True),
    ]
    assert summary_line(outcomes, 12.34) == (
        "2 graded (1 with incidents), 3 failed, 3 skipped (unchanged) in 12.3 s — reasons: "
        "execution failed: 2, no notebook submitted (expected 09_spatial.ipynb): 1, out_of_memory: 1, timeout: 1")


def test_summary_of_a_batch_with_nothing_to_do():
    skipped = [Outcome(s, "graded", [], 44.0, 52.0, 5.0, skipped=True) for s in ("ada", "bo")]
    assert summary_line(skipped, 0.04) == "0 graded (0 with incidents), 0 failed, 2 skipped (unchanged) in 0.0 s"
    assert summary_line([], 0.0) == "0 graded (0 with incidents), 0 failed, 0 skipped (unchanged) in 0.0 s"
