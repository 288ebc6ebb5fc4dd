"""The student's and the instructor's real browser: JupyterLab and formgrader in Chromium.

Everything runs on a copy of the course in the test's tmp dir (the repository's gradebook,
submitted/ and release/ are never touched), with a JupyterLab started by ``grader.tools.lab`` (the
code behind ``make lab``) and Debian's Chromium driven by Playwright (never a Playwright
browser download). Jupyter/IPython state and HOME live in the tmp dir too.

Student (one test, the steps depend on each other):
  a0. the released notebook, a cell edited and saved with Ctrl+S: the folder holds the same files
      (this JupyterLab has jupytext, which writes a paired .pct.py when the notebook's metadata asks)
  a. Run All: the first stub's NotImplementedError, nothing else
  b. a correct solution (contents API), Restart Kernel and Run All: every visible check
     prints PASS, no error output, the feature-map figure renders
  c. written answers typed in the UI, nbgrader's Validate button: the success dialog
Instructor:
  d. formgrader lists 09_spatial with the demo submissions (graded in the background while
     the student test runs) and shows the gradebook's scores for every student

Every step saves a screenshot under artifacts/browser/ (a failing step saves *_FAILED.png).
"""
from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

from grader.engine import course
from grader.tools import lab

from ..chromium import launch
from ..conftest import ASSIGNMENT, STYLES, make_course_copy
from ..conftest import REPO as REPO_DIR

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

ARTIFACTS = Path(REPO_DIR) / "artifacts" / "browser"
NB_PATH = f"release/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
FIRST_STUB = "conv_output_size: replace this line with your implementation"
ANSWERS = {
    "answer_sharing": "Weight sharing: one 3x3x3 kernel per output channel slides over every position, "
                      "so the parameter count does not grow with the image size.",
    "answer_im2col": "im2col builds a 65536 x 27 patch matrix (64 images, 32 x 32 positions), about 6.75 MiB "
                     "in float32, nine times the input; one matrix product then does the whole layer.",
}
RUN_TIMEOUT_MS = 150_000       # one Run All on a slow, busy 2-core machine
VALIDATE_TIMEOUT_MS = 180_000  # nbgrader validate re-executes the whole notebook server-side
GRADING_TIMEOUT_S = 300
# The demo's samples graded here: a correct solution, the blank notebook and a buggy one (full,
# zero and partial scores). All seven take 2-3 minutes next to a browser on two cores.
GRADED = ("alice_loops", "carol_blank", "dave_flipped_kernel")


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def env(workdir) -> dict:
    """JUPYTER_CONFIG_DIR/DATA_DIR/RUNTIME_DIR, IPYTHONDIR and HOME inside the tmp dir."""
    env = lab.isolated_env(str(workdir / "state"))
    env.pop("NBGRADER_DB_URL", None)  # the copy's own sqlite gradebook, never a configured server
    # this browser profile has answered JupyterLab's "fetch Jupyter news?" toast (it would cover outputs)
    settings = Path(env["JUPYTER_CONFIG_DIR"], "lab", "user-settings", "@jupyterlab", "apputils-extension")
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    return env


@pytest.fixture(scope="module")
def course_root(workdir) -> Path:
    """source/, release/ and nbgrader_config.py copied (symlinks into gradekit and the assignment's checks
    package resolved)."""
    return Path(make_course_copy(str(workdir / "course")))


@pytest.fixture(scope="module")
def release_nb(course_root):
    """The released notebook as shipped (read before any browser step changes the copy)."""
    return nbformat.read(str(course_root / NB_PATH), as_version=4)


