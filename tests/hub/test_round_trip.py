"""The course's whole round trip on the hub, in Chromium, with real logins (grader/tools/hub.py).

One instructor and four students, throwaway Linux accounts made for this run (the fourth, D, is the
grading service's student, below). Everything a person does goes through the browser: the hub's login
form, formgrader, JupyterLab's Assignments tab.

The round trip, graded by the instructor in formgrader after the deadline:

1. the instructor releases 09_spatial from formgrader;
2. student A fetches it in the Assignments tab, completes it (a correct solution), validates, submits;
3. student B fetches and submits a buggy solution (a flipped convolution kernel);
4. the due date passes; student C fetches and submits a correct solution, late;
5. the instructor collects in formgrader and autogrades each submission there: the trusted grader runs
   in the instructor's server, as the instructor's uid (not root: the sandbox makes user namespaces);
6. the instructor generates and releases feedback in formgrader;
7. each student fetches feedback in the Assignments tab and opens it: their own score and messages,
   nobody else's; C's score carries the late penalty (c.SubMarks.marks_per_hour, one started hour).

Then feedback minutes after submitting, with no instructor action: the grading service
(``python -m grader serve``, grader/engine/service/) runs as the instructor's uid on the instructor's
course copy, started by ``hub.Hub.start_service`` as ``make hub SERVE=1`` starts it (the same hub, after
the round trip: it finds A, B and C's submissions in the exchange and feeds them back too):

10. the due date moves a week ahead: the assignment is open;
11. student D fetches, fills in a buggy solution (the flipped kernel) and submits;
12. D clicks Fetch Feedback until the feedback is there (within FEEDBACK_BOUND seconds of submitting),
    opens it: a score below full marks, the failing check named; then the service is killed with its
    workers, and the hub's supervision (``hub.Hub.restart_service_if_exited``) starts it again;
13. D fixes the bug (the same loop-style code, correct) and submits again;
14. D fetches feedback again and sees the new, full score for the new submission; the instructor's
    gradebook holds it; D derives the feedback pages of D's own submissions only, none of A, B or C's.

The solution notebooks are written into each student's fetched folder as their own files (the
JupyterLab editing steps are the browser test's, tests/browser/test_lab_and_formgrader.py).
Every step saves a screenshot under artifacts/hub/ (a failing one saves <step>_FAILED.png).
"""
from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import pwd
import re
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import notebook_hash, parse_utc
from playwright.sync_api import sync_playwright

from grader.engine.assignment import load
from grader.harness import samples
from grader.harness.students import page_score as harness_score
from grader.tools import hub

from ..chromium import launch
from ..conftest import ASSIGNMENT, REPO
from .sites import throwaway_site

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(900)]

ARTIFACTS = Path(REPO) / "artifacts" / "hub"
NB = f"{ASSIGNMENT}.ipynb"
MAX_AUTO = 44.0          # the autograded points of 09_spatial
BUGGY_SCORE = 35.6       # the flipped kernel loses the forward checks of Conv2d and the model that uses it
LATE_PENALTY = 1.0       # c.SubMarks.marks_per_hour: C is late by seconds, one started hour
FEEDBACK_BOUND = 60.0    # seconds from Submit to the feedback fetched in the browser, on a busy 2-core machine


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    with throwaway_site(str(tmp_path_factory.mktemp("trip") / "state"), "abcd") as site:
        yield site


@pytest.fixture(scope="module")
def running(site):
    passwords = hub.setup(site, log=lambda *a: None)
    with hub.running_hub(site, passwords) as running:   # stopping it stops the grading service too
        for name in site.users[:4]:   # the round trip's four servers start at once, while the browser logs in
            with contextlib.suppress(Exception):
                running.api("POST", f"users/{name}/server")
        yield running


