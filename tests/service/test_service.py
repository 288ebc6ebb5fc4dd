"""The grading service end to end: nbgrader's exchange, the real sandbox, the gradebook, Fetch Feedback."""
from __future__ import annotations

import datetime
import os
import time

import pytest
from nbgrader.api import Gradebook

from grader.engine import batch, course, grading_lock
from grader.engine.service.queue import SubmissionQueue
from grader.engine.service.server import QUEUE_FILE, GradingService
from grader.harness import students

from .conftest import ASSIGNMENT, notebook

FULL = 44.0   # what a correct solution earns of 52 (8 points are graded by hand)


def serve(root: str, **kwargs) -> GradingService:
    service = GradingService(root, workers=2, log=lambda *_: None, **kwargs)
    service.run(until_idle=True, timeout=240)
    return service


def gradebook_score(root: str, student: str) -> tuple[float, float]:
    with Gradebook(course.load_config(root).CourseDirectory.db_url) as gb:
        sub = gb.find_submission(ASSIGNMENT, student)
        return sub.score, sub.late_submission_penalty


def queue_rows(root: str):
    queue = SubmissionQueue(os.path.join(root, QUEUE_FILE))
    try:
        return queue.all(), queue.graded_count()
    finally:
        queue.close()


def test_submit_feedback_fix_resubmit(make_course):
    root = make_course()
    first = students.submit(root, ASSIGNMENT, "ann", notebook(root, mutant="flipped_kernel"))
    serve(root)
    pages = students.fetch_feedback(root, ASSIGNMENT, "ann")
    assert len(pages) == 1
    (page,) = pages.values()
    buggy = students.page_score(page)
    assert buggy is not None and buggy[1] == 52.0 and buggy[0] < FULL
    assert "This is the submission your grade counts." in page
    assert "You can have 2 more submissions graded now" in page
    assert "[FAIL] (hidden)" in page and "hidden=True" not in page   # hidden verdicts, never hidden-test source
    second = students.submit(root, ASSIGNMENT, "ann", notebook(root, style="im2col"))
    serve(root)
    pages = students.fetch_feedback(root, ASSIGNMENT, "ann")
    assert len(pages) == 2
    newest = pages[max(pages)]
    assert students.page_score(newest) == (FULL, 52.0)
    assert students.page_score(pages[min(pages)]) == buggy    # the first submission keeps its own feedback
    assert gradebook_score(root, "ann") == (FULL, 0.0)
    rows, graded = queue_rows(root)
    assert [(r.inbound, r.state, r.counts, r.attempts) for r in rows] == [(first, "done", 0, 1), (second, "done", 1, 1)]
    assert graded == {rows[0].id: 1, rows[1].id: 1}
    assert rows[0].score == buggy[0] and rows[1].score == FULL


def test_rate_limit_waits_says_until_when_and_a_newer_submission_replaces_the_waiting_one(make_course):
    root = make_course("c.ServicePolicy.rate_limit = 1\n")   # per the default window, an hour
    skipped = [0.0]       # the service's clock runs this many seconds ahead of the wall clock
    service = GradingService(root, workers=2, log=lambda *_: None, clock=lambda: time.time() + skipped[0])
    nb = notebook(root)
    students.submit(root, ASSIGNMENT, "bob", nb)
    service.run(until_idle=True, timeout=240)
    waiting = students.submit(root, ASSIGNMENT, "bob", nb)
    service.scan()
    service.schedule()
    rows, _ = queue_rows(root)
    assert rows[1].state == "waiting"
    assert rows[1].not_before == rows[0].started_at + 3600
    opens = datetime.datetime.fromtimestamp(rows[1].not_before, datetime.timezone.utc).strftime("%H:%M:%S UTC")
    page = students.fetch_feedback(root, ASSIGNMENT, "bob")[rows[1].timestamp]
    assert "Waiting for your rate limit" in page and opens in page
    newest = students.submit(root, ASSIGNMENT, "bob", notebook(root, mutant="flipped_kernel"))
    service.scan()
    service.schedule()
    rows, _ = queue_rows(root)
    assert [r.state for r in rows] == ["done", "superseded", "waiting"]
    skipped[0] = 3600.0
    service.run(until_idle=True, timeout=240)
    rows, graded = queue_rows(root)
    assert [r.state for r in rows] == ["done", "superseded", "done"]
    assert rows[2].inbound == newest and rows[1].inbound == waiting
    assert rows[2].started_at >= rows[0].started_at + 3600
    assert rows[1].reason == f"replaced by the newer submission of {rows[2].timestamp} while it waited"
    assert set(graded) == {rows[0].id, rows[2].id}
    pages = students.fetch_feedback(root, ASSIGNMENT, "bob")
    assert "Not graded" in pages[rows[1].timestamp]
    assert students.page_score(pages[rows[2].timestamp])[0] < FULL
    assert "You can have 0 more submissions graded now; the next one after" in pages[rows[2].timestamp]


def test_a_late_submission_does_not_replace_the_on_time_score(make_course):
    root = make_course()
    students.submit(root, ASSIGNMENT, "cy", notebook(root))
    serve(root)
    due = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with Gradebook(course.load_config(root).CourseDirectory.db_url) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=due)      # after the first submission, before the second
    students.submit(root, ASSIGNMENT, "cy", notebook(root, mutant="flipped_kernel"))
    serve(root)
    rows, graded = queue_rows(root)
    assert [(r.state, r.counts) for r in rows] == [("done", 1), ("done", 0)]
    assert rows[1].score < FULL and graded == {rows[0].id: 1, rows[1].id: 1}
    assert gradebook_score(root, "cy") == (FULL, 0.0)
    pages = students.fetch_feedback(root, ASSIGNMENT, "cy")
    late = pages[rows[1].timestamp]
    assert (f"Your grade counts your submission of {rows[0].timestamp} (the last one by the due date), "
            "not this one.") in late
    assert "Late submission penalty" in late


