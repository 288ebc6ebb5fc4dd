"""Forbidden libraries (grader/engine/library_policy.py, gradekit/imports.py): the setting, the static scan,
the import guard's decisions, the guard's record read through the agent, the sandbox's file-level hiding
and the instructor report.  No kernel here; tests/security/test_library_policy_sandbox.py grades in one.
"""
from __future__ import annotations

import ast
import html
import json
import os
import socket
import sys
import threading

import nbformat
import pytest
from nbgrader import utils
from traitlets import TraitError
from traitlets.config import Config

from gradekit import imports, protocol
from gradekit.imports import ImportGuard
from grader.engine import course, jobs
from grader.engine.batch import Outcome
from grader.engine.library_policy import (
    IPYTHON_BUDGET,
    LibraryPolicy,
    LibraryWatch,
    ask_guard,
    graded_cell_before,
    parse_cell,
    scan,
    stack_packages,
)
from grader.engine.records import GradingRecord
from grader.engine.sandbox import Sandbox, SandboxPolicy
from grader.harness import samples as sample_cells
from grader.tools import report

from ..conftest import ASSIGNMENT, REPO, STYLES

RELEASE = os.path.join(REPO, "release", ASSIGNMENT)
FORBIDDEN = ("scipy.signal", "scipy.ndimage", "sklearn", "torch", "tensorflow", "jax", "cv2", "PIL")
HIDDEN_AT_FILE_LEVEL = ("scipy.signal", "scipy.ndimage", "sklearn", "torch", "tensorflow", "jax", "cv2")
CELL_FILE = "/tmp/ipykernel_7/2718281828.py"   # how ipykernel names a cell's code


# ------------------------------------------------------------------ the setting
def test_by_default_nothing_is_forbidden_and_uses_are_blocked():
    policy = LibraryPolicy()
    assert policy.forbidden_for("09_spatial") == () and policy.forbidden_modules == {}
    assert policy.action == "block" and policy.blocks


def spatial_policy(**settings) -> LibraryPolicy:
    """The policy the course configures for 09_spatial (see nbgrader_config.py)."""
    return LibraryPolicy(forbidden_modules={"09_spatial": list(FORBIDDEN)}, **settings)


def test_the_course_config_sets_it_and_it_reaches_every_execution_job():
    config = course.load_config(REPO)
    policy = SandboxPolicy(config=config)   # a SandboxPolicy is a LibraryPolicy: c.LibraryPolicy.* configures it
    assert policy.forbidden_for("09_spatial") == FORBIDDEN and policy.action == "block"
    values = jobs.policy_values(policy, "09_spatial")   # what a job carries and what the cache key covers
    assert values["forbidden_modules"] == {"09_spatial": list(FORBIDDEN)} and values["action"] == "block"
    assert jobs.policy_values(policy)["forbidden_modules"]["04_losses"][0] == "scipy.special"


def test_flag_mode_and_per_assignment_lists_are_read_from_the_config():
    config = Config()
    config.LibraryPolicy.action = "FLAG"
    config.LibraryPolicy.forbidden_modules = {"09_spatial": ["scipy.signal"], "10_attention": ["torch.nn", "torch.nn"]}
    policy = SandboxPolicy(config=config)
    assert policy.action == "flag" and not policy.blocks
    assert policy.forbidden_for("09_spatial") == ("scipy.signal",)
    assert policy.forbidden_for("10_attention") == ("torch.nn",)
    assert policy.file_hidden("09_spatial") == ()   # flag mode hides nothing


@pytest.mark.parametrize("value, message", [
    ({"09_spatial": "scipy"}, "c.LibraryPolicy.forbidden_modules['09_spatial'] must be a list of dotted module names "
                              "such as ['scipy.signal', 'PIL']; received str 'scipy'"),
    ({"09_spatial": ["scipy signal", "PIL", 3]}, "c.LibraryPolicy.forbidden_modules['09_spatial'] must hold dotted "
                                                 "module names such as 'scipy.signal'; received 'scipy signal', 3"),
    ({"": ["PIL"]}, "c.LibraryPolicy.forbidden_modules needs assignment names as keys; received the key ''"),
])
def test_a_malformed_module_list_is_refused_with_what_was_expected(value, message):
    with pytest.raises(TraitError) as info:
        LibraryPolicy(forbidden_modules=value)
    assert str(info.value) == message