@pytest.fixture(scope="module")
def solutions():
    """The notebooks the students hand in: a correct one (im2col style) and a buggy one (flipped kernel)."""
    spatial = load(REPO, ASSIGNMENT)
    release_nb = nbformat.read(os.path.join(REPO, "release", ASSIGNMENT, NB), as_version=4)
    source_nb = nbformat.read(spatial.source_notebook, as_version=4)
    mutants = spatial.module("samples.mutants").BY_NAME
    correct = samples.build_notebook(release_nb, samples.read_style(spatial.styles_dir, "im2col", source_nb))
    # the flipped kernel is a bug in the loop style: fixed, it is the loop style itself
    fixed = samples.build_notebook(release_nb, samples.read_style(spatial.styles_dir, "loops", source_nb))
    return {"correct": answered(correct), "fixed": answered(fixed),
            "buggy": answered(samples.build_notebook(release_nb, mutants["flipped_kernel"].cells(source_nb)))}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    home = tmp_path_factory.mktemp("chromium-home")
    with sync_playwright() as pw:
        chromium = launch(pw, env={"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        yield chromium
        chromium.close()


# ------------------------------------------------------------------------------------------------ helpers
class Person:
    """One account's browser context, logged in through the hub's form."""

    def __init__(self, browser, running: hub.Hub, name: str):
        self.name, self.hub = name, running
        self.context = browser.new_context(viewport={"width": 1400, "height": 950})
        self.page = self.context.new_page()
        self.page.set_default_timeout(120_000)

    def log_in(self) -> None:
        page = self.page
        page.goto(f"{self.hub.url}hub/login")
        page.fill("#username_input", self.name)
        page.fill("#password_input", self.hub.passwords[self.name])
        page.click("#login_submit")
        page.wait_for_url(re.compile(rf".*/user/{re.escape(self.name)}/lab.*"), timeout=180_000)
        page.locator("#jp-main-dock-panel").wait_for()

    def home(self) -> str:
        return pwd.getpwnam(self.name).pw_dir


@contextlib.contextmanager
def step(person: Person, name: str, running: hub.Hub, page=None):
    """A named step: its screenshot (of ``page``, default the person's) afterwards; on failure
    <name>_FAILED.png and the end of the hub's log (and of the grading service's, when it runs)."""
    start = time.monotonic()
    page = page or person.page
    try:
        yield
    except BaseException as err:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{name}_FAILED.png"), full_page=True)
        if isinstance(err, AssertionError):
            logs = f"--- hub log (end) ---\n{running.log_tail(3000)}"
            if running.service is not None:
                logs += f"\n--- grading service log (end) ---\n{hub.file_tail(running.service_log_path, 3000)}"
            raise AssertionError(f"{err}\n{logs}") from err
        raise
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    print(f"[round trip] {name}: {time.monotonic() - start:.1f} s")


def formgrader_modal(page, expect: str) -> str:
    """Wait for formgrader's result dialog, check it says ``expect``, close it; its text."""
    modal = page.locator(".modal.in")
    modal.wait_for(timeout=300_000)
    text = modal.inner_text()
    assert expect in text, text
    modal.locator(".modal-footer button").first.click()
    modal.wait_for(state="hidden")
    return text


def assignment_row(page):
    return page.locator(f"tr:has(td.name:has-text('{ASSIGNMENT}'))")


def open_assignments_tab(page) -> None:
    """Nbgrader > Assignment List (the menu exists once nbgrader's JupyterLab plugins are loaded)."""
    page.locator('#jp-menu-panel .lm-MenuBar-itemLabel:text-is("Nbgrader")').click()
    page.locator('#jp-mainmenu-nbgrader li[data-command="nbgrader:open-assignment-list"]').click()
    page.locator("#released_assignments_list").wait_for()


def list_rows(page, which: str, count: int):
    """The rows of one of the Assignments tab's lists (released, fetched, submitted), once it holds ``count``."""
    rows = page.locator(f"#{which}_assignments_list > .list_item")
    deadline = time.monotonic() + 120
    while rows.count() != count:
        assert time.monotonic() < deadline, f"{which} list has {rows.count()} rows, not {count}"
        page.locator("#refresh_assignments_list").click()
        page.wait_for_timeout(1000)
    return rows


def dialog_text(page) -> str:
    """The text of the dialog the Assignments tab opens (validation: success or the failed cells); closes it."""
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=300_000)
    text = dialog.inner_text()
    dialog.locator("button.jp-Dialog-button").last.click()
    return text


def answered(nb):
    """``nb`` (a notebook built for this test) with every written-answer cell answered (validation asks for a
    response in each)."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            cell.source = "Each output channel shares one kernel across every position of the image."
    return nb


def inbound_of(running: hub.Hub, student: str | None = None) -> list[str]:
    """The submission folders in the exchange's inbound directory (of ``student``, or everyone's)."""
    inbound = os.path.join(running.exchange, running.site.course_id, "inbound")
    return sorted(glob.glob(os.path.join(inbound, f"{student or '*'}+{ASSIGNMENT}+*")))


def write_own_notebook(person: Person, nb) -> None:
    """The student's work: their own file in their own folder."""
    entry = pwd.getpwnam(person.name)
    path = os.path.join(person.home(), ASSIGNMENT, NB)
    nbformat.write(nb, path)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def submit(person: Person, running: hub.Hub, label: str) -> tuple[float, str]:
    """Submit in the Assignments tab (the fetched assignment's Submit); the time of the click and the new
    submission's folder in the exchange."""
    page = person.page
    before = inbound_of(running, person.name)
    with step(person, f"{label}_submitted", running):
        clicked = time.monotonic()
        list_rows(page, "fetched", 1).first.locator('.item_status button:text("Submit")').click()
        submitted = list_rows(page, "submitted", 1)
        assert ASSIGNMENT in submitted.first.inner_text()
        # the tab lists what the submit answered: one more submission under the assignment
        submissions = page.locator("#submitted_assignments_list .nested_list_item")
        deadline = time.monotonic() + 60
        while submissions.count() != len(before) + 1 or len(inbound_of(running, person.name)) != len(before) + 1:
            assert time.monotonic() < deadline, (submissions.count(), before, inbound_of(running, person.name))
            page.wait_for_timeout(250)
    (new,) = set(inbound_of(running, person.name)) - set(before)
    return clicked, new