class Grading:
    """The demo's grading of the sample submissions, in a subprocess, while the student test runs."""

    def __init__(self, root: Path, env: dict, log_path: Path):
        from grader.engine.assignment import load
        from grader.tools import demo
        built = demo.build_samples(load(str(root), ASSIGNMENT))  # before the lab exists: it reads release/
        assert set(GRADED) <= set(built), f"the demo no longer builds {sorted(set(GRADED) - set(built))}"
        for student in set(built) - set(GRADED):
            shutil.rmtree(root / "submitted" / student)
        self.students = sorted(GRADED)
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")
        code = ("import sys; from grader.engine import batch; "
                f"sys.exit(0 if batch.grade_batch({ASSIGNMENT!r}, sys.argv[1]) is not None else 1)")
        self.process = subprocess.Popen([sys.executable, "-c", code, str(root)], cwd=str(root), env=env,
                                        stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        self.started = time.monotonic()

    def wait(self) -> float:
        try:
            code = self.process.wait(max(1.0, GRADING_TIMEOUT_S - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            pytest.fail(f"grading the demo submissions took over {GRADING_TIMEOUT_S} s; log: {self.log_path}")
        assert code == 0, f"grading the demo submissions failed ({code}):\n{self.log_path.read_text()[-4000:]}"
        return time.monotonic() - self.started

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def grading(course_root, env, workdir, release_nb):
    grading = Grading(course_root, env, workdir / "grading.log")
    yield grading
    grading.stop()


@pytest.fixture(scope="module")
def server(course_root, env, workdir, grading):
    # `grading` first: it starts in the background and is ready by the formgrader test
    start = time.monotonic()
    with lab.running_lab(str(course_root), env=env, log=str(workdir / "jupyterlab.log")) as srv:
        print(f"[browser] JupyterLab ready in {time.monotonic() - start:.1f} s")
        yield srv


@pytest.fixture(scope="module")
def browser(env):
    with sync_playwright() as pw:
        chromium = launch(pw, env=env)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    console_errors = []
    page.on("pageerror", lambda err: console_errors.append(str(err)))
    page.console_errors = console_errors
    yield page
    context.close()


# ------------------------------------------------------------------------------ helpers
@contextlib.contextmanager
def step(page, name: str, server=None):
    """A named step: on failure save <name>_FAILED.png and add the server log's tail."""
    start = time.monotonic()
    try:
        yield
        print(f"[browser] {name}: {time.monotonic() - start:.1f} s")
    except BaseException as err:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{name}_FAILED.png"), full_page=True)
        tail = server.log_tail(3000) if server is not None else ""
        if isinstance(err, AssertionError) and tail:
            raise AssertionError(f"{err}\n--- JupyterLab log (end) ---\n{tail}") from err
        raise


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"screenshot {path} is suspiciously small"
    return path


def grade_id_index(nb) -> dict[str, int]:
    return {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells)
            if "nbgrader" in c.metadata and "grade_id" in c.metadata["nbgrader"]}


def visible_test_cells(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


# What the notebook shows, read from the DOM (textContent: JupyterLab's default windowing keeps
# every cell in the DOM but may skip painting off-screen ones, so innerText would be unreliable).
NOTEBOOK_STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {
    status: indicator ? indicator.getAttribute('data-status') : null,
    cells: Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell')).map(c => ({
      code: c.classList.contains('jp-CodeCell'),
      prompt: (c.querySelector('.jp-InputPrompt') || {textContent: ''}).textContent.trim(),
      source: (c.querySelector('.jp-InputArea-editor') || {textContent: ''}).textContent,
      rendered: (c.querySelector('.jp-MarkdownOutput') || {textContent: ''}).textContent,
      outputs: Array.from(c.querySelectorAll('.jp-OutputArea-output')).map(o => ({
        mime: o.getAttribute('data-mime-type') || '',
        text: o.textContent,
        images: Array.from(o.querySelectorAll('img')).map(i => ({
          loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth, height: i.naturalHeight})),
      })),
    })),
  };
}"""

# Done running: the kernel is idle, nothing is queued ([*]) and the first code cell has run.
RUN_FINISHED_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return false;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  if (!indicator || indicator.getAttribute('data-status') !== 'idle') return false;
  const prompts = Array.from(panel.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
    .map(p => p.textContent.trim());
  return prompts.length > 0 && !prompts.some(p => p.includes('*')) && /^\\[\\d+\\]:$/.test(prompts[0]);
}"""


