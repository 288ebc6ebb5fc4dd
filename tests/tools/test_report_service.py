"""The report's grading-service section (grader.tools.report.service_status / render_service)."""
from __future__ import annotations

import os

from grader.engine.service.queue import QUEUE_FILE, SubmissionQueue
from grader.tools.report import render_service, service_status


def test_no_queue_no_section(tmp_path):
    assert service_status(str(tmp_path), "a1") is None
    assert render_service(None) == ""


def test_section_counts_one_assignment_and_its_latencies(tmp_path):
    queue = SubmissionQueue(os.path.join(tmp_path, QUEUE_FILE))
    for i, (student, latency) in enumerate([("ann", 5.0), ("bob", 9.0), ("ann", 61.0)]):
        s = queue.add(f"n{i}", student, "a1", f"t{i}", 100.0 * i, now=100.0 * i)
        queue.start(s.id)
        queue.finish(s.id, "done", "graded", 1.0, 2.0, None)
        queue.released(s.id, now=100.0 * i + latency)
    waiting = queue.add("w", "cy", "a1", "tw", 500.0, now=500.0)
    queue.wait(waiting.id, 900.0, "rate limit")
    queue.add("other", "dan", "a2", "t", 10.0, now=10.0)
    queue.close()
    status = service_status(str(tmp_path), "a1")
    assert (status["students"], status["done"], status["waiting"], status["queued"]) == (3, 3, 1, 0)
    assert (status["latency_p50"], status["latency_p95"], status["latency_max"], status["rate_limited"]) == \
        (9.0, 61.0, 61.0, 1)
    html = render_service(status)
    assert "<h2>Grading service</h2>" in html
    assert '<td>submissions (students)</td><td class="n">4 (3)</td>' in html
    assert '<td>submit to feedback, median</td><td class="n">9.0 s</td>' in html
    assert '<td>submit to feedback, 95th percentile</td><td class="n">61.0 s</td>' in html
    assert service_status(str(tmp_path), "a3") is None