def fetch_and_hand_in(person: Person, running: hub.Hub, nb, label: str, validate: bool = False) -> float:
    """Fetch in the Assignments tab, write ``nb`` as the student's work, (validate,) submit; when Submit was clicked."""
    page = person.page
    with step(person, f"{label}_fetched", running):
        open_assignments_tab(page)
        released = list_rows(page, "released", 1)
        assert ASSIGNMENT in released.first.inner_text()
        released.first.locator(".item_status button").click()
        list_rows(page, "fetched", 1)
        folder = os.path.join(person.home(), ASSIGNMENT)
        assert os.path.isfile(os.path.join(folder, NB)), os.listdir(person.home())
    write_own_notebook(person, nb)
    if validate:
        with step(person, f"{label}_validated", running):
            page.locator("#fetched_assignments_list a.assignment-notebooks-link").click()   # its notebooks
            notebooks = page.locator(f"#nbgrader-{running.site.course_id}-{ASSIGNMENT} .list_item")
            notebooks.last.locator('.item_status button:text("Validate")').click()
            text = dialog_text(page)
            assert "Success! Your notebook passes all the tests." in text, text
    clicked, _ = submit(person, running, label)
    assert len(inbound_of(running, person.name)) == 1, inbound_of(running)
    return clicked


def feedback_of(person: Person, running: hub.Hub, label: str) -> str:
    """Fetch Feedback in the Assignments tab, then open the fetched feedback page; its text."""
    page = person.page
    with step(person, f"{label}_feedback_fetched", running):   # the Assignments tab is still open
        page.locator("#refresh_assignments_list").click()
        list_rows(page, "submitted", 1).first.locator('button:text("Fetch Feedback")').click()
        pattern = os.path.join(person.home(), ASSIGNMENT, "feedback", "*", f"{ASSIGNMENT}.html")
        deadline = time.monotonic() + 60
        while not glob.glob(pattern):
            assert time.monotonic() < deadline, f"no feedback fetched into {pattern}"
            page.wait_for_timeout(500)
        (html,) = glob.glob(pattern)
    with step(person, f"{label}_feedback", running):
        relative = os.path.relpath(html, person.home())
        page.goto(running.user_url(person.name, f"files/{relative}"))
        return page.locator("body").inner_text()


def score_in(text: str) -> tuple[float, float]:
    match = re.search(rf"{ASSIGNMENT} \(Score: ([\d.]+) / ([\d.]+)\)", text)
    assert match, text[:2000]
    return float(match.group(1)), float(match.group(2))


