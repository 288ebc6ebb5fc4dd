"""grader.tools.new_assignment: what ``python -m grader new`` writes, and what it refuses.

Each test makes a course in tmp_path; nothing is released or graded here
(tests/pipeline/test_new_assignment.py grades an assignment made this way).
"""
from __future__ import annotations

import os

import jupytext
import nbformat
import pytest

from grader.engine.assignment import load, names
from grader.tools import new_assignment
from grader.tools.new_assignment import NewAssignmentError, create, default_checks_package

GRADEKIT = ["__init__.py", "agent.py", "checking.py", "imports.py", "protocol.py", "student.py"]


def expected_files(name: str, checks: str, package_init: bool = True) -> list[str]:
    content = f"assignments/{name}"
    return ((["assignments/__init__.py"] if package_init else []) + [
        f"{content}/__init__.py", f"{content}/hidden_checks.py", f"{content}/samples/__init__.py",
        f"{content}/samples/demo.py", f"{content}/samples/mutants.py", f"{content}/samples/styles/addition.py",
        f"{content}/{checks}/__init__.py", f"{content}/{checks}/visible_checks.py",
        f"source/{name}/{name}.pct.py", f"source/{name}/{name}.ipynb",
        *(f"source/{name}/gradekit/{f}" for f in GRADEKIT),
        f"source/{name}/{checks}/__init__.py", f"source/{name}/{checks}/visible_checks.py"])