def test_an_unknown_action_is_refused_with_the_choices():
    with pytest.raises(TraitError) as info:
        LibraryPolicy(action="blok")
    assert str(info.value) == ("The 'action' trait of a LibraryPolicy instance expected any of ['block', 'flag'] "
                               "(case-insensitive), not the str 'blok'.")


def test_only_modules_outside_the_allowed_stack_are_hidden_at_file_level():
    needed = stack_packages(tuple(LibraryPolicy().allowed_stack))
    assert {"numpy", "matplotlib", "PIL", "IPython", "ipykernel", "zmq"} <= needed   # matplotlib requires pillow
    assert not {"scipy", "sklearn", "torch"} & needed
    assert spatial_policy().file_hidden("09_spatial") == HIDDEN_AT_FILE_LEVEL


def test_the_kernel_bootstrap_installs_the_guard_with_the_assignments_list():
    assert spatial_policy(action="flag", hint="use numpy").guard_source("09_spatial") == (
        "__import__('gradekit.imports').imports.install(('scipy.signal', 'scipy.ndimage', 'sklearn', 'torch', "
        "'tensorflow', 'jax', 'cv2', 'PIL'), block=False, hint='use numpy')\n")
    assert LibraryPolicy().guard_source("10_attention") == ""


def test_dotted_names_are_hidden_by_their_directory_in_the_sandbox():
    assert os.geteuid() == 0, "the sandbox switches kernels to unprivileged uids: run the tests as root"
    with Sandbox(SandboxPolicy(hidden_packages=[])) as box:
        box.hidden_modules = ("scipy.signal", "sklearn", "PIL.not_a_module")
        cmd = box.wrap(["python"])
        site = __import__("sysconfig").get_paths()["purelib"]
        blocker = os.path.join(box.root, "hidden_package.py")
        signal_dir = os.path.join(site, "scipy", "signal")
        i = cmd.index(signal_dir)
        assert cmd[i - 1:i + 4] == ["--tmpfs", signal_dir, "--ro-bind", blocker,
                                    os.path.join(signal_dir, "__init__.py")]
        assert os.path.join(site, "sklearn") in cmd
        assert not any("not_a_module" in a for a in cmd)   # no such file: nothing to hide
        assert os.path.join(site, "scipy") not in cmd        # scipy itself (scipy.stats, ...) stays


# ------------------------------------------------------------------ the static scan
SCAN_TABLE = [
    ("from scipy.signal import correlate2d", [("scipy.signal", "scipy.signal", 1, "from-import")]),
    ("from scipy import signal", [("scipy.signal", "scipy.signal", 1, "from-import")]),
    ("from scipy import stats, signal as sg", [("scipy.signal", "scipy.signal", 1, "from-import")]),
    ("import scipy.ndimage as ndi", [("scipy.ndimage", "scipy.ndimage", 1, "import")]),
    ("import scipy\nout = scipy.signal.correlate(a, b)", [("scipy.signal", "scipy.signal.correlate", 2, "attribute")]),
    ("import scipy as sp\nsp.ndimage.maximum_filter(x, 2)",
     [("scipy.ndimage", "scipy.ndimage.maximum_filter", 2, "attribute")]),
    ('import importlib\nm = importlib.import_module("scipy.signal")',
     [("scipy.signal", "scipy.signal", 2, "import_module()")]),
    ('import importlib\nm = importlib.import_module(".ndimage", package="scipy")',
     [("scipy.ndimage", "scipy.ndimage", 2, "import_module()")]),
    ('__import__("scipy" + ".signal")', [("scipy.signal", "scipy.signal", 1, "__import__()")]),
    ('__import__(f"{\'scipy\'}.signal")', [("scipy.signal", "scipy.signal", 1, "__import__()")]),
    ('__import__("scipy", fromlist=["ndimage"])', [("scipy.ndimage", "scipy.ndimage", 1, "__import__()")]),
    ("from PIL import Image", [("PIL", "PIL", 1, "from-import")]),
    ('import sys\nImage = sys.modules["PIL.Image"]', [("PIL", "PIL.Image", 2, "sys.modules")]),
    ('exec("import sklearn.datasets")', [("sklearn", "sklearn.datasets", 1, "import")]),
    ("%time import torch", [("torch", "torch", 1, "import")]),
    ("def forward(self, x):\n    import jax.numpy as jnp\n    return jnp.asarray(x)",
     [("jax", "jax.numpy", 2, "import"), ("jax", "jax.numpy.asarray", 3, "attribute")]),
    ("import cv2\nimport scipy.signal", [("cv2", "cv2", 1, "import"), ("scipy.signal", "scipy.signal", 2, "import")]),
    # not a use of a forbidden module
    ("import numpy as np\nimport matplotlib.pyplot as plt", []),
    ("import scipy\nimport scipy.stats\nscipy.stats.norm.pdf(0.0)", []),
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)", []),
    ("from . import signal", []),
    ('import re\nre.compile(r"scipy\\.signal\\.\\w+")', []),
    ('import importlib\nfrom concurrent.futures import ThreadPoolExecutor\n'
     'ThreadPoolExecutor().submit(importlib.import_module, "PIL").result()', [("PIL", "PIL", 3, "string")]),
    ('import sys\nImage = sys.modules.get("PIL.Image")', [("PIL", "PIL.Image", 2, "string")]),
    ("x = (", []),
    ("x = " + " + ".join(['"a"'] * 50_000), []),    # deeper than the parser's recursion limit
    # out of reach of any static scan: the import guard and the file-level hiding stop it at run time
    ('name = "langis.ypics"[::-1]\n__import__(name)', []),
]


