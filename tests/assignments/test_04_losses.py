"""The Losses assignment (04_losses): its notebook, what its release ships, and the strength of its checks.

The kill matrix runs in process (grader.harness.mutation.evaluate_all_in_process): the notebook's
setup cell and a sample's solution cells are executed into a namespace, and at each graded cell
the visible and hidden checks it names run through a LocalStudent.  Every correct style must get
full marks; every mutant of assignments/04_losses/samples/mutants.py must lose points on exactly
the cells it declares (an equivalent one on none).  The hidden checks hit every cell of the
coverage model (assignments/04_losses/hidden_coverage.py), whose cells classify a recorded call by
its arguments and shapes.  The slow tests execute the notebook, build a release and grade a
representative subset through the real, sandboxed pipeline.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections import Counter

import jupytext
import nbformat
import numpy as np
import pytest
from nbgrader import utils

from grader.engine.assignment import KERNEL_PACKAGE, load
from grader.harness import coverage, mutation
from grader.harness import samples as sample_cells

from ..conftest import REPO

LOSSES = load(REPO, "04_losses")
MUTANTS = LOSSES.module("samples.mutants")
CATALOG = MUTANTS.CATALOG
COVERAGE_MODEL = LOSSES.module("hidden_coverage")

GRADED = ["test_softmax", "test_log_softmax", "test_mse_forward", "test_mse_backward", "test_cross_entropy_forward",
          "test_cross_entropy_backward", "test_bce_forward", "test_bce_backward"]
POINTS = {"test_softmax": 3, "test_log_softmax": 3, "test_mse_forward": 2, "test_mse_backward": 2,
          "test_cross_entropy_forward": 3, "test_cross_entropy_backward": 3, "test_bce_forward": 3,
          "test_bce_backward": 3}
SOLUTION_CELLS = ["softmax", "log_softmax", "mse_loss", "cross_entropy", "bce_with_logits"]
STYLES = {"reference", "loops", "logsumexp", "float32", "branches"}
EQUIVALENT = {"ce_probs_from_softmax", "bce_log_not_log1p", "bce_naive_sigmoid", "bce_where_both_branches"}
HIDDEN_ONLY = {"softmax_global_max", "softmax_shift_by_mean", "softmax_swapaxes_one_way", "log_softmax_global_max",
               "mse_grad_ignores_upstream", "mse_grad_divides_by_batch", "ce_grad_ignores_upstream", "ce_global_max",
               "bce_sum_grad_divides", "bce_grad_ignores_upstream"}
# what students must write; none of it may ship with the release
ANSWERS = {"softmax", "log_softmax", "logsumexp", "sigmoid", "MSELoss", "SoftmaxCrossEntropy", "CrossEntropyLoss",
           "BCEWithLogitsLoss", "cross_entropy", "mse_loss", "binary_cross_entropy_with_logits"}


def source_notebook():
    return mutation.source_notebook(LOSSES)


@pytest.fixture(scope="module")
def matrix() -> dict[tuple[str, str], mutation.InProcessOutcome]:
    return {(o.kind, o.name): o for o in mutation.evaluate_all_in_process(LOSSES)}


# ------------------------------------------------------------------ the notebook
def test_the_notebook_grades_exactly_these_cells():
    plan = mutation.notebook_plan(source_notebook())
    assert [gid for kind, gid, _ in plan if kind == "grade"] == GRADED
    assert [gid for kind, gid, _ in plan if kind == "solution"] == SOLUTION_CELLS
    assert [gid for kind, gid, _ in plan if kind == "setup"] == ["setup"]
    # every graded cell runs its visible checks, then its hidden ones
    assert all(calls == [(gid, False), (gid, True)] for kind, gid, calls in plan if kind == "grade")


def test_points_and_the_written_answer():
    nb = source_notebook()
    auto = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}
    manual = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
              and c.metadata["nbgrader"].get("solution")]
    assert auto == POINTS and sum(auto.values()) == 22
    assert [(c.cell_type, c.metadata.nbgrader["grade_id"], c.metadata.nbgrader["points"]) for c in manual] == \
        [("markdown", "answer_fused", 3)]


def test_jupytext_source_and_notebook_are_in_sync():
    base = os.path.join(LOSSES.source_dir, LOSSES.name)
    from_text = jupytext.read(base + ".pct.py")
    notebook = nbformat.read(base + ".ipynb", as_version=4)
    assert len(from_text.cells) == len(notebook.cells) == 25
    for a, b in zip(from_text.cells, notebook.cells):
        assert a.cell_type == b.cell_type
        assert a.source == b.source, f"cell {b.metadata.get('nbgrader', {}).get('grade_id')} drifted"
        assert a.metadata.get("nbgrader") == b.metadata.get("nbgrader")


def test_the_declaration():
    assert (LOSSES.title, LOSSES.checks_package, LOSSES.depends) == ("Losses", "losses_checks", ("tinytorch_ref",))
    assert LOSSES.registry(hidden=False).groups() == GRADED
    assert LOSSES.registry(hidden=True).groups() == GRADED
    # several hidden checks per cell: partial credit follows what works
    hidden = LOSSES.registry(hidden=True)
    assert {g: len(hidden.in_group(g)) for g in GRADED} == {
        "test_softmax": 3, "test_log_softmax": 3, "test_mse_forward": 2, "test_mse_backward": 2,
        "test_cross_entropy_forward": 3, "test_cross_entropy_backward": 3, "test_bce_forward": 2,
        "test_bce_backward": 3}


# ------------------------------------------------------------------ what ships
def test_the_release_ships_the_autograd_foundation_and_no_loss():
    shipped = LOSSES.shipped()
    assert set(shipped) == {KERNEL_PACKAGE, "losses_checks", "tinytorch"}
    assert set(shipped["tinytorch"]) == {"__init__.py", "tensor.py"}
    assert set(shipped["losses_checks"]) == {"__init__.py", "drivers.py", "visible_checks.py"}
    for package, files in shipped.items():
        for name, path in files.items():
            with open(path, encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
            defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            assert not defined & ANSWERS, f"{package}/{name} defines {defined & ANSWERS}"
            imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
            assert not any(m.startswith(("tinytorch_ref", "assignments", "grader", "torch")) for m in imported), \
                (package, name, imported)


def test_the_shipped_tensor_imports_nothing_but_numpy():
    with open(LOSSES.shipped()["tinytorch"]["tensor.py"], encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == ["from __future__ import annotations", "import numpy as np"]


def test_the_shipped_packages_work_without_the_repository(tmp_path):
    """A student's machine has only the release folder: its packages stand alone, and the hidden checks
    are not there to import."""
    for package, files in LOSSES.shipped().items():
        os.makedirs(tmp_path / package)
        for name, path in files.items():
            shutil.copy(path, tmp_path / package / name)
    code = ("import sys\n"
            "for name in ('tinytorch_ref', 'grader', 'assignments'):\n"
            "    sys.modules[name] = None   # the repository's packages are not on a student's machine\n"
            "import numpy as np, tinytorch\n"
            "from tinytorch import Tensor, Function, no_grad\n"
            "from losses_checks import run\n"
            "assert sorted(tinytorch.__all__) == ['Function', 'Tensor', 'is_grad_enabled', 'no_grad']\n"
            "assert not hasattr(tinytorch, 'softmax') and not hasattr(tinytorch, 'losses')\n"
            "t = Tensor(np.array([1.0, 2.0]), requires_grad=True)\n"
            "(t * t).sum().backward()\n"
            "print(t.grad.tolist(), tinytorch.__file__.startswith(sys.argv[1]))\n"
            "try:\n"
            "    run('test_softmax', hidden=True, namespace={})\n"
            "except ModuleNotFoundError:\n"
            "    print('no hidden checks')\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[2.0, 4.0] True", "no hidden checks"]


def test_the_source_folder_links_every_shipped_file():
    for package, files in LOSSES.shipped().items():
        folder = os.path.join(LOSSES.source_dir, package)
        present = {f for f in os.listdir(folder) if f.endswith(".py")}
        assert present == set(files), package
        for name, origin in files.items():
            path = os.path.join(folder, name)
            assert os.path.islink(path) and os.path.realpath(path) == os.path.realpath(origin), path


def test_the_checks_never_read_the_reference_on_the_visible_side():
    folder = os.path.join(LOSSES.content_dir, "losses_checks")
    for name in os.listdir(folder):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                assert "tinytorch_ref" not in fh.read(), name


# ------------------------------------------------------------------ the catalog
def test_catalog_size_styles_and_coverage():
    assert len(CATALOG) == 49
    assert len(MUTANTS.BY_NAME) == len(CATALOG)
    assert {m.name for m in CATALOG if m.equivalent} == EQUIVALENT
    live = [m for m in CATALOG if not m.equivalent]
    assert len(live) == 45
    for m in CATALOG:
        assert set(m.fails) <= set(GRADED), m.name
        assert m.cell in SOLUTION_CELLS and m.about, m.name
        assert bool(m.fails) != bool(m.equivalent), f"{m.name}: declare cells, or an equivalence reason"
    # every graded cell is the declared target of several mutants
    declared = {cell: sum(cell in m.fails for m in live) for cell in GRADED}
    assert min(declared.values()) >= 4, declared
    assert {m.style for m in CATALOG} == STYLES
    assert set(mutation.alternative_styles(LOSSES)) == STYLES
    assert mutation.timed_style(LOSSES) == ("loops", 15.0)


def test_the_demo_class_uses_known_samples():
    demo = LOSSES.module("samples.demo")
    assert set(demo.CORRECT.values()) <= STYLES
    assert set(demo.BUGGY.values()) <= set(MUTANTS.BY_NAME)
    assert not {m for m in demo.BUGGY.values() if MUTANTS.BY_NAME[m].equivalent}
    assert demo.BLANK not in demo.CORRECT and demo.BLANK not in demo.BUGGY


def test_a_correct_style_and_its_mutant_differ_only_in_the_mutated_cell():
    nb = source_notebook()
    for m in CATALOG:
        base, mutated = sample_cells.read_style(LOSSES.styles_dir, m.style, nb), m.cells(nb)
        assert sorted(base) == sorted(SOLUTION_CELLS), m.style
        assert [c for c in base if base[c] != mutated[c]] == [m.cell], m.name


# ------------------------------------------------------------------ the kill matrix
@pytest.mark.parametrize("name", [m.name for m in CATALOG])
def test_mutant_loses_points_exactly_where_declared(matrix, name):
    mutant, outcome = MUTANTS.BY_NAME[name], matrix["mutant", name]
    assert outcome.errors == (), f"{name}: a solution cell raised while being defined: {outcome.errors}"
    lost = set(outcome.lost)
    if mutant.equivalent:
        assert lost == set(), f"equivalent mutant {name} lost points on {sorted(lost)}: {outcome.failures}"
        return
    assert lost & set(mutant.fails), f"{name} SURVIVED: no declared cell ({', '.join(mutant.fails)}) lost points"
    undeclared = lost - set(mutant.fails)
    assert not undeclared, {c: outcome.failures.get(c) for c in undeclared}
    assert lost == set(mutant.fails), f"{name}: declared cells that no longer lose points: " \
                                      f"{sorted(set(mutant.fails) - lost)}"


@pytest.mark.parametrize("style", sorted(STYLES))
def test_alternative_gets_full_marks(matrix, style):
    outcome = matrix["alternative", style]
    assert outcome.errors == ()
    assert outcome.lost == (), outcome.failures


def test_kill_rate_is_total_and_these_are_caught_only_by_the_hidden_checks(matrix):
    verdicts = [mutation.Verdict(m, matrix["mutant", m.name].lost, "", matrix["mutant", m.name].visible_lost)
                for m in CATALOG]
    assert mutation.kill_rate(verdicts) == (45, 45)
    assert all(v.ok for v in verdicts)
    assert {v.mutant.name for v in verdicts if v.hidden_only} == HIDDEN_ONLY


def test_the_failures_name_the_mistake(matrix):
    """The message of the first failing check says what is wrong and how to fix it."""
    expected = {
        ("softmax_no_max_shift", "test_softmax"): "subtract each row's maximum before np.exp",
        ("softmax_global_max", "test_softmax"): "Subtract each slice's own maximum",
        ("log_softmax_log_of_softmax", "test_log_softmax"): "np.log(softmax(x)) is -inf",
        ("mse_grad_forgets_mean", "test_mse_backward"): "3 times too large: did you forget the mean's 1/N?",
        ("mse_divides_by_batch", "test_mse_forward"): "divided by the batch size (2), not by the number of elements",
        ("mse_grad_ignores_upstream", "test_mse_backward"): "multiply your local gradient by it",
        ("mse_target_grad_none", "test_mse_backward"): "the gradient of the targets is None",
        ("ce_grad_forgets_n", "test_cross_entropy_backward"): "2 times too large: divide by N",
        ("ce_grad_column_index", "test_cross_entropy_backward"): "grad[np.arange(N), targets] -= 1",
        ("ce_log_of_softmax", "test_cross_entropy_forward"): "expected 2000., got inf",
        ("bce_log_of_sigmoid", "test_bce_forward"): "np.log1p(np.exp(-np.abs(z)))",
        ("bce_sum_grad_divides", "test_bce_backward"): "although reduction='sum' does not average",
        ("bce_target_grad_sigmoid", "test_bce_backward"): "= -z, not sigmoid(z)",
    }
    for (name, cell), fragment in expected.items():
        assert fragment in matrix["mutant", name].failures[cell], (name, matrix["mutant", name].failures[cell])


def test_a_blank_notebook_fails_every_cell_on_its_stubs():
    nb = source_notebook()
    blank = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and utils.is_solution(cell):
            blank[cell.metadata.nbgrader["grade_id"]] = re.sub(
                r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION", r"\1raise NotImplementedError()", cell.source,
                flags=re.S)
    results = mutation.evaluate_in_process(LOSSES, blank, nb)
    assert mutation.lost_cells(results) == tuple(GRADED)
    for cell in GRADED:
        visible = [r for hidden, r in results[cell] if not hidden]
        assert visible and all("raised NotImplementedError" in r.message for r in visible), cell


# ------------------------------------------------------------------ the coverage model
def regimes_hit(api: str, call: coverage.Call) -> set[tuple[str, str]]:
    """(aspect, value) of every cell of ``api`` in the coverage model that ``call`` hits."""
    return {(c.aspect, c.value) for c in COVERAGE_MODEL.model() if c.api == api and c.hit(call)}


def test_the_softmax_regimes_read_the_input_values_along_the_axis():
    # rows thousands apart: along the last axis one slice overflows unshifted and one underflows to 0 / 0;
    # along axis 0 the columns' maxima are 1 apart, and none is below -1000
    x = np.array([[1500.0, 1501.0], [-2000.0, -1999.0], [0.0, 1.0]])
    call = coverage.Call("c", "softmax", "call", {"x": x}, {"x": x, "axis": -1})
    assert regimes_hit("softmax", call) == {
        ("arg x", "2-D"), ("arg axis", "default (-1)"),
        ("stability", "a slice with maximum >= 1000 (exp overflows unshifted)"),
        ("stability", "a slice entirely <= -1000 (exp underflows to 0 / 0)"),
        ("stability", "slices >= 1000 apart, default axis")}
    call = coverage.Call("c", "softmax", "call", {"x": x, "axis": 0}, {"x": x, "axis": 0})
    assert regimes_hit("softmax", call) == {
        ("arg x", "2-D"), ("arg axis", "0"), ("stability", "a slice with maximum >= 1000 (exp overflows unshifted)")}
    y = np.zeros((2, 1, 3))
    call = coverage.Call("c", "log_softmax", "call", {"x": y, "axis": -2}, {"x": y, "axis": -2})
    assert regimes_hit("log_softmax", call) == {
        ("arg x", "3-D"), ("arg axis", "negative, not -1"), ("arg axis", "a middle one (neither first nor last)"),
        ("regime", "axis of length 1")}


def test_the_loss_regimes_read_the_reduction_and_the_first_input_shape():
    call = coverage.Call("c", "MSELoss", "backward", {}, {"reduction": "mean"}, (2, 1, 3, 2))
    assert regimes_hit("MSELoss", call) == {
        ("backward", "reduction default"), ("backward", "4-D"),
        ("backward", "mean, first axis shorter than the element count")}
    call = coverage.Call("c", "BCEWithLogitsLoss", "forward", {"reduction": "sum"}, {"reduction": "sum"}, (1,))
    assert regimes_hit("BCEWithLogitsLoss", call) == {
        ("forward", "reduction 'sum'"), ("forward", "one element"), ("forward", "1-D")}


def test_the_cross_entropy_regimes_read_the_targets_against_the_logits_shape():
    y = np.array([2, 0, 1])
    call = coverage.Call("c", "SoftmaxCrossEntropy", "forward", {"targets": y}, {"targets": y}, (3, 3))
    assert regimes_hit("SoftmaxCrossEntropy", call) == {
        ("forward", "every class the target once"), ("forward", "class 0 a target"),
        ("forward", "the last class a target")}
    y = np.array([2, 2, 0])
    call = coverage.Call("c", "SoftmaxCrossEntropy", "backward", {"targets": y}, {"targets": y}, (3, 4))
    assert regimes_hit("SoftmaxCrossEntropy", call) == {
        ("backward", "fewer rows than classes"), ("backward", "rows with different targets"),
        ("backward", "a target repeated")}


def test_the_hidden_checks_hit_every_cell_of_the_coverage_model_and_every_parameter_is_modelled():
    result, unmodelled = coverage.run(LOSSES)
    print(coverage.table(result))
    assert unmodelled == {}
    assert [(c.api, c.aspect, c.value) for c in result.gaps] == []
    assert COVERAGE_MODEL.GRADED_APIS == ["softmax", "log_softmax", "MSELoss", "SoftmaxCrossEntropy",
                                          "BCEWithLogitsLoss"]
    assert Counter(c.api for c in result.cells) == {"softmax": 18, "log_softmax": 18, "MSELoss": 22,
                                                    "SoftmaxCrossEntropy": 18, "BCEWithLogitsLoss": 22}
    assert len(result.cells) == 98


# ------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_the_source_notebook_runs_top_to_bottom_with_every_check_passing(monkeypatch):
    from nbclient import NotebookClient
    monkeypatch.setenv("PYTHONPATH", REPO)   # the kernel's run(..., hidden=True) imports assignments/
    nb = source_notebook()
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": LOSSES.source_dir}}).execute()
    text = {c.metadata.get("nbgrader", {}).get("grade_id", ""): "".join(o.get("text", "") for o in c.outputs)
            for c in nb.cells if c.cell_type == "code"}
    for gid in GRADED:
        assert "[FAIL]" not in text[gid]
        assert "visible checks passed" in text[gid] and "hidden checks passed" in text[gid], text[gid]
    # the demo classifier trains on the student's cross-entropy
    steps = re.findall(r"step +(\d+): loss ([\d.]+), accuracy (\d+)%", text["training"])
    assert steps[0] == ("0", "1.0986", "33") and steps[-1][0] == "100"
    assert float(steps[-1][1]) < 0.05 and steps[-1][2] == "100"


@pytest.mark.slow
def test_the_release_names_every_stub_and_hides_the_answers(tmp_path):
    from grader.harness.scratch import scratch_course
    root = scratch_course(str(tmp_path / "course"), [LOSSES.name], repo=REPO, release=True)
    release = os.path.join(root, "release", LOSSES.name)
    files = sorted(os.path.relpath(os.path.join(d, f), release) for d, _, fs in os.walk(release) for f in fs)
    assert files == ["04_losses.ipynb", "gradekit/__init__.py", "gradekit/agent.py", "gradekit/checking.py",
                     "gradekit/imports.py", "gradekit/protocol.py", "gradekit/student.py",
                     "losses_checks/__init__.py", "losses_checks/drivers.py", "losses_checks/visible_checks.py",
                     "tinytorch/__init__.py", "tinytorch/tensor.py"]
    nb = nbformat.read(os.path.join(release, "04_losses.ipynb"), as_version=4)
    source = "\n".join(c.source for c in nb.cells)
    stubs = re.findall(r'raise NotImplementedError\("([^"]+)"\)', source)
    assert [s.split(":")[0] for s in stubs] == ["softmax", "log_softmax", "MSELoss.forward", "MSELoss.backward",
                                                "SoftmaxCrossEntropy.forward", "SoftmaxCrossEntropy.backward",
                                                "BCEWithLogitsLoss.forward", "BCEWithLogitsLoss.backward"]
    assert "SOLUTION" not in source and "hidden=True" not in source and "log1p" not in source.split("## Part 4")[0]
    assert "np.log1p(np.exp(-np.abs(z)))" not in "\n".join(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_the_sandboxed_pipeline_agrees_with_the_in_process_matrix(matrix, tmp_path):
    """Every style and the representative mutants (every equivalent one and, per graded cell, one the
    visible checks catch and one only the hidden checks catch), graded as real submissions in a
    scratch course."""
    subset = mutation.representative_mutants(list(matrix.values()), {m.name: m for m in CATALOG}, "loops")
    assert {c for n in subset for c in matrix["mutant", n].lost} == set(GRADED)
    report = mutation.run_pipeline(LOSSES, subset, sorted(STYLES), root=str(tmp_path / "course"), progress=False,
                                   log=lambda *a: None, timed=False)
    assert sum(report.maxima.values()) == 22
    assert {(a.style, a.score, a.status) for a in report.alternatives} == {(s, 22.0, "graded") for s in STYLES}
    assert mutation.disagreements(report, matrix) == {}