def test_visible_only_feedback_before_the_due_date(make_course):
    root = make_course('c.ServicePolicy.feedback_before_deadline = "visible"\n')
    with Gradebook(course.load_config(root).CourseDirectory.db_url) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime.datetime(2099, 1, 1))
    students.submit(root, ASSIGNMENT, "dee", notebook(root, mutant="flipped_kernel"))
    serve(root)
    (page,) = students.fetch_feedback(root, ASSIGNMENT, "dee").values()
    assert "(hidden)" not in page and "Score:" not in page and "points" not in page.split("graded")[-1]
    assert "[PASS]" in page or "[FAIL]" in page
    assert "This is the submission your grade counts." in page
    assert gradebook_score(root, "dee")[0] < FULL      # the gradebook holds the real score all the same


def test_a_submission_that_cannot_be_graded_gets_its_reason(make_course):
    root = make_course()
    name = students.submit(root, ASSIGNMENT, "eve", notebook(root))
    inbound = os.path.join(course.load_config(root).Exchange.root, "ml-systems", "inbound", name)
    with open(os.path.join(inbound, f"{ASSIGNMENT}.ipynb"), "w") as fh:
        fh.write("{ not a notebook")
    serve(root)
    rows, graded = queue_rows(root)
    assert rows[0].state == "failed" and "notebook" in rows[0].reason
    assert graded == {rows[0].id: 1}
    (page,) = students.fetch_feedback(root, ASSIGNMENT, "eve").values()
    assert "could not be graded" in page and "Fix what it names" in page


def test_a_folder_owned_by_someone_else_is_refused(make_course):
    root = make_course("c.ExchangeCollect.check_owner = True\n")
    students.submit(root, ASSIGNMENT, "fay", notebook(root))
    serve(root)
    rows, _ = queue_rows(root)
    assert rows[0].state == "failed"
    assert rows[0].reason == "the submission folder is owned by 'root', not by the student 'fay' it names"


def _cache_entries(root: str) -> dict[str, float]:
    cache = os.path.join(root, ".grading", "cache")
    return {f: os.stat(os.path.join(d, f)).st_mtime_ns for d, _, files in os.walk(cache) for f in files
            if f.endswith(".json")}


def test_kill_9_and_restart_lose_nothing_and_grade_nothing_twice(make_course):
    """The service is killed (SIGKILL, its workers and sandboxes with it) with gradings done, running and
    queued; a restarted service finishes every submission exactly once and re-executes none that finished."""
    import signal
    import subprocess
    import sys

    root = make_course()
    styles = {"gil": "im2col", "hal": "strided", "ida": "einsum", "jon": "float32", "kim": "offsets"}
    names = {student: students.submit(root, ASSIGNMENT, student, notebook(root, style=style))
             for student, style in styles.items()}
    command = [sys.executable, "-m", "grader", "serve", "--root", root, "--workers", "2"]
    service = subprocess.Popen(command, cwd=course.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 180
    running_when_refused: list[int] = []
    try:
        while time.monotonic() < deadline:
            rows, _ = queue_rows(root) if os.path.exists(os.path.join(root, QUEUE_FILE)) else ([], {})
            states = [r.state for r in rows]
            if not running_when_refused and "running" in states:
                # the course is the service's: a batch and a second service are refused, naming it, and the
                # second leaves the first's running gradings alone (not queued again)
                running_when_refused = [r.id for r in rows if r.state == "running"]
                for start in (lambda: batch.grade_batch(ASSIGNMENT, root, progress=False, log=lambda line: None),
                              lambda: GradingService(root, log=lambda *_: None).run(until_idle=True)):
                    with pytest.raises(grading_lock.CourseBusy, match=rf"^the grading service \(python -m grader "
                                                                      rf"serve\) \(pid {service.pid}, since "):
                        start()
                now = {r.id: r for r in queue_rows(root)[0]}
                assert [(now[i].state in ("running", "done"), now[i].attempts) for i in running_when_refused] == \
                    [(True, 1)] * len(running_when_refused)
                continue
            if states.count("done") >= 1 and "running" in states:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the service never had a grading done and another running: {states}")
    finally:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait(30)
    before, _ = queue_rows(root)
    done_before = {r.id: (r.finished_at, r.feedback_at) for r in before if r.state == "done"}
    cached_before = _cache_entries(root)
    assert 1 <= len(done_before) < len(styles) and any(r.state == "running" for r in before)

    serve(root)
    rows, graded = queue_rows(root)
    assert sorted(r.inbound for r in rows) == sorted(names.values())
    assert [r.state for r in rows] == ["done"] * len(styles)
    assert graded == {r.id: 1 for r in rows}
    for r in rows:
        if r.id in done_before:            # finished before the kill: untouched after it
            assert (r.finished_at, r.feedback_at) == done_before[r.id] and r.attempts == 1
    cached_after = _cache_entries(root)
    assert len(cached_after) == len(styles)
    assert {k: cached_after[k] for k in cached_before} == cached_before   # no finished execution ran again
    for student in styles:
        assert gradebook_score(root, student) == (FULL, 0.0)
        assert len(students.fetch_feedback(root, ASSIGNMENT, student)) == 1