@pytest.mark.parametrize("source, expected", SCAN_TABLE, ids=[s.split("\n")[-1][:40] for s, _ in SCAN_TABLE])
def test_the_static_scan_finds_every_spelled_out_import(source, expected):
    assert [(u.module, u.name, u.line, u.how) for u in scan(source, FORBIDDEN)] == expected


def test_ipythons_transformer_reads_only_cells_within_its_budget():
    # plain Python never reaches the transformer; a magic does, within the budget (escape lines x KiB)
    assert ast.dump(parse_cell("x = 1")) == "Module(body=[Assign(targets=[Name(id='x', ctx=Store())], " \
                                             "value=Constant(value=1))], type_ignores=[])"
    assert "run_line_magic" in ast.dump(parse_cell("%time import torch"))
    # its time grows with escapes x size (16,000 %time lines: minutes): refused unread past the budget, so the
    # scan finds nothing there and the import guard watches the cell at run time
    heavy = "%time import torch\n" * 4_000
    with pytest.raises(ValueError, match=r"^too much IPython syntax to read \(4000 escape lines in 76000 bytes\)$"):
        parse_cell(heavy)
    assert IPYTHON_BUDGET == 64 and scan(heavy, FORBIDDEN) == []
    with pytest.raises(SyntaxError):
        parse_cell("x = (")


def test_imports_carry_over_from_earlier_cells():
    aliases: dict[str, str] = {}
    assert scan("import scipy as sp\nimport numpy as np", FORBIDDEN, aliases) == []
    uses = scan("y = sp.signal.correlate(a, b)", FORBIDDEN, aliases)
    assert [(u.module, u.name, u.line) for u in uses] == [("scipy.signal", "scipy.signal.correlate", 1)]


def _student_cells(nb) -> list[str]:
    return [c.source for c in nb.cells
            if c.cell_type == "code" and not (utils.is_grade(c) and not utils.is_solution(c))]


def test_a_numpy_solution_and_the_blank_release_use_nothing_forbidden():
    release_nb = nbformat.read(os.path.join(RELEASE, f"{ASSIGNMENT}.ipynb"), as_version=4)
    for nb in (release_nb, sample_cells.build_notebook(release_nb, sample_cells.read_style(STYLES, "loops"))):
        aliases: dict[str, str] = {}
        cells = _student_cells(nb)
        assert len(cells) == 11 and any("import matplotlib.pyplot" in c for c in cells)
        assert [scan(source, FORBIDDEN, aliases) for source in cells] == [[]] * len(cells)


# ------------------------------------------------------------------ the executor's bookkeeping
def test_static_uses_are_one_incident_per_cell_and_module_and_the_guard_adds_only_new_modules():
    record = GradingRecord("s", "09_spatial", "09_spatial")
    watch = LibraryWatch(spatial_policy(), "09_spatial", record)
    watch.scan_cell("conv2d_op", "from scipy.signal import correlate\nimport scipy.signal\nfrom PIL import Image")
    answers = [[["scipy.signal", "scipy.signal", "line 1", True],
                ["sklearn", "sklearn.svm", "line 3 in forward", True]]]

    def fake_agent():
        a, b = socket.socketpair()
        threading.Thread(target=_answer_once, args=(b, answers.pop()), daemon=True).start()
        return a

    watch.collect("test_conv2d_forward", fake_agent)
    assert [(i.kind, i.cell, i.detail) for i in record.incidents] == [
        ("forbidden_library", "conv2d_op",
         "scipy.signal: scipy.signal (from-import, line 1), scipy.signal (import, line 2); action: block"),
        ("forbidden_library", "conv2d_op", "PIL: PIL (from-import, line 3); action: block"),
        ("forbidden_library", "test_conv2d_forward",
         "sklearn: sklearn.svm (imported at run time, line 3 in forward); blocked"),
    ]
    assert record.status == "graded_with_incidents"