def tree(root) -> dict[str, bytes | str]:
    """Every file and link under ``root`` (no __pycache__) -> its bytes, or ``-> target`` for a link."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = "-> " + os.readlink(path)
            else:
                with open(path, "rb") as fh:
                    found[rel] = fh.read()
    return found


def quiet(root, name, title, checks=None):
    return create(str(root), name, title, checks, log=lambda line: None)


# ------------------------------------------------------------------ what it writes
def test_create_writes_exactly_the_assignment_and_the_package_init(tmp_path):
    lines = []
    written = create(str(tmp_path), "99_throwaway", "Throwaway", log=lines.append)
    assert written == expected_files("99_throwaway", "throwaway_checks")
    assert sorted(tree(tmp_path)) == sorted(written)
    # one line per path, then what to do next
    assert [line.split()[1] for line in lines[:-1]] == written
    assert lines[-1].startswith("next: ") and "python -m grader release -a 99_throwaway" in lines[-1]
    for rel in written[-8:]:   # the shipped packages are linked, as link_shipped does for every assignment
        assert os.path.islink(tmp_path / rel), rel
    assert os.path.realpath(tmp_path / "source/99_throwaway/throwaway_checks/visible_checks.py") == \
        str(tmp_path / "assignments/99_throwaway/throwaway_checks/visible_checks.py")
    with open(tmp_path / "source/99_throwaway/99_throwaway.pct.py", encoding="utf-8") as fh:
        text = fh.read()
    assert "{{" not in text and "}}" not in text
    assert "from throwaway_checks import run" in text and "# # Throwaway\n" in text


def test_the_assignment_loads_with_its_checks(tmp_path):
    quiet(tmp_path, "99_throwaway", "Throwaway")
    assert names(str(tmp_path)) == ["99_throwaway"]
    a = load(str(tmp_path), "99_throwaway")
    assert (a.title, a.checks_package, dict(a.ships), a.depends) == ("Throwaway", "throwaway_checks", {}, ())
    assert a.registry(hidden=False).groups() == ["test_double"] == a.registry(hidden=True).groups()
    assert [c.name for c in a.registry(hidden=False)] == ["test_double.double_example"]
    assert [c.name for c in a.registry(hidden=True)] == ["test_double.double_keeps_shape",
                                                        "test_double.double_random_values"]
    mutants = a.module("samples.mutants")
    assert [(m.name, m.style, m.cell, m.fails) for m in mutants.CATALOG] == [
        ("double_flattens", "reference", "double", ("test_double",))]
    demo = a.module("samples.demo")
    assert (demo.BLANK, demo.CORRECT, demo.BUGGY) == (
        "carol_blank", {"alice_addition": "addition"}, {"dave_flattens": "double_flattens"})


def test_a_second_assignment_leaves_the_first_and_the_package_init_alone(tmp_path):
    os.makedirs(tmp_path / "assignments")
    (tmp_path / "assignments" / "__init__.py").write_text('"""My own course."""\n')
    first = quiet(tmp_path, "01_first", "First")
    before = tree(tmp_path)
    second = quiet(tmp_path, "10_attention", "Attention")
    assert first == expected_files("01_first", "first_checks", package_init=False)
    assert second == expected_files("10_attention", "attention_checks", package_init=False)
    after = tree(tmp_path)
    assert {rel: after[rel] for rel in before} == before
    assert sorted(set(after) - set(before)) == sorted(second)
    assert names(str(tmp_path)) == ["01_first", "10_attention"]


def test_a_chosen_checks_package_and_any_title(tmp_path):
    title = 'Attention: "queries", keys \\ values — ünïcode'
    written = quiet(tmp_path, "10_attention", title, "attn_checks")
    assert written == expected_files("10_attention", "attn_checks")
    a = load(str(tmp_path), "10_attention")
    assert (a.title, a.checks_package) == (title, "attn_checks")
    nb = nbformat.read(a.source_notebook, as_version=4)
    assert nb.cells[0].source.splitlines()[0] == f"# {title}"
    assert nb.cells[1].source == "import numpy as np\nfrom attn_checks import run"


@pytest.mark.parametrize("name, checks", [
    ("10_attention", "attention_checks"), ("99_throwaway", "throwaway_checks"), ("hw-1", "hw_1_checks"),
    ("Week3", "week3_checks"), ("2024_-_Intro-NN", "intro_nn_checks"), ("losses", "losses_checks"),
])
def test_the_default_checks_package(name, checks):
    assert default_checks_package(name) == checks


# ------------------------------------------------------------------ the notebook
def test_the_pct_source_and_the_notebook_are_in_sync(tmp_path):
    quiet(tmp_path, "99_throwaway", "Throwaway")
    base = str(tmp_path / "source" / "99_throwaway" / "99_throwaway")
    from_text = jupytext.read(base + ".pct.py")
    notebook = nbformat.read(base + ".ipynb", as_version=4)
    assert len(from_text.cells) == len(notebook.cells) == 6
    for a, b in zip(from_text.cells, notebook.cells):
        assert a.cell_type == b.cell_type
        assert a.source == b.source, f"cell {b.metadata.get('nbgrader', {}).get('grade_id')} drifted"
        assert a.metadata.get("nbgrader") == b.metadata.get("nbgrader")
    # the .pct.py is what jupytext writes for the notebook: `jupytext --sync` changes nothing
    with open(base + ".pct.py", encoding="utf-8") as fh:
        assert jupytext.writes(notebook, fmt="py:percent") == fh.read()


def test_the_notebook_has_one_solution_cell_and_one_graded_cell(tmp_path):
    quiet(tmp_path, "99_throwaway", "Throwaway")
    nb = nbformat.read(tmp_path / "source" / "99_throwaway" / "99_throwaway.ipynb", as_version=4)
    meta = [(c.cell_type, c.id, c.metadata.nbgrader["grade_id"], c.metadata.nbgrader["locked"],
             c.metadata.nbgrader["solution"], c.metadata.nbgrader["grade"], c.metadata.nbgrader.get("points"))
            for c in nb.cells]
    assert meta == [("markdown", "intro", "intro", True, False, False, None),
                    ("code", "setup", "setup", True, False, False, None),
                    ("code", "double", "double", False, True, False, None),
                    ("code", "example", "example", True, False, False, None),
                    ("code", "test_double", "test_double", True, False, True, 2),
                    ("markdown", "outro", "outro", True, False, False, None)]
    assert nb.cells[2].source == ('def double(x):\n    """Twice every element of the numpy array `x`: an array '
                                  'shaped like `x`."""\n    ### BEGIN SOLUTION\n    return 2 * x\n'
                                  '    ### END SOLUTION')
    assert nb.cells[4].source == ('run("test_double")\n### BEGIN HIDDEN TESTS\nrun("test_double", hidden=True)\n'
                                  '### END HIDDEN TESTS')
    assert nb.metadata.kernelspec.name == "python3"


