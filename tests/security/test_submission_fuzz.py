"""Property: whatever one submission folder holds, planning the batch gives it one outcome and nobody else a change.

Hypothesis builds odd submission folders (names with invalid UTF-8, surrogates, newlines, glob
characters, very long names; links to the gradebook, to /etc/passwd, to a classmate; FIFOs, hard
links, folders where files are expected, empty and huge files, deep trees; notebooks that are
truncated, nested, surrogate-escaped, over the bounds or of the wrong shape) next to a good
submission, and runs the batch's planning step (preflight, digest, staging, nbgrader's sanitize,
the execution key) on both.  The invariant: the odd student ends planned or failed with a reason
and a readable state file, never an exception, and the good student's plan is unchanged.
"""
from __future__ import annotations

import json
import os
import shutil

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.engine import batch, course

from ..conftest import ASSIGNMENT, make_course_copy

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
GOOD = "good"
LIMITS = {"max_cells": 60, "max_entries": 40, "max_depth": 6, "max_notebook_bytes": 2 * 1024 ** 2,
          "max_read_bytes": 4 * 1024 ** 2}


@pytest.fixture(scope="module")
def fuzz_course(tmp_path_factory):
    """A course with a gradebook, small preflight bounds, and one good (blank) submission; its plan key."""
    root = make_course_copy(str(tmp_path_factory.mktemp("fuzz") / "course"))
    with open(os.path.join(root, "nbgrader_config.py"), "a", encoding="utf-8") as fh:
        fh.write("".join(f"\nc.Preflight.{k} = {v}" for k, v in LIMITS.items()) + "\n")
    course.ensure_gradebook(ASSIGNMENT, root)
    good = os.path.join(root, "submitted", GOOD, ASSIGNMENT)
    os.makedirs(good)
    shutil.copy(os.path.join(root, "release", ASSIGNMENT, NOTEBOOK), good)
    with open(os.path.join(root, "gradebook.db"), "rb") as fh:
        assert fh.read(6) == b"SQLite"
    run = batch.GradingRun(root, ASSIGNMENT, force=True)
    assert run.guarded("planning", GOOD, run.plan) is not None
    return root, run.planned[GOOD].key


def _release_bytes(root) -> bytes:
    with open(os.path.join(root, "release", ASSIGNMENT, NOTEBOOK), "rb") as fh:
        return fh.read()


names = st.one_of(
    st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")),
    st.sampled_from([b"a\xffb", b"\xed\xb3\x80", b"line\nbreak", b"star*", b"[x]", b".hidden", b"x" * 255,
                     "ana mar\u00eda".encode(), b"-rf", b" "]),
)

notebook_edits = st.sampled_from([
    "release", "truncated", "surrogate", "deep", "many_cells", "not_object", "cells_not_list", "source_int",
    "bad_nbgrader_meta", "nan", "bom", "v3", "empty", "binary", "huge",
])