def test_checks_are_attributed_to_the_graded_cell_before_the_next_student_cell():
    release_nb = nbformat.read(os.path.join(RELEASE, f"{ASSIGNMENT}.ipynb"), as_version=4)
    index = sample_cells.cell_index(release_nb, "conv2d_layer")
    assert graded_cell_before(release_nb, index) is None   # right after the conv2d_op cell: no checks between
    index = sample_cells.cell_index(release_nb, "feature_maps")
    assert graded_cell_before(release_nb, index) == "test_conv2d_backward"


# ------------------------------------------------------------------ the guard's record through the agent
def _answer_once(conn, result, raw: bytes | None = None):
    with conn:
        payload, _ = protocol.receive(conn)
        assert payload["op"] == imports.GUARD_OP
        if raw is not None:
            conn.sendall(raw)
        else:
            protocol.send(conn, {"ok": True, "result": result}, {})


def _ask(result=None, raw=None, timeout=5.0):
    a, b = socket.socketpair()
    threading.Thread(target=_answer_once, args=(b, result, raw), daemon=True).start()
    return ask_guard(lambda: a, timeout=timeout)


def test_the_guards_answer_is_read_and_validated():
    assert _ask([["PIL", "PIL.Image", "line 2", False]]) == [("PIL", "PIL.Image", "line 2", False)]
    assert _ask([]) == []
    assert _ask([["PIL", "PIL.Image", "line 2"]]) is None           # wrong shape
    assert _ask({"$d": []}) is None                                  # not a list
    assert _ask([[1, "PIL", "line 2", True]]) is None                # not text
    assert _ask(raw=(10 ** 9).to_bytes(8, "little")) is None         # claims a gigabyte
    assert ask_guard(lambda: (_ for _ in ()).throw(FileNotFoundError("agent.sock"))) is None


def test_an_agent_that_answers_nothing_costs_the_timeout_once():
    a, b = socket.socketpair()
    try:
        assert ask_guard(lambda: a, timeout=0.2) is None
    finally:
        b.close()


def test_the_agent_hands_over_and_forgets_the_guards_attempts():
    from gradekit import agent
    guard = imports.install(("PIL",), block=False)
    try:
        guard._attempts.append(["PIL", "PIL.Image", "line 4", False])
        assert agent.handle({"op": imports.GUARD_OP}, {}, None) == (
            {"ok": True, "result": [["PIL", "PIL.Image", "line 4", False]]}, {})
        assert agent.handle({"op": imports.GUARD_OP}, {}, None) == ({"ok": True, "result": []}, {})
    finally:
        imports.uninstall()
    assert imports.take_attempts() == []


# ------------------------------------------------------------------ the guard's decisions
@pytest.fixture()
def library_dir(tmp_path):
    return str(tmp_path / "site") + os.sep


def _function(filename: str, source: str, module: str = "__main__"):
    """A function ``ask(guard, name, *args)`` whose code lives in ``filename`` and whose module is ``module``."""
    namespace = {"__name__": module, "sys": sys}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["ask"]


ASK_DIRECTLY = "def ask(guard, name, inner=None):\n    guard.check(name, sys._getframe())\n"
ASK_THROUGH = "def ask(guard, name, inner):\n    return inner(guard, name)\n"


def test_student_code_asking_for_a_forbidden_module_is_refused_with_a_clear_message(library_dir):
    guard = ImportGuard(FORBIDDEN, block=True, hint="write this part yourself (with numpy)", roots=(library_dir,))
    cell = _function(CELL_FILE, "\n" + ASK_DIRECTLY)
    with pytest.raises(ModuleNotFoundError) as info:
        cell(guard, "scipy.signal")
    assert str(info.value) == ("scipy.signal is not allowed in this assignment: write this part yourself (with "
                               "numpy) [forbidden here: scipy.signal, scipy.ndimage, sklearn, torch, tensorflow, jax, "
                               "cv2, PIL]")
    assert info.value.name == "scipy.signal"
    with pytest.raises(ModuleNotFoundError, match=r"^scipy\.signal\.windows is not allowed in this assignment "
                                                  r"\(it is part of scipy\.signal\)"):
        cell(guard, "scipy.signal.windows")
    cell(guard, "scipy.stats")   # the parent's other modules are allowed
    cell(guard, "scipy")
    # one attempt per forbidden module and place: the second came from the same line
    assert guard.take_attempts() == [["scipy.signal", "scipy.signal", "line 3 in ask", True]]
    assert guard.take_attempts() == []