def notebook_state(page) -> dict:
    state = page.evaluate(NOTEBOOK_STATE_JS)
    assert state is not None, "no notebook panel is open"
    return state


def ran(cell) -> bool:
    return bool(re.fullmatch(r"\[\d+\]:", cell["prompt"]))


def errors(cell) -> list[str]:
    """Error tracebacks and stderr text of a cell (JupyterLab renders both with the stderr mime type)."""
    return [o["text"] for o in cell["outputs"] if o["mime"] == "application/vnd.jupyter.stderr"]


def stdout(cell) -> str:
    return "".join(o["text"] for o in cell["outputs"] if o["mime"] == "application/vnd.jupyter.stdout")


def menu(page, menu_label: str, command: str):
    """Open a main-menu and click the item bound to a JupyterLab command id."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu_label)}$")).click()
    item = page.locator(f".lm-Menu-item[data-command='{command}']").first
    item.wait_for(state="visible")
    item.click()


def accept_dialog(page, button: str | None = None):
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible")
    target = dialog.locator(".jp-Dialog-button", has_text=button) if button else dialog.locator(".jp-mod-accept")
    target.first.click()
    dialog.wait_for(state="detached")


def open_notebook(page, server, n_cells: int):
    page.goto(server.url_for(f"lab/tree/{NB_PATH}"))
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=120_000)
    wait_all_cells(page, n_cells)
    page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)


def wait_all_cells(page, n_cells: int):
    """JupyterLab attaches the cells of a long notebook in idle time: wait until all are in the DOM."""
    page.wait_for_function(
        "n => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').length === n",
        arg=n_cells, timeout=120_000)


def wait_run_finished(page):
    page.wait_for_function(RUN_FINISHED_JS, timeout=RUN_TIMEOUT_MS, polling=250)


def save_notebook(page):
    menu(page, "File", "docmanager:save")
    page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").wait_for(state="detached")


def stub_messages(nb) -> list[tuple[str, str]]:
    """(qualified name of the enclosing def, message) of every `raise NotImplementedError(...)` in solution cells."""
    found = []

    def visit(node, scope):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, scope + [child.name])
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                exc = child.exc
                name = exc.func.id if isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) else \
                    getattr(exc, "id", None)
                if name == "NotImplementedError":
                    args = exc.args if isinstance(exc, ast.Call) else []
                    message = args[0].value if args and isinstance(args[0], ast.Constant) else ""
                    found.append((".".join(scope), message))
            visit(child, scope)

    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            visit(ast.parse(cell.source), [])
    return found


# -------------------------------------------------------------------------------- tests
def test_stub_messages_name_what_to_implement(release_nb):
    """Student-facing polish: every stub says which function or method to write."""
    stubs = stub_messages(release_nb)
    assert len(stubs) >= 10, f"expected the released notebook's stubs, found {stubs}"
    for where, message in stubs:
        assert where, f"a NotImplementedError outside any function: {message!r}"
        assert message.startswith(f"{where}: "), f"the stub in {where} says {message!r}: it should name {where}"
        assert "implement" in message, f"the stub in {where} does not say what to do: {message!r}"


def test_student_in_jupyterlab(server, page, release_nb, course_root):
    index = grade_id_index(release_nb)
    test_cells = visible_test_cells(release_nb)
    first_test = index["test_conv_output_size"]

    # a0. the released notebook: an edit saved with Ctrl+S writes the notebook and nothing else ----
    # This lab has jupytext, like many students' labs: it writes the paired text file of a notebook whose
    # metadata pairs it (jupytext.formats) at every save, and that file would travel with the submission.
    folder = course_root / "release" / ASSIGNMENT
    before = sorted(os.listdir(folder))
    assert before == [f"{ASSIGNMENT}.ipynb", "gradekit", "spatial_checks", "tinytorch"], before
    with step(page, "00_save_writes_no_other_file", server):
        open_notebook(page, server, len(release_nb.cells))
        note = "\n# saved from the browser"   # a comment: Run All below runs the same code
        edited = index["conv_output_size"]
        cell = page.locator(".jp-Notebook .jp-Cell").nth(edited)
        cell.scroll_into_view_if_needed()
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.insert_text(note)
        dirty_tab = page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")
        dirty_tab.wait_for(state="visible")
        page.keyboard.press("Control+s")
        dirty_tab.wait_for(state="detached")  # the save request has returned: every file it writes is written
        saved = nbformat.from_dict(server.api("GET", f"api/contents/{NB_PATH}?content=1")["content"])
        assert saved.cells[edited].source == release_nb.cells[edited].source + note
        after = sorted(os.listdir(folder))
        # JupyterLab checkpoints the notebook (on open, and after the save) into its own hidden folder, which
        # holds nothing else; no other file may appear
        assert [n for n in after if n != ".ipynb_checkpoints"] == before, (
            f"the save wrote {sorted(set(after) - set(before) - {'.ipynb_checkpoints'})} next to the notebook")
        if ".ipynb_checkpoints" in after:
            checkpoints = os.listdir(folder / ".ipynb_checkpoints")
            assert set(checkpoints) <= {f"{ASSIGNMENT}-checkpoint.ipynb"}, checkpoints
        listed = sorted(e["name"] for e in server.api("GET", f"api/contents/release/{ASSIGNMENT}")["content"])
        assert listed == before, listed
        assert "jupytext" not in saved.metadata, saved.metadata["jupytext"]

    # a. Run All stops at the first stub's NotImplementedError ------------------------------------
    with step(page, "01_released_notebook_run_all", server):
        menu(page, "Run", "runmenu:run-all")
        wait_run_finished(page)
        state = notebook_state(page)
        cells = state["cells"]
        failing = [i for i, c in enumerate(cells) if errors(c)]
        assert failing == [first_test], (
            f"expected exactly one error output, in cell {first_test} (test_conv_output_size); got errors in "
            f"cells {failing}: " + " | ".join(errors(cells[i])[0][:300] for i in failing))
        (traceback,) = errors(cells[first_test])
        assert "NotImplementedError" in traceback and FIRST_STUB in traceback, traceback[:1000]
        assert "[FAIL] conv_output_size" in stdout(cells[first_test]), stdout(cells[first_test])
        executed = [i for i, c in enumerate(cells) if c["code"] and ran(c)]
        code_before = [i for i, c in enumerate(cells[:first_test + 1]) if c["code"]]
        assert executed == code_before, f"Run All should have run the code cells {code_before}, ran {executed}"
        page.locator(".jp-Notebook .jp-Cell").nth(first_test).scroll_into_view_if_needed()
        shot(page, "01_released_notebook_run_all")
        # the same run as the file records it: one error output, of type NotImplementedError
        save_notebook(page)
        saved = server.api("GET", f"api/contents/{NB_PATH}?content=1")["content"]
        error_outputs = [(i, o) for i, c in enumerate(saved["cells"]) if c["cell_type"] == "code"
                         for o in c["outputs"] if o["output_type"] == "error"]
        assert [(i, o["ename"]) for i, o in error_outputs] == [(first_test, "NotImplementedError")], error_outputs
        assert FIRST_STUB in error_outputs[0][1]["evalue"], error_outputs[0][1]["evalue"]

    # b. a correct solution: Restart Kernel and Run All passes every visible check -----------------
    with step(page, "02_solution_run_all", server):
        from grader.harness.samples import build_notebook, read_style
        solved = build_notebook(release_nb, read_style(STYLES, "loops"))
        server.api("PUT", f"api/contents/{NB_PATH}", {"type": "notebook", "format": "json", "content": solved})
        menu(page, "File", "docmanager:reload")
        solution_shown = ("i => { const c = document.querySelectorAll("
                          "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[i]; return !!c && "
                          "!c.querySelector('.jp-InputArea-editor').textContent.includes('NotImplementedError'); }")
        # JupyterLab asks for confirmation only when the document has unsaved changes
        page.wait_for_function(f"i => !!document.querySelector('.jp-Dialog') || ({solution_shown})(i)",
                               arg=index["conv_output_size"])
        if page.locator(".jp-Dialog").count():
            accept_dialog(page)
        page.wait_for_function(solution_shown, arg=index["conv_output_size"])
        wait_all_cells(page, len(release_nb.cells))
        menu(page, "Run", "runmenu:restart-and-run-all")
        accept_dialog(page, "Restart")
        wait_run_finished(page)
        cells = notebook_state(page)["cells"]
        failing = {i: errors(c)[0][-800:] for i, c in enumerate(cells) if errors(c)}
        assert not failing, f"error outputs with a correct solution: {failing}"
        not_run = [i for i, c in enumerate(cells) if c["code"] and not ran(c)]
        assert not not_run, f"code cells that did not run: {not_run}"
        for grade_id in test_cells:
            text = stdout(cells[index[grade_id]])
            assert "[PASS]" in text and "[FAIL]" not in text, f"{grade_id} printed:\n{text}"
            summary = re.search(rf"{grade_id}: (\d+)/(\d+) visible checks passed\.", text)
            assert summary and summary.group(1) == summary.group(2) and int(summary.group(1)) >= 1, \
                f"{grade_id} summary line missing or not all passed:\n{text}"
            assert text.count("[PASS]") == int(summary.group(1)), text
        figure = [img for o in cells[index["feature_maps"]]["outputs"] for img in o["images"]]
        assert len(figure) == 1, f"the feature_maps cell should show one figure, shows {figure}"
        assert figure[0]["loaded"], "the feature-map figure did not load"
        # plt.subplots(1, 3, figsize=(9, 3)): three panels side by side
        assert 2.3 < figure[0]["width"] / figure[0]["height"] < 3.7, figure
        page.locator(".jp-Notebook .jp-Cell").nth(index["feature_maps"]).locator("img").scroll_into_view_if_needed()
        shot(page, "02_solution_run_all_feature_maps")

    # c. written answers through the UI, then nbgrader's Validate button --------------------------
    with step(page, "03_validate", server):
        for grade_id, answer in ANSWERS.items():
            cell = page.locator(".jp-Notebook .jp-Cell").nth(index[grade_id])
            cell.scroll_into_view_if_needed()
            cell.locator(".jp-MarkdownOutput").dblclick()
            editor = cell.locator(".cm-content")
            editor.wait_for(state="visible")
            editor.click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(answer)
            page.keyboard.press("Control+Enter")  # render the markdown
            cell.locator(".jp-MarkdownOutput", has_text=answer[:40]).wait_for(state="visible")
        button = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) jp-button.validate-button")
        assert button.inner_text().strip() == "Validate", button.inner_text()
        button.click()
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        dialog.wait_for(state="visible", timeout=VALIDATE_TIMEOUT_MS)
        body = dialog.locator(".jp-Dialog-body")
        assert dialog.locator(".jp-Dialog-body.validation-success").count() == 1, (
            f"Validate did not succeed:\n{body.inner_text()}")
        assert "Success! Your notebook passes all the tests." in body.inner_text()
        shot(page, "03_validate_success")
        accept_dialog(page)
        # Validate saved the notebook first: the file holds the typed answers and the solution
        saved = nbformat.from_dict(server.api("GET", f"api/contents/{NB_PATH}?content=1")["content"])
        for grade_id, answer in ANSWERS.items():
            assert saved.cells[index[grade_id]].source.strip() == answer, saved.cells[index[grade_id]].source
        assert "NotImplementedError" not in saved.cells[index["conv_output_size"]].source
    assert not page.console_errors, f"uncaught errors in the page: {page.console_errors}"


def _js_number(value: float) -> str:
    """How formgrader prints a score: roundToPrecision(x, 2) turned into a JS string."""
    value = round(float(value), 2)
    return str(int(value)) if value == int(value) else repr(value)


def test_instructor_in_formgrader(server, page, grading, course_root):
    from nbgrader.api import Gradebook
    waited = time.monotonic()
    seconds = grading.wait()
    print(f"[browser] grading the demo submissions: {seconds:.1f} s (waited {time.monotonic() - waited:.1f} s)")
    config = course.load_config(str(course_root))
    with Gradebook(config.CourseDirectory.db_url) as gb:
        rows = {}
        for sub in gb.find_assignment(ASSIGNMENT).submissions:
            (nb,) = sub.notebooks
            rows[sub.student.id] = dict(score=sub.score, max_score=sub.max_score, code=nb.code_score,
                                        max_code=nb.max_code_score)
    assert sorted(rows) == sorted(grading.students), f"gradebook students {sorted(rows)} after {seconds:.0f} s"
    # the demo's meaning: a correct solution earns every auto-graded point, the blank notebook none,
    # the flipped kernel some
    assert rows["alice_loops"]["code"] == rows["alice_loops"]["max_code"] == 44, rows["alice_loops"]
    assert rows["carol_blank"]["code"] == 0, rows["carol_blank"]
    assert 0 < rows["dave_flipped_kernel"]["code"] < 44, rows["dave_flipped_kernel"]

    # d1. Nbgrader menu -> Formgrader, inside JupyterLab: the assignment and its submissions count
    with step(page, "04_formgrader_assignments", server):
        page.goto(server.url_for("lab"))
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for(state="visible", timeout=120_000)
        menu(page, "Nbgrader", "nbgrader:open-formgrader")
        frame = page.frame_locator(".jp-MainAreaWidget iframe")
        row = frame.locator("tr", has=frame.locator("td.name", has_text=re.compile(f"^\\s*{ASSIGNMENT}\\s*$")))
        row.wait_for(state="visible")
        assert row.locator("td.num-submissions").inner_text().strip() == str(len(rows)), row.inner_text()
        # the course-local exchange works: no warning, and the draft can be released from here
        assert frame.locator("#warning-exchange").count() == 0, frame.locator("#warning-exchange").inner_text()
        assert row.locator("td.release .glyphicon-cloud-upload").count() == 1, row.inner_html()
        shot(page, "04_formgrader_assignments")

    # d2. Manage Students: every demo student with the gradebook's overall score
    with step(page, "05_formgrader_students", server):
        frame.locator("a", has_text="Manage Students").first.click()
        frame.locator("td.id", has_text="alice_loops").wait_for(state="visible")
        shown = {}
        for tr in frame.locator("tbody tr", has=frame.locator("td.id")).all():
            shown[tr.locator("td.id").inner_text().strip()] = tr.locator("td.score").inner_text().strip()
        expected = {s: f"{_js_number(r['score'])} / {_js_number(r['max_score'])}" for s, r in rows.items()}
        assert shown == expected, f"Manage Students shows {shown}, the gradebook says {expected}"
        shot(page, "05_formgrader_students")

    # d3. the notebook's submissions (Manual Grading): every student's auto-graded code score
    with step(page, "06_formgrader_code_scores", server):
        page.goto(server.url_for(f"formgrader/gradebook/{ASSIGNMENT}/{ASSIGNMENT}"))
        page.locator("td.code-score").first.wait_for(state="visible")
        page.locator("#toggle_names").click()
        page.locator("td.name .name-shown").first.wait_for(state="visible")
        shown = {}
        for tr in page.locator("tbody tr", has=page.locator("td.code-score")).all():
            shown[tr.locator("td.name .name-shown").inner_text().strip()] = (
                tr.locator("td.code-score").inner_text().strip())
        expected = {s: f"{_js_number(r['code'])} / {_js_number(r['max_code'])}" for s, r in rows.items()}
        assert shown == expected, f"the submissions page shows code scores {shown}, the gradebook says {expected}"
        assert shown["alice_loops"] == "44 / 44" and shown["carol_blank"] == "0 / 44", shown
        shot(page, "06_formgrader_code_scores")
    assert not page.console_errors, f"uncaught errors in the page: {page.console_errors}"