def test_the_template_is_no_python_package():
    files = new_assignment.template_files()
    assert len(files) == 9 and all(f.endswith(".tmpl") for f in files)
    for dirpath, _, filenames in os.walk(new_assignment.TEMPLATE):
        assert not [f for f in filenames if f.endswith(".py")], dirpath


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("name", ["", "_private", "-dash", "has space", "a/b", "../escape", "ünïcode", "x.y",
                                  "tab\t", "new\nline"])
def test_a_name_nbgrader_cannot_use_is_refused(tmp_path, name):
    with pytest.raises(NewAssignmentError) as info:
        quiet(tmp_path, name, "Title")
    assert str(info.value) == (r"assignment name must match ^[A-Za-z0-9][A-Za-z0-9_-]*$ (letters, digits, '_' and "
                               r"'-', starting with a letter or digit, e.g. 10_attention); got " + repr(name))
    assert os.listdir(tmp_path) == []


def test_a_name_without_letters_needs_a_checks_package(tmp_path):
    with pytest.raises(NewAssignmentError, match=r"from the assignment name '42' .*pass one, e.g. --checks"):
        quiet(tmp_path, "42", "Title")
    assert quiet(tmp_path, "42", "Title", "week_checks")[1] == "assignments/42/__init__.py"


@pytest.mark.parametrize("folder", ["source", "assignments"])
def test_an_existing_assignment_is_refused_and_nothing_is_written(tmp_path, folder):
    os.makedirs(tmp_path / folder / "10_attention")
    with pytest.raises(NewAssignmentError) as info:
        quiet(tmp_path, "10_attention", "Attention")
    assert str(info.value) == (f"assignment '10_attention' must be new, but {tmp_path} already has "
                               f"{folder}/10_attention/; choose another name or remove them")
    assert os.listdir(tmp_path) == [folder] and os.listdir(tmp_path / folder) == ["10_attention"]


def test_both_existing_folders_are_named(tmp_path):
    quiet(tmp_path, "10_attention", "Attention")
    before = tree(tmp_path)
    with pytest.raises(NewAssignmentError, match="already has source/10_attention/ and assignments/10_attention/;"):
        quiet(tmp_path, "10_attention", "Attention again")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("checks", ["1checks", "my-checks", "my checks", "", "pkg.mod", "class"])
def test_a_checks_package_that_is_no_identifier_is_refused(tmp_path, checks):
    with pytest.raises(NewAssignmentError) as info:
        quiet(tmp_path, "10_attention", "Attention", checks)
    assert str(info.value) == ("checks package must be a Python identifier (letters, digits and '_', not starting "
                               f"with a digit, not a keyword), e.g. attention_checks; got {checks!r}")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("checks, why", [
    ("gradekit", "that is the engine's in-kernel package, which ships with every release"),
    ("samples", "that is a module of the content package"),
    ("hidden_checks", "that is a module of the content package"),
    ("json", "that is a standard-library module, which the notebook could then no longer import"),
])
def test_a_checks_package_whose_name_is_taken_is_refused(tmp_path, checks, why):
    with pytest.raises(NewAssignmentError) as info:
        quiet(tmp_path, "10_attention", "Attention", checks)
    assert str(info.value).startswith(f"checks package must not be named {checks!r}: {why}; choose another")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("title", ["", "   ", "two\nlines", "bell\a"])
def test_a_title_that_is_not_one_line_is_refused(tmp_path, title):
    with pytest.raises(NewAssignmentError) as info:
        quiet(tmp_path, "10_attention", title)
    assert str(info.value) == f"title must be one non-empty line of text, e.g. 'Attention'; got {title!r}"
    assert os.listdir(tmp_path) == []