def test_library_code_importing_what_it_needs_goes_through(library_dir):
    guard = ImportGuard(FORBIDDEN, block=True, roots=(library_dir,))
    library = _function(os.path.join(library_dir, "matplotlib", "image.py"), ASK_DIRECTLY, module="matplotlib.image")
    cell = _function(CELL_FILE, ASK_THROUGH)
    cell(guard, "PIL.Image", library)   # the student imports matplotlib, matplotlib imports PIL: fine
    library(guard, "PIL")
    assert guard.take_attempts() == []


def test_a_package_loading_its_own_submodule_and_import_machinery_act_for_their_caller(library_dir):
    guard = ImportGuard(FORBIDDEN, block=True, roots=(library_dir,))
    lazy = _function(os.path.join(library_dir, "scipy", "__init__.py"), ASK_DIRECTLY, module="scipy")
    machinery = _function(os.path.join(library_dir, "importlib", "__init__.py"), ASK_DIRECTLY, module="importlib")
    cell = _function(CELL_FILE, ASK_THROUGH)
    with pytest.raises(ModuleNotFoundError):
        cell(guard, "scipy.signal", lazy)        # import scipy; scipy.signal -> scipy.__getattr__ loads it
    with pytest.raises(ModuleNotFoundError):
        cell(guard, "PIL", machinery)            # importlib.import_module("PIL")
    other_library = _function(os.path.join(library_dir, "statsmodels", "tsa.py"), ASK_THROUGH, module="statsmodels.tsa")
    other_library(guard, "scipy.signal", lazy)  # a library reaching it through scipy's lazy loader: its own business
    renamed = _function(CELL_FILE, ASK_DIRECTLY, module="importlib")
    with pytest.raises(ModuleNotFoundError):
        renamed(guard, "PIL")                    # a cell calling itself importlib is still a cell
    assert [a[1] for a in guard.take_attempts()] == ["scipy.signal", "PIL"]


def test_flag_mode_lets_student_code_import_and_remembers_it(library_dir):
    guard = ImportGuard(FORBIDDEN, block=False, roots=(library_dir,))
    cell = _function(CELL_FILE, ASK_DIRECTLY)
    cell(guard, "sklearn.svm")
    cell(guard, "sklearn.svm")   # the same place once
    assert guard.take_attempts() == [["sklearn", "sklearn.svm", "line 2 in ask", False]]


def test_which_files_are_library_code(library_dir):
    guard = ImportGuard(FORBIDDEN, roots=(library_dir,))
    assert guard.is_library_file(os.path.join(library_dir, "numpy", "core.py"))
    assert guard.is_library_file("<frozen importlib._bootstrap>")
    assert not guard.is_library_file(CELL_FILE)
    assert not guard.is_library_file("<string>")
    assert not guard.is_library_file("helper.py")
    assert not guard.is_library_file("/tmp/grader-sandbox-x/work/helper.py")


def test_the_modules_an_import_statement_asks_for():
    names = ImportGuard.statement_names
    assert names("scipy", None, ("signal", "stats"), 0) == ["scipy", "scipy.signal", "scipy.stats"]
    assert names("scipy.signal", None, ("*",), 0) == ["scipy.signal"]
    assert names("x", {"__package__": "pkg.sub"}, (), 2) == ["pkg.x"]
    assert names("", {"__package__": "pkg"}, ("y",), 1) == ["pkg", "pkg.y"]
    assert names("x", {"__package__": ""}, (), 1) == []


FAKE_ALLOWED = "import fakeforbidden\n\ndef lazy():\n    import fakeforbidden.sub\n    return fakeforbidden.sub.VALUE\n"
CELL_SOURCES = {
    "import_allowed": "import fakeallowed",
    "import_forbidden": "import fakeforbidden",
    "from_import": "from fakeforbidden import sub",
    "import_module": "import importlib\nimportlib.import_module('fakeforbidden')",
    "dunder_import": "__import__('fake' + 'forbidden')",
    "exec_string": "exec('import fakeforbidden')",
    "library_lazy": "import fakeallowed\nvalue = fakeallowed.lazy()",
}


