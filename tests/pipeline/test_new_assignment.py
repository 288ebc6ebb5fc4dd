"""Adding an assignment touches only its own files: a course made from the template alone releases,
grades and proves its checks with the engine as it is.

A scratch course with no copy of the real assignments gets ``99_throwaway`` from
``grader.tools.new_assignment.create``; it is released, three submissions (the notebook's own
solution, the template's mutant, the blank release) are graded through the real sandboxed
pipeline, and the mutation harness runs on it in process; its source notebook runs top to bottom
with every check passing, as in the instructor's Jupyter.  The repository's working tree is the
same before and after.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from grader.engine import batch, course
from grader.engine.assignment import load, names
from grader.harness import mutation
from grader.harness import samples as sample_cells
from grader.harness.scratch import scratch_course
from grader.tools.new_assignment import create

from ..conftest import REPO

NAME = "99_throwaway"
CHECKS = "throwaway_checks"
GRADEKIT = ["__init__.py", "agent.py", "checking.py", "imports.py", "protocol.py", "student.py"]
# the instructor's pipeline state: ignored by git, so git status cannot see a write into it
INSTRUCTOR_STATE = ["gradebook.db", "grades.csv", ".grading", ".secrets", ".exchange", "submitted", "autograded",
                    "feedback", "reports"]


def working_tree() -> dict[str, str]:
    """Every changed or untracked path of the repository -> its status and a digest of its bytes, and every
    file of the instructor's pipeline state -> its size and modification time.

    ``git status`` alone would not see a file that was already modified change again.
    """
    state = {}
    for top in INSTRUCTOR_STATE:
        path = os.path.join(REPO, top)
        files = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
        for file in files:
            info = os.lstat(file)
            state[os.path.relpath(file, REPO)] = f"state {info.st_size} {info.st_mtime_ns}"
    done = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=all", "-z"],
                          capture_output=True, text=True, check=True)
    entries = iter(done.stdout.split("\0"))
    for entry in entries:
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] in "RC":
            next(entries)   # a staged rename or copy is followed by the path it came from
        full = os.path.join(REPO, path)
        digest = "-"
        if os.path.isfile(full):
            with open(full, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
        state[path] = f"{status} {digest}"
    return state


def released_files(release: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), release) for d, dirs, fs in os.walk(release)
                  for f in fs if "__pycache__" not in d)


def lines_of(path: str) -> set[str]:
    with open(path, encoding="utf-8") as fh:
        return {line.strip() for line in fh if line.strip()}


@pytest.mark.slow
def test_a_new_assignment_releases_grades_and_proves_its_checks_with_the_engine_unchanged(tmp_path, monkeypatch):
    before = working_tree()
    root = scratch_course(str(tmp_path / "course"), assignments=[], repo=REPO)
    assert sorted(os.listdir(root)) == ["nbgrader_config.py"]
    assert names(root) == []

    written = create(root, NAME, "Throwaway", log=lambda *a: None)
    assert "assignments/__init__.py" in written and f"source/{NAME}/{NAME}.ipynb" in written
    assert names(root) == [NAME]
    assignment = load(root, NAME)
    assert (assignment.title, assignment.checks_package) == ("Throwaway", CHECKS)
    assert assignment.content_dir == os.path.join(root, "assignments", NAME)

    # ------------------------------------------------------------- the instructor runs the source notebook
    source_nb = nbformat.read(assignment.source_notebook, as_version=4)
    with monkeypatch.context() as env:   # only this kernel: grading must not see the course on PYTHONPATH
        env.setenv("PYTHONPATH", root)   # its run(..., hidden=True) imports the course's assignments/
        ran = NotebookClient(nbformat.from_dict(source_nb), timeout=120, kernel_name="python3",
                             resources={"metadata": {"path": assignment.source_dir}}).execute()
    printed = {c.metadata.nbgrader["grade_id"]: "".join(o.get("text", "") for o in c.outputs)
               for c in ran.cells if c.cell_type == "code"}
    assert printed["example"] == "[[ 0.  2.  4.]\n [ 6.  8. 10.]]\n"
    assert printed["test_double"].splitlines() == [
        "[PASS] double([1, -2, 3.5]) = [2, -4, 7]", "test_double: 1/1 visible checks passed.",
        "[PASS] double keeps the shape of 2-D and 3-D arrays", "[PASS] double of random values of either sign",
        "test_double: 2/2 hidden checks passed."]

    # ------------------------------------------------------------- release
    release = course.release(NAME, root)
    assert release == os.path.join(root, "release", NAME)
    assert released_files(release) == [f"{NAME}.ipynb", *(f"gradekit/{f}" for f in GRADEKIT),
                                       f"{CHECKS}/__init__.py", f"{CHECKS}/visible_checks.py"]
    # the hidden checks' own lines: those no module that ships has too (imports, the registry idiom)
    shipped = set().union(*(lines_of(p) for files in assignment.shipped().values() for p in files.values()))
    hidden = lines_of(os.path.join(assignment.content_dir, "hidden_checks.py")) - shipped
    assert '@check("test_double", "double keeps the shape of 2-D and 3-D arrays")' in hidden and len(hidden) >= 15
    release_nb = nbformat.read(os.path.join(release, f"{NAME}.ipynb"), as_version=4)
    for rel in released_files(release):
        lines = ({line.strip() for c in release_nb.cells for line in c.source.splitlines()}
                 if rel.endswith(".ipynb") else lines_of(os.path.join(release, rel)))
        assert not lines & hidden, f"{rel} holds lines of the hidden checks: {sorted(lines & hidden)[:3]}"
    code = "\n".join(c.source for c in release_nb.cells if c.cell_type == "code")
    assert "hidden=True" not in code and "SOLUTION" not in code and "return 2 * x" not in code
    assert re.findall(r'raise NotImplementedError\("([^"]+)"\)', code) == [
        "double: replace this line with your implementation"]

    # ------------------------------------------------------------- grading
    mutant = assignment.module("samples.mutants").BY_NAME["double_flattens"]
    submissions = {"alice": sample_cells.solution_cells(source_nb), "bob": mutant.cells(source_nb), "carol": {}}
    for student, cells in submissions.items():
        sample_cells.write_submission(root, NAME, student, sample_cells.build_notebook(release_nb, cells), release)
    outcomes = batch.grade_batch(NAME, root, workers=2, progress=False, log=lambda *a: None)
    assert sorted((o.student, o.status, o.score, o.max_score) for o in outcomes) == [
        ("alice", "graded", 2.0, 2.0), ("bob", "graded", 1.0, 2.0), ("carol", "graded", 0.0, 2.0)]
    assert course.autograded_maxima(NAME, root) == {"test_double": 2.0}
    # the mutant passes the visible check and one of the two hidden checks: half the points
    assert course.cell_scores(NAME, root) == {"alice": {"test_double": 2.0}, "bob": {"test_double": 1.0},
                                              "carol": {"test_double": 0.0}}

    # ------------------------------------------------------------- the mutation harness
    monkeypatch.setattr(sys, "path", list(sys.path))   # the harness puts the source folder first
    verdicts, alternatives, failures = mutation.run_in_process(load(root, NAME), workers=1)
    assert [(v.mutant.name, v.lost, v.visible_lost, v.verdict) for v in verdicts] == [
        ("double_flattens", ("test_double",), (), "killed")]
    assert "expected shape (3, 4), got (12,)" in failures[mutation.student_id("mutant", "double_flattens")][
        "test_double"]
    assert [(a.style, a.score, a.max_score, a.lost, a.ok) for a in alternatives] == [
        ("reference", 1.0, 1.0, (), True), ("addition", 1.0, 1.0, (), True)]

    # nothing outside the scratch course changed: the engine needed no edit
    after = working_tree()
    assert {p: (before.get(p), after.get(p)) for p in set(before) | set(after) if before.get(p) != after.get(p)} == {}
