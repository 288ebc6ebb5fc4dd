"""The grading service's durable queue and its policy (grader.engine.service.queue / policy), no grading."""
from __future__ import annotations

import datetime

import pytest

from grader.engine.service.policy import ServicePolicy
from grader.engine.service.queue import SubmissionQueue, percentile, status_line


@pytest.fixture()
def queue(tmp_path):
    q = SubmissionQueue(str(tmp_path / "service.sqlite"))
    yield q
    q.close()


def add(queue, name, student="ann", assignment="a1", at=1000.0, seen=None):
    return queue.add(name, student, assignment, f"ts{at}", at, now=seen if seen is not None else at + 1)


def test_a_submission_is_queued_once_however_often_it_is_found(queue):
    first = add(queue, "ann+a1+t1+x")
    assert first.state == "queued" and first.attempts == 0
    assert add(queue, "ann+a1+t1+x") is None
    assert [s.inbound for s in queue.all()] == ["ann+a1+t1+x"]


def test_pending_is_first_ready_first_and_fifo_among_equals(queue):
    a = add(queue, "a", student="ann", seen=10.0)
    b = add(queue, "b", student="bob", seen=10.0)
    c = add(queue, "c", student="cy", seen=5.0)
    queue.wait(c.id, not_before=50.0, reason="rate limit")
    assert [s.inbound for s in queue.pending()] == ["a", "b", "c"]
    assert queue.get(c.id).ready_at == 50.0 and queue.get(a.id).ready_at == 10.0
    assert b.id > a.id


def test_recover_requeues_running_and_keeps_the_first_start(queue):
    s = add(queue, "ann+a1+t1+x")
    queue.start(s.id, now=2000.0)
    assert [r.id for r in queue.recover()] == [s.id]
    again = queue.get(s.id)
    assert again.state == "queued" and again.attempts == 1
    queue.start(s.id, now=2500.0)
    assert queue.get(s.id).started_at == 2000.0 and queue.get(s.id).attempts == 2
    assert queue.started_since("ann", "a1", 1999.0) == [2000.0]
    assert queue.started_since("ann", "a1", 2001.0) == []


def test_finish_counts_a_grading_once(queue):
    s = add(queue, "ann+a1+t1+x")
    queue.start(s.id)
    queue.finish(s.id, "done", "graded", 40.0, 52.0, None, now=3000.0)
    assert queue.graded_count() == {s.id: 1}
    with pytest.raises(Exception, match="UNIQUE"):
        queue.finish(s.id, "done", "graded", 40.0, 52.0, None)
    assert queue.graded_count() == {s.id: 1} and queue.get(s.id).state == "done"
    with pytest.raises(ValueError, match="'done' or 'failed', not 'waiting'"):
        queue.finish(s.id, "waiting", "graded", 0, 0, None)


def test_the_queue_survives_reopening(tmp_path):
    path = str(tmp_path / "q.sqlite")
    q = SubmissionQueue(path)
    s = add(q, "ann+a1+t1+x")
    q.start(s.id)
    q.close()
    again = SubmissionQueue(path)
    assert [(r.inbound, r.state) for r in again.all()] == [("ann+a1+t1+x", "running")]
    again.close()


def test_counting_flag_moves_with_the_policy(queue):
    s1, s2 = add(queue, "1", at=100.0), add(queue, "2", at=200.0)
    queue.set_counting("ann", "a1", s1.id)
    assert [q.counts for q in queue.all()] == [1, 0]
    queue.set_counting("ann", "a1", s2.id)
    assert [q.counts for q in queue.all()] == [0, 1]


def test_status_counts_and_latencies(queue):
    for i, latency in enumerate([4.0, 6.0, 10.0, 30.0]):
        s = add(queue, f"s{i}", student=f"st{i}", at=100.0)
        queue.start(s.id)
        queue.finish(s.id, "done", "graded", 1, 2, None)
        queue.released(s.id, now=100.0 + latency)
    w = add(queue, "w", student="late", at=100.0)
    queue.wait(w.id, 900.0, "rate limit")
    add(queue, "q", student="new", at=100.0, seen=150.0)
    status = queue.status(now=160.0)
    assert (status["queue"], status["waiting"], status["queued"], status["done"]) == (2, 1, 1, 4)
    assert (status["latency_p50"], status["latency_p95"], status["latency_max"]) == (6.0, 30.0, 30.0)
    assert status["oldest_queued_seconds"] == 10.0
    assert status_line(status).startswith("queue 2 (1 rate-limited), running 0, done 4, failed 0")


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([1.0], 95) == 1.0
    assert percentile([float(v) for v in range(1, 21)], 95) == 19.0
    assert percentile([float(v) for v in range(1, 21)], 50) == 10.0


def test_rate_limit_opens_when_the_oldest_start_in_the_window_leaves_it():
    policy = ServicePolicy(rate_limit=3, rate_window=3600.0)
    assert policy.limit_wait([100.0, 200.0], now=300.0) is None
    assert policy.limit_wait([100.0, 200.0, 250.0], now=300.0) == 3700.0
    assert policy.limit_wait([100.0, 200.0, 250.0, 260.0], now=300.0) == 3800.0
    assert policy.limit_wait([100.0, 200.0, 250.0], now=3701.0) is None
    assert ServicePolicy(rate_limit=0).limit_wait([1.0] * 10, now=2.0) is None


class _S:
    def __init__(self, name, at):
        self.name, self.submitted_at = name, at


def test_counting_policy():
    due = datetime.datetime(2026, 3, 1, 17, 0)
    on_time = due.replace(tzinfo=datetime.timezone.utc).timestamp()
    subs = [_S("early", on_time - 100), _S("last_on_time", on_time), _S("late", on_time + 1)]
    assert ServicePolicy().counting(subs, due).name == "last_on_time"
    assert ServicePolicy(counts="last").counting(subs, due).name == "late"
    assert ServicePolicy().counting(subs[2:], due).name == "late"
    assert ServicePolicy().counting(subs, None).name == "late"
    assert ServicePolicy().counting([], due) is None