def notebook_bytes(kind: str, release: bytes) -> bytes:
    nb = json.loads(release)
    if kind == "release":
        return release
    if kind == "truncated":
        return release[: len(release) // 2]
    if kind == "surrogate":
        return release.replace(b'"cells": [', b'"x": "\\udc80\\ud800", "cells": [', 1)
    if kind == "deep":
        nb["metadata"]["deep"] = json.loads("[" * 500 + "]" * 500)
    elif kind == "many_cells":
        nb["cells"] = nb["cells"] * 3
    elif kind == "not_object":
        return b"[1, 2, 3]"
    elif kind == "cells_not_list":
        nb["cells"] = {"a": 1}
    elif kind == "source_int":
        nb["cells"][0]["source"] = 12345
    elif kind == "bad_nbgrader_meta":
        for cell in nb["cells"]:
            if "nbgrader" in cell["metadata"]:
                cell["metadata"]["nbgrader"]["points"] = "lots"
                cell["metadata"]["nbgrader"]["grade_id"] = ["not", "a", "string"]
    elif kind == "nan":
        return release.replace(b'"nbformat_minor": ', b'"bad": NaN, "big": 1e999, "nbformat_minor": ', 1)
    elif kind == "bom":
        return b"\xef\xbb\xbf" + release
    elif kind == "v3":
        nb["nbformat"] = 3
    elif kind == "empty":
        return b""
    elif kind == "binary":
        return os.urandom(300)
    elif kind == "huge":
        return b" " * (3 * 1024 ** 2) + release
    return json.dumps(nb).encode()


entries = st.lists(st.tuples(
    st.lists(names, min_size=1, max_size=3),
    st.sampled_from(["file", "empty", "big", "dir", "link_gradebook", "link_passwd", "link_classmate", "link_dir",
                     "fifo", "hardlink_outside", "hardlink_inside"]),
), max_size=5)


def build(root: str, student: bytes, notebook_kind: str, notebook_as: str, extra) -> bytes:
    """Write the odd submission; returns its folder name."""
    base = os.path.join(os.fsencode(root), b"submitted", student)
    folder = os.path.join(base, ASSIGNMENT.encode())
    os.makedirs(folder)
    nb_path = os.path.join(folder, NOTEBOOK.encode())
    data = notebook_bytes(notebook_kind, _release_bytes(root))
    if notebook_as == "file":
        with open(nb_path, "wb") as fh:
            fh.write(data)
    elif notebook_as == "dir":
        os.makedirs(nb_path)
    elif notebook_as == "link_classmate":
        os.symlink(os.path.join(os.fsencode(root), b"submitted", GOOD.encode(), ASSIGNMENT.encode(),
                                NOTEBOOK.encode()), nb_path)
    elif notebook_as == "renamed":
        with open(os.path.join(folder, b"copy \xff.ipynb"), "wb") as fh:
            fh.write(data)
    for parts, kind in extra:
        path = os.path.join(folder, *parts)
        if os.path.lexists(path) or any(os.path.lexists(os.path.join(folder, *parts[:i]))
                                        and not os.path.isdir(os.path.join(folder, *parts[:i]))
                                        for i in range(1, len(parts))):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if kind in ("file", "empty", "big"):
            with open(path, "wb") as fh:
                fh.write({"file": b"print('hi')\n", "empty": b"", "big": b"\0" * (3 * 1024 ** 2)}[kind])
        elif kind == "dir":
            os.makedirs(path)
        elif kind == "link_gradebook":
            os.symlink(os.path.join(os.fsencode(root), b"gradebook.db"), path)
        elif kind == "link_passwd":
            os.symlink(b"/etc/passwd", path)
        elif kind == "link_classmate":
            os.symlink(os.path.join(b"..", b"..", GOOD.encode()), path)
        elif kind == "link_dir":
            os.symlink(b"/etc", path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "hardlink_outside":
            os.link(os.path.join(os.fsencode(root), b"nbgrader_config.py"), path)
        elif kind == "hardlink_inside" and notebook_as == "file":
            os.link(nb_path, path)
    return student


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(student=st.one_of(st.sampled_from([b"odd", "ana mar\u00eda".encode(), b"o'brien", b"-rf"]), names),
       notebook_kind=notebook_edits,
       notebook_as=st.sampled_from(["file", "file", "file", "dir", "link_classmate", "renamed", "missing"]),
       extra=st.one_of(st.just([]), entries))
def test_an_odd_submission_ends_planned_or_failed_and_leaves_the_others_alone(fuzz_course, student, notebook_kind,
                                                                              notebook_as, extra):
    root, good_key = fuzz_course
    name = os.fsdecode(build(root, student, notebook_kind, notebook_as, extra))
    paths = batch.Paths(root, ASSIGNMENT)
    try:
        assert (sorted(course.submitted_students(ASSIGNMENT, root), key=os.fsencode)
                == sorted([GOOD, name], key=os.fsencode))
        run = batch.GradingRun(root, ASSIGNMENT, force=True)
        for who in course.submitted_students(ASSIGNMENT, root):
            run.guarded("planning", who, run.plan)
        assert run.planned[GOOD].key == good_key and GOOD not in run.outcomes
        assert (name in run.planned) != (name in run.outcomes)
        if name in run.outcomes:
            outcome = run.outcomes[name]
            assert outcome.status == "failed" and outcome.reasons and outcome.reasons[0]
            assert not outcome.reasons[0].startswith("grader error"), outcome.reasons
            recorded = [o for o in batch.all_outcomes(ASSIGNMENT, root) if o.student == name]
            assert [(o.status, o.reasons) for o in recorded] == [("failed", outcome.reasons)]
        else:
            staged = os.path.join(paths.staging, name, ASSIGNMENT, NOTEBOOK)
            assert nbformat.read(staged, as_version=4).nbformat == 4
    finally:
        shutil.rmtree(os.path.join(os.fsencode(root), b"submitted", student))
        shutil.rmtree(paths.state, ignore_errors=True)
        shutil.rmtree(paths.staging, ignore_errors=True)
