"""The course's whole round trip on the hub, in Chromium, with real logins (grader/tools/hub.py).

One instructor and three students, throwaway Linux accounts made for this run. Everything a person
does goes through the browser: the hub's login form, formgrader, JupyterLab's Assignments tab.

1. the instructor releases 09_spatial from formgrader;
2. student A fetches it in the Assignments tab, completes it (a correct solution), validates, submits;
3. student B fetches and submits a buggy solution (a flipped convolution kernel);
4. the due date passes; student C fetches and submits a correct solution, late;
5. the instructor collects in formgrader and autogrades each submission there: the trusted grader runs
   in the instructor's server, as the instructor's uid (not root: the sandbox makes user namespaces);
6. the instructor generates and releases feedback in formgrader;
7. each student fetches feedback in the Assignments tab and opens it: their own score and messages,
   nobody else's; C's score carries the late penalty (c.SubMarks.marks_per_hour, one started hour).

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
import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

from grader.engine.assignment import load
from grader.harness import samples
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


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    with throwaway_site(str(tmp_path_factory.mktemp("trip") / "state"), "abc") as site:
        yield site


@pytest.fixture(scope="module")
def running(site):
    passwords = hub.setup(site, log=lambda *a: None)
    with hub.running_hub(site, passwords) as running:
        for name in site.users:   # all four servers start at once; the browser logs in while they come up
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
    return {"correct": answered(correct),
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
def step(person: Person, name: str, running: hub.Hub):
    """A named step: its screenshot afterwards; on failure <name>_FAILED.png and the hub log's end."""
    start = time.monotonic()
    try:
        yield
    except BaseException as err:
        with contextlib.suppress(Exception):
            person.page.screenshot(path=str(ARTIFACTS / f"{name}_FAILED.png"), full_page=True)
        if isinstance(err, AssertionError):
            raise AssertionError(f"{err}\n--- hub log (end) ---\n{running.log_tail(3000)}") from err
        raise
    person.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
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


def fetch_and_hand_in(person: Person, running: hub.Hub, nb, label: str, validate: bool = False) -> None:
    page = person.page
    with step(person, f"{label}_fetched", running):
        open_assignments_tab(page)
        released = list_rows(page, "released", 1)
        assert ASSIGNMENT in released.first.inner_text()
        released.first.locator(".item_status button").click()
        list_rows(page, "fetched", 1)
        folder = os.path.join(person.home(), ASSIGNMENT)
        assert os.path.isfile(os.path.join(folder, NB)), os.listdir(person.home())
    # the student's work: their own file in their own folder
    entry = pwd.getpwnam(person.name)
    path = os.path.join(folder, NB)
    nbformat.write(nb, path)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    if validate:
        with step(person, f"{label}_validated", running):
            page.locator("#fetched_assignments_list a.assignment-notebooks-link").click()   # its notebooks
            notebooks = page.locator(f"#nbgrader-{running.site.course_id}-{ASSIGNMENT} .list_item")
            notebooks.last.locator('.item_status button:text("Validate")').click()
            text = dialog_text(page)
            assert "Success! Your notebook passes all the tests." in text, text
    with step(person, f"{label}_submitted", running):
        list_rows(page, "fetched", 1).first.locator('.item_status button:text("Submit")').click()
        submitted = list_rows(page, "submitted", 1)
        assert ASSIGNMENT in submitted.first.inner_text()
    inbound = os.path.join(running.exchange, running.site.course_id, "inbound")
    assert len(glob.glob(os.path.join(inbound, f"{person.name}+{ASSIGNMENT}+*"))) == 1, os.listdir(inbound)


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
    a, b, c = (Person(browser, running, name) for name in site.students)
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
    # the deadline passes: C hands in after it
    due = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    running.set_due_date(ASSIGNMENT, due.strftime("%Y-%m-%d %H:%M:%S UTC"))
    time.sleep(1.0)
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
