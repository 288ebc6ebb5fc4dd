"""The student version: nothing secret in it, and it matches the source."""
from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys

import jupytext
import nbformat
import pytest

from grader.engine import course
from grader.engine.assignment import load, names

from ..conftest import ASSIGNMENT, REPO

ASSIGNMENTS = names(REPO)


def release_files(repo, assignment):
    base = os.path.join(repo, "release", assignment)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            yield os.path.join(dirpath, name)


def _distinctive(line: str) -> str:
    return line.strip().lstrip("#").strip()


def secret_lines(repo, assignment) -> set[str]:
    """Every distinctive line inside a solution or hidden-test region of the source notebook, and every
    distinctive line of the assignment's hidden checks that no shipped file has too (shared imports)."""
    nb = nbformat.read(os.path.join(repo, "source", assignment, f"{assignment}.ipynb"), as_version=4)
    secrets = set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if re.search(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", line):
                inside = "BEGIN" in line
                continue
            if inside and len(_distinctive(line)) >= 20:
                secrets.add(_distinctive(line))
    content = load(repo, assignment)
    shipped = set()
    for files in content.shipped().values():
        for path in files.values():
            with open(path, encoding="utf-8") as fh:
                shipped.update(_distinctive(line) for line in fh)
    with open(os.path.join(content.content_dir, "hidden_checks.py"), encoding="utf-8") as fh:
        secrets.update(_distinctive(line) for line in fh if len(_distinctive(line)) >= 30)
    return secrets - shipped


@pytest.mark.parametrize("assignment, at_least, example", [
    ("09_spatial", 300, 'run("test_conv2d_forward", hidden=True)'),
    ("04_losses", 200, 'run("test_softmax", hidden=True)'),
])
def test_there_are_secrets_to_look_for(repo, assignment, at_least, example):
    # the leak test below is only meaningful if the source really has solution and hidden lines
    assert ASSIGNMENTS == ["04_losses", "09_spatial"]
    secrets = secret_lines(repo, assignment)
    assert len(secrets) > at_least and example in secrets


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_file_under_release_leaks_solutions_hidden_tests_or_the_reference(repo, assignment):
    secrets = secret_lines(repo, assignment)
    forbidden = [re.compile(p) for p in (
        r"BEGIN SOLUTION", r"END SOLUTION", r"BEGIN HIDDEN TESTS", r"hidden\s*=\s*True",
        r"(import|from)\s+tinytorch_ref", r"hidden_checks\.py", r"REGISTRY\s*=.*hidden",
    )]
    files = list(release_files(repo, assignment))
    assert any(f.endswith(".ipynb") for f in files) and len(files) >= 10
    assert not [f for f in files if os.path.basename(f) in ("hidden_checks.py", "hidden_coverage.py")]
    for path in files:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        if path.endswith(".ipynb"):  # compare cell by cell, line by line
            nb = nbformat.reads(text, as_version=4)
            lines = {_distinctive(line) for c in nb.cells for line in c.source.splitlines()}
        else:
            lines = {_distinctive(line) for line in text.splitlines()}
        leaked = sorted(lines & secrets)
        assert not leaked, f"{path} contains solution/hidden lines: {leaked[:3]}"
        for pattern in forbidden:
            if pattern.pattern == r"hidden\s*=\s*True" and path.endswith("__init__.py"):
                continue  # a checks package's run(..., hidden=False) documents the flag; no hidden call
            assert not pattern.search(text), f"{path} matches {pattern.pattern!r}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_up_to_date_with_source(repo, course_copy, assignment):
    """Regenerating the release from source/ reproduces the committed release/ exactly."""
    fresh = course.release(assignment, course_copy)
    committed = os.path.join(repo, "release", assignment)
    cmp = filecmp.dircmp(fresh, committed, ignore=["__pycache__"])

    def differences(c):
        found = c.left_only + c.right_only + c.diff_files + c.funny_files
        for sub in c.subdirs.values():
            found += differences(sub)
        return found

    assert differences(cmp) == [], "release/ is stale: run `make release` and commit"
    new_nb = nbformat.read(os.path.join(fresh, f"{assignment}.ipynb"), as_version=4)
    old_nb = nbformat.read(os.path.join(committed, f"{assignment}.ipynb"), as_version=4)
    assert [c.source for c in new_nb.cells] == [c.source for c in old_nb.cells]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebooks_carry_no_jupytext_pairing(repo, assignment):
    """The source notebook is paired with its .pct.py; the released one is not (a JupyterLab with jupytext
    would write the paired file at every save, and it would travel with the submission)."""
    source = nbformat.read(os.path.join(repo, "source", assignment, f"{assignment}.ipynb"), as_version=4)
    assert source.metadata["jupytext"] == {"formats": "ipynb,.pct.py:percent"}
    notebooks = sorted(f for f in release_files(repo, assignment) if f.endswith(".ipynb"))
    assert [os.path.relpath(f, os.path.join(repo, "release")) for f in notebooks] == [
        os.path.join(assignment, f"{assignment}.ipynb")]
    for path in notebooks:
        metadata = nbformat.read(path, as_version=4).metadata
        assert "jupytext" not in metadata, f"{path} carries jupytext metadata: {metadata['jupytext']}"
        assert metadata == {"kernelspec": source.metadata["kernelspec"]}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_jupytext_source_and_notebook_are_in_sync(repo, assignment):
    base = os.path.join(repo, "source", assignment, assignment)
    from_text = jupytext.read(base + ".pct.py")
    notebook = nbformat.read(base + ".ipynb", as_version=4)
    assert len(from_text.cells) == len(notebook.cells) > 20
    for a, b in zip(from_text.cells, notebook.cells):
        assert a.cell_type == b.cell_type
        assert a.source == b.source, f"cell {b.metadata.get('nbgrader', {}).get('grade_id')} drifted"
        assert a.metadata.get("nbgrader") == b.metadata.get("nbgrader")


def test_release_stubs_name_what_to_implement(repo):
    nb = nbformat.read(os.path.join(repo, "release", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), as_version=4)
    stubs = re.findall(r'raise NotImplementedError\("([^"]+)"\)', "\n".join(c.source for c in nb.cells))
    names = [s.split(":")[0] for s in stubs]
    assert names == ["conv_output_size", "receptive_field", "Conv2dOp.forward", "Conv2dOp.backward",
                     "Conv2d.__init__", "Conv2d.forward", "MaxPool2dOp.forward", "MaxPool2dOp.backward",
                     "MaxPool2d.forward", "AvgPool2dOp.forward", "AvgPool2dOp.backward", "AvgPool2d.forward",
                     "Flatten.forward", "SimpleCNN.__init__", "SimpleCNN.forward", "count_parameters"]


def test_assignment_has_graded_cells_with_points(repo):
    nb = nbformat.read(os.path.join(repo, "source", ASSIGNMENT, f"{ASSIGNMENT}.ipynb"), as_version=4)
    auto = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]
    manual = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
              and c.metadata["nbgrader"].get("solution")]
    assert len(auto) == 13 and sum(c.metadata["nbgrader"]["points"] for c in auto) == 44
    assert [c.cell_type for c in manual] == ["markdown", "markdown"]
    assert sum(c.metadata["nbgrader"]["points"] for c in manual) == 8
    # every test cell runs exactly one visible and one hidden group, named after the cell
    for c in auto:
        gid = c.metadata["nbgrader"]["grade_id"]
        assert c.source.count(f'run("{gid}")') == 1 and c.source.count(f'run("{gid}", hidden=True)') == 1


@pytest.mark.parametrize("package", ["tinytorch", "spatial_checks", "gradekit.agent"])
def test_release_support_packages_work_without_the_repository(repo, tmp_path, package):
    """A student's machine has only the release folder: its packages must stand alone."""
    shutil.copytree(os.path.join(repo, "release", ASSIGNMENT), tmp_path / "rel")
    code = ("import sys; sys.modules['tinytorch_ref'] = None; sys.modules['grader'] = None; "
            f"import {package} as m; print(m.__file__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "rel", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(tmp_path / "rel"))