# --------------------------------------------------------------------------------------------------- test
def test_release_fetch_submit_collect_grade_feedback(site, running, solutions, browser):
    instructor = Person(browser, running, site.instructor)
    a, b, c = (Person(browser, running, name) for name in site.students[:3])
    timings = {}

    start = time.monotonic()
    with step(instructor, "01_instructor_releases", running):
        instructor.log_in()
        instructor.page.goto(running.user_url(site.instructor, "formgrader"))
        assignment_row(instructor.page).locator("td.release a").click()
        formgrader_modal(instructor.page, f"Successfully released '{ASSIGNMENT}'")
    outbound = os.path.join(site.exchange, site.course_id, "outbound", ASSIGNMENT, NB)
    assert os.path.isfile(outbound)
    timings["release"] = time.monotonic() - start

    start = time.monotonic()
    for person in (a, b, c):
        person.log_in()
    fetch_and_hand_in(a, running, solutions["correct"], "02_student_a", validate=True)
    fetch_and_hand_in(b, running, solutions["buggy"], "03_student_b")
    # the deadline passes: the first whole second after A's and B's submissions; C hands in after it
    handed_in = []
    for folder in inbound_of(running, a.name) + inbound_of(running, b.name):
        with open(os.path.join(folder, "timestamp.txt"), encoding="utf-8") as fh:
            handed_in.append(parse_utc(fh.read().strip()).replace(tzinfo=datetime.timezone.utc))
    due = max(handed_in).replace(microsecond=0) + datetime.timedelta(seconds=1)
    running.set_due_date(ASSIGNMENT, due.strftime("%Y-%m-%d %H:%M:%S UTC"))
    time.sleep(max(0.0, (due - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 0.1)
    fetch_and_hand_in(c, running, solutions["correct"], "04_student_c_late")
    timings["students"] = time.monotonic() - start

    start = time.monotonic()
    page = instructor.page
    with step(instructor, "05_instructor_collects", running):
        page.goto(running.user_url(site.instructor, "formgrader"))
        assignment_row(page).locator("td.collect a").click()
        formgrader_modal(page, f"Successfully collected submissions of '{ASSIGNMENT}'")
        page.goto(running.user_url(site.instructor, f"formgrader/manage_submissions/{ASSIGNMENT}"))
        page.locator("td.autograde a").first.wait_for()
        assert page.locator("td.autograde a").count() == 3
    for person in (a, b, c):
        with step(instructor, f"06_autograde_{person.name.split('-')[1]}", running):
            row = page.locator(f"tr:has(td:has-text('{person.name}'))")
            row.locator("td.autograde a").click()
            formgrader_modal(page, f"Successfully autograded '{ASSIGNMENT}' for student '{person.name}'")
    timings["grading"] = time.monotonic() - start

    # the trusted grader ran as the instructor, through user namespaces
    instructor_uid = pwd.getpwnam(site.instructor).pw_uid
    for person in (a, b, c):
        folder = os.path.join(running.course_dir, "autograded", person.name, ASSIGNMENT)
        assert os.stat(os.path.join(folder, NB)).st_uid == instructor_uid
        with open(os.path.join(folder, f"{ASSIGNMENT}.grading.json"), encoding="utf-8") as fh:
            record = json.load(fh)
        assert record["sandbox"].endswith(", rootless (user namespace)"), record["sandbox"]
        assert record["status"] == "graded", record

    start = time.monotonic()
    with step(instructor, "07_feedback_released", running):
        page.goto(running.user_url(site.instructor, "formgrader"))
        assignment_row(page).locator("td.generate-feedback a").click()
        formgrader_modal(page, f"Successfully generated feedback of '{ASSIGNMENT}'")
        assignment_row(page).locator("td.release-feedback a").click()
        formgrader_modal(page, f"Successfully released feedback of '{ASSIGNMENT}'")

    texts = {person.name: feedback_of(person, running, f"08_{label}")
             for person, label in ((a, "student_a"), (b, "student_b"), (c, "student_c"))}
    timings["feedback"] = time.monotonic() - start
    print("[round trip] " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))

    scores = {name: score_in(text) for name, text in texts.items()}
    max_total = scores[a.name][1]
    assert scores == {a.name: (MAX_AUTO, max_total), b.name: (BUGGY_SCORE, max_total),
                      c.name: (MAX_AUTO - LATE_PENALTY, max_total)}
    # each page names its own student's work only; B's shows what broke
    for person in (a, b, c):
        others = [p.name for p in (a, b, c) if p is not person]
        assert not any(other in texts[person.name] for other in others)
    assert "test_conv2d_forward" in texts[b.name]
    # every student's feedback folder holds one feedback, their own
    for person in (a, b, c):
        fetched = glob.glob(os.path.join(person.home(), ASSIGNMENT, "feedback", "*", "*.html"))
        assert [os.path.basename(f) for f in fetched] == [f"{ASSIGNMENT}.html"]


# ------------------------------------------------------------------------------- the grading service's part
def service_feedback(person: Person, running: hub.Hub, label: str, submission: str,
                     clicked: float) -> tuple[str, float]:
    """Click Fetch Feedback in the Assignments tab until the feedback of ``submission`` (its folder in the
    exchange) is fetched, within FEEDBACK_BOUND seconds of the Submit click; open it in a tab of its own.
    Its text and the seconds from Submit to the feedback in the student's folder."""
    page = person.page
    with open(os.path.join(submission, "timestamp.txt"), encoding="utf-8") as fh:
        timestamp = fh.read().strip()
    html = os.path.join(person.home(), ASSIGNMENT, "feedback", timestamp, f"{ASSIGNMENT}.html")
    with step(person, f"{label}_feedback_fetched", running):
        clicks = 0
        while not os.path.isfile(html):
            waited = time.monotonic() - clicked
            assert waited < FEEDBACK_BOUND, f"no feedback for {timestamp} {waited:.0f} s after Submit ({clicks} clicks)"
            list_rows(page, "submitted", 1).first.locator('button:text("Fetch Feedback")').click()
            clicks += 1
            page.wait_for_timeout(1000)
        seconds = time.monotonic() - clicked
        # the Assignments tab, as the fetch answered, offers it next to the submission's time
        row = page.locator(f"#submitted_assignments_list .nested_list_item:has-text('{timestamp}')")
        deadline = time.monotonic() + 60
        while "(view feedback)" not in row.inner_text():
            assert time.monotonic() < deadline, row.inner_text()
            page.wait_for_timeout(250)
    print(f"[round trip] {person.name}: feedback of {timestamp} fetched {seconds:.1f} s after Submit "
          f"({clicks} clicks of Fetch Feedback)")
    tab = person.context.new_page()
    with step(person, f"{label}_feedback", running, page=tab):
        tab.goto(running.user_url(person.name, f"files/{os.path.relpath(html, person.home())}"))
        text = tab.locator("body").inner_text()
    tab.close()
    return text, seconds


def feedback_pages(folder: str) -> set[str]:
    """The names of the feedback pages of the submission in ``folder`` (an inbound folder of the exchange or a
    student's nbgrader cache): nbgrader's notebook_hash of its submission secret and each notebook, what
    Fetch Feedback looks for in the exchange's feedback folder."""
    with open(os.path.join(folder, "submission_secret.txt"), encoding="utf-8") as fh:
        secret = fh.read()
    return {f"{notebook_hash(secret=secret, notebook_id=Path(nb).stem)}.html"
            for nb in glob.glob(os.path.join(folder, "*.ipynb"))}


def lists(name: str, folder: str) -> bool:
    """Whether the account ``name`` can list ``folder``."""
    entry = pwd.getpwnam(name)
    done = subprocess.run(["ls", folder], user=entry.pw_uid, group=entry.pw_gid,
                          extra_groups=os.getgrouplist(name, entry.pw_gid), capture_output=True, timeout=60)
    return done.returncode == 0


def gradebook_score(running: hub.Hub, student: str) -> float:
    """The student's score in the instructor's gradebook (nbgrader's Gradebook API; the sqlite file the course
    copy's configuration names, read without running that configuration as root)."""
    with Gradebook(f"sqlite:///{os.path.join(running.course_dir, 'gradebook.db')}") as gb:
        return gb.find_submission(ASSIGNMENT, student).score


def test_the_grading_service_feeds_back_minutes_after_submitting(site, running, solutions, browser):
    """Submit, feedback within FEEDBACK_BOUND seconds, fix, resubmit, the new score: no instructor action."""
    d = Person(browser, running, site.students[3])
    with contextlib.suppress(Exception):
        running.api("POST", f"users/{d.name}/server")   # it starts while the service starts
    if not os.path.isfile(os.path.join(site.exchange, site.course_id, "outbound", ASSIGNMENT, NB)):
        instructor = Person(browser, running, site.instructor)   # this test alone: release as the round trip does
        with step(instructor, "10_instructor_releases", running):
            instructor.log_in()
            instructor.page.goto(running.user_url(site.instructor, "formgrader"))
            assignment_row(instructor.page).locator("td.release a").click()
            formgrader_modal(instructor.page, f"Successfully released '{ASSIGNMENT}'")
    # the assignment is open: its due date a week ahead (the round trip's has passed)
    due = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)
    running.set_due_date(ASSIGNMENT, due.strftime("%Y-%m-%d %H:%M:%S UTC"))

    start = time.monotonic()
    running.start_service()
    print(f"[round trip] grading service watching the exchange {time.monotonic() - start:.1f} s after its start")
    instructor_uid = pwd.getpwnam(site.instructor).pw_uid
    status = Path(f"/proc/{running.service.pid}/status").read_text()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == [str(instructor_uid)] * 4, uids   # real, effective, saved, filesystem: the instructor's, not root's
    try:
        d.log_in()
        clicked = fetch_and_hand_in(d, running, solutions["buggy"], "11_service_student_d")
        (first,) = inbound_of(running, d.name)
        buggy_text, buggy_seconds = service_feedback(d, running, "12_service_student_d", first, clicked)
        buggy = score_in(buggy_text)
        max_total = buggy[1]
        assert buggy == (BUGGY_SCORE, max_total), buggy
        assert "test_conv2d_forward" in buggy_text   # what broke

        # the service crashes with its workers: the hub's supervision starts it again, and the new one grades the fix
        os.killpg(running.service.pid, signal.SIGKILL)
        running.service.wait()
        assert running.restart_service_if_exited(min_interval=3600) == ""   # its last start was moments ago
        said = running.restart_service_if_exited(min_interval=0)
        assert said.startswith("the grading service exited with status -9\n"), said
        assert said.endswith("starting it again: it watches the exchange again") and running.service.poll() is None

        write_own_notebook(d, solutions["fixed"])   # D fixes the kernel and hands in again
        clicked, second = submit(d, running, "13_service_student_d_fixed")
        fixed_text, fixed_seconds = service_feedback(d, running, "14_service_student_d_fixed", second, clicked)
        assert score_in(fixed_text) == (MAX_AUTO, max_total) and MAX_AUTO > buggy[0]
        assert "This is the submission your grade counts." in fixed_text
        assert gradebook_score(running, d.name) == MAX_AUTO   # the gradebook holds the new score
        print(f"[round trip] grading service: submit to feedback in the browser {buggy_seconds:.1f} s (buggy), "
              f"{fixed_seconds:.1f} s (fixed); bound {FEEDBACK_BOUND:.0f} s")
    finally:
        running.stop_service()

    # graded by the instructor's uid, rootless
    folder = os.path.join(running.course_dir, "autograded", d.name, ASSIGNMENT)
    assert os.stat(os.path.join(folder, NB)).st_uid == instructor_uid
    with open(os.path.join(folder, f"{ASSIGNMENT}.grading.json"), encoding="utf-8") as fh:
        record = json.load(fh)
    assert record["sandbox"].endswith(", rootless (user namespace)") and record["status"] == "graded", record
    with open(os.path.join(running.course_dir, ".grading", "service-status.json"), encoding="utf-8") as fh:
        service = json.load(fh)
    print(f"[round trip] grading service status: done {service['done']}, failed {service['failed']}, "
          f"submit to feedback p50 {service['latency_p50']} s, max {service['latency_max']} s")
    assert service["failed"] == 0 and service["queue"] == 0 and service["running"] == 0, service

    # D sees D's feedback only: D's two submissions' pages, and nothing of A, B or C's
    other_submissions = [f for f in inbound_of(running) if Path(f).name.split("+")[0] != d.name]
    feedback_dir = os.path.join(site.exchange, site.course_id, "feedback")
    released = set(os.listdir(feedback_dir))
    cache = os.path.join(d.home(), ".local", "share", "jupyter", "nbgrader_cache", site.course_id)
    derivable = set().union(*(feedback_pages(f) for f in glob.glob(os.path.join(cache, f"*+{ASSIGNMENT}+*"))))
    own = feedback_pages(first) | feedback_pages(second)
    theirs = set().union(set(), *(feedback_pages(f) for f in other_submissions))
    assert derivable == own and len(own) == 2 and own <= released, (derivable, own)
    # A, B and C's pages (the round trip's: released by formgrader, then again by the service; none when
    # this test runs alone) are in the exchange, and D derives none of them
    assert len(theirs) == len(other_submissions) and theirs <= released
    assert not derivable & theirs
    assert not lists(d.name, feedback_dir) and not lists(d.name, os.path.dirname(first))   # nor can D list them
    # D's feedback folder: a page per submission, each with its own score, naming no other student
    fetched = sorted(glob.glob(os.path.join(d.home(), ASSIGNMENT, "feedback", "*", "*.html")))
    assert [Path(f).parent.name for f in fetched] == sorted(
        Path(f).name.split("+")[2] for f in (first, second)), fetched
    texts = [Path(page).read_text(encoding="utf-8") for page in fetched]
    assert [harness_score(text) for text in texts] == [(BUGGY_SCORE, max_total), (MAX_AUTO, max_total)]
    for text in texts:
        assert not any(name in text for name in site.students if name != d.name)