def test_the_installed_hooks_stop_cells_but_not_libraries(tmp_path):
    site = tmp_path / "site"
    (site / "fakeforbidden").mkdir(parents=True)
    (site / "fakeforbidden" / "__init__.py").write_text("VALUE = 1\n")
    (site / "fakeforbidden" / "sub.py").write_text("VALUE = 2\n")
    (site / "fakeallowed").mkdir()
    (site / "fakeallowed" / "__init__.py").write_text(FAKE_ALLOWED)
    sys.path.insert(0, str(site))
    guard = ImportGuard(("fakeforbidden",), block=True, roots=imports.library_roots() + (str(site) + os.sep,))
    outcome = {}
    try:
        guard.install()
        for name, source in CELL_SOURCES.items():
            namespace = {"__name__": "__main__"}
            try:
                exec(compile(source, f"/tmp/ipykernel_7/{name}.py", "exec"), namespace)
                outcome[name] = namespace.get("value", "ok")
            except ModuleNotFoundError as exc:
                outcome[name] = str(exc).split(" is not allowed")[0] + " refused"
    finally:
        guard.uninstall()
        sys.path.remove(str(site))
        for module in ("fakeforbidden", "fakeforbidden.sub", "fakeallowed"):
            sys.modules.pop(module, None)
    assert outcome == {"import_allowed": "ok", "import_forbidden": "fakeforbidden refused",
                       "from_import": "fakeforbidden refused", "import_module": "fakeforbidden refused",
                       "dunder_import": "fakeforbidden refused", "exec_string": "fakeforbidden refused",
                       "library_lazy": 2}
    assert [a[1:3] for a in guard.take_attempts()] == [
        ["fakeforbidden", "line 1"], ["fakeforbidden", "line 1"], ["fakeforbidden", "line 2"],
        ["fakeforbidden", "line 1"], ["fakeforbidden", "line 1"]]
    import builtins
    import importlib
    assert builtins.__import__ is guard._original_import and importlib.import_module is guard._original_import_module


# ------------------------------------------------------------------ the instructor report
def test_the_report_lists_forbidden_library_uses_with_their_modules(tmp_path):
    root = str(tmp_path)
    record = GradingRecord("eve", ASSIGNMENT, ASSIGNMENT, status="graded_with_incidents")
    record.add("forbidden_library", "conv2d_op", "scipy.signal: scipy.signal (from-import, line 1); action: block")
    record.add("timeout", "cell 9", "interrupted after 30 s")
    path = os.path.join(root, "autograded", "eve", ASSIGNMENT, f"{ASSIGNMENT}.grading.json")
    os.makedirs(os.path.dirname(path))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(record.to_json())
    eve = Outcome("eve", "graded_with_incidents", ["forbidden_library", "timeout"], 0.0, 44.0, 1.0)
    bob = Outcome("bob", "graded", [], 44.0, 44.0, 1.0)
    uses = report.forbidden_uses(report.grading_records(root, ASSIGNMENT, [eve, bob]), [eve, bob])
    assert uses == [("eve", "conv2d_op", "scipy.signal",
                     "scipy.signal: scipy.signal (from-import, line 1); action: block")]
    data = report.ReportData(
        assignment=ASSIGNMENT, max_auto=44.0, manual_cells={}, counts={"graded": 1, "graded_with_incidents": 1,
                                                                              "failed": 0, "not_graded": 0},
        failure_kinds={}, totals={"eve": 0.0, "bob": 44.0}, mean=22.0, median=22.0, bin_edges=[0.0, 44.0],
        bin_counts=[2], cells=[], slowest=[eve, bob], issues=[eve], not_graded=[], forbidden=uses)
    page = report.render_html(data, "scores.png", "cells.png")
    assert "<h2>Forbidden libraries</h2>" in page
    assert ("<tr><td>eve</td><td><code>conv2d_op</code></td><td><code>scipy.signal</code></td>"
            "<td>scipy.signal: scipy.signal (from-import, line 1); action: block</td></tr>") in page
    # the incidents table names the modules next to the kind
    assert (f"<code>forbidden_library</code>: {html.escape(report.INCIDENT_KINDS['forbidden_library'])} "
            "(<code>scipy.signal</code>)") in page
    assert json.loads(record.to_json())["incidents"][0]["kind"] == "forbidden_library"
