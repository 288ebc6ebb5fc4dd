"""Units of grader.engine.preflight: the submission digest, Entry contents, stage(), printable(),
student_id_problem() and the Preflight limits as configuration.

Complements tests/security/test_preflight.py (links, special files, bounds, notebook parsing),
which these tests do not repeat.
"""
from __future__ import annotations

import hashlib
import json
import os

import nbformat
import pytest
from traitlets.config import Config

from grader.engine import preflight
from grader.engine.preflight import Preflight, Staged

ASSIGNMENT = "01_unit_demo"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def notebook_bytes(*sources: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, id=f"cell-{i}") for i, s in enumerate(sources)]
    return nbformat.writes(nb).encode()


def make_submission(root, student: str, files: dict[str, bytes], folders=()):
    """submitted/<student>/<ASSIGNMENT>/ holding ``files`` (relative path -> bytes) and empty ``folders``."""
    base = root / "submitted" / student / ASSIGNMENT
    base.mkdir(parents=True, exist_ok=True)
    for name in folders:
        (base / name).mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    return base


def read(root, student="ada", limits=None):
    return preflight.read_submission(str(root / "submitted"), student, ASSIGNMENT, limits)


BASIC = {NOTEBOOK: notebook_bytes("x = 1"), "data/w.txt": b"weights", "helper.py": b"y = 2\n"}


# ---------------------------------------------------------------- digest

def test_the_digest_is_sha256_over_sorted_names_and_content_digests(tmp_path):
    make_submission(tmp_path, "ada", BASIC)
    expected = hashlib.sha256()
    for rel, is_dir in ((NOTEBOOK, False), ("data", True), ("data/w.txt", False), ("helper.py", False)):
        content = b"" if is_dir else hashlib.sha256(BASIC[rel]).digest()
        expected.update(rel.encode() + (b"/\0" if is_dir else b"\0") + content)
    assert read(tmp_path).digest == expected.hexdigest()


def test_the_same_files_give_the_same_digest_whoever_hands_them_in(tmp_path):
    make_submission(tmp_path, "ada", BASIC)
    make_submission(tmp_path, "bea", BASIC)
    first = read(tmp_path).digest
    assert read(tmp_path).digest == first
    assert read(tmp_path, "bea").digest == first


@pytest.mark.parametrize("change", ["one byte", "renamed", "moved into a folder", "empty folder added",
                                    "file left out by the budget changed"])
def test_any_change_to_what_was_handed_in_changes_the_digest(tmp_path, change):
    files = dict(BASIC, **{"big.bin": b"x" * 100})
    make_submission(tmp_path, "ada", files)
    limits = Preflight(max_extra_bytes=50)
    before = read(tmp_path, limits=limits).digest
    base = tmp_path / "submitted" / "ada" / ASSIGNMENT
    if change == "one byte":
        (base / "helper.py").write_bytes(b"y = 3\n")
    elif change == "renamed":
        os.rename(base / "helper.py", base / "helpers.py")
    elif change == "moved into a folder":
        os.rename(base / "helper.py", base / "data" / "helper.py")
    elif change == "empty folder added":
        (base / "empty").mkdir()
    else:
        (base / "big.bin").write_bytes(b"x" * 99 + b"y")
    assert read(tmp_path, limits=limits).digest != before


def test_a_file_and_an_empty_folder_of_the_same_name_differ(tmp_path):
    make_submission(tmp_path, "ada", {NOTEBOOK: b"{}", "thing": b""})
    make_submission(tmp_path, "bea", {NOTEBOOK: b"{}"}, folders=["thing"])
    assert read(tmp_path).digest != read(tmp_path, "bea").digest


# ---------------------------------------------------------------- entries

def test_entries_record_size_and_content_digest_and_keep_only_usable_bytes(tmp_path):
    files = {NOTEBOOK: notebook_bytes("x = 1"), "other.ipynb": b"{}", "sub/inner.ipynb": b"{}",
             "__pycache__/m.pyc": b"\0\1", "sub/__pycache__/n.pyc": b"\2", "sub/data.csv": b"1,2\n"}
    make_submission(tmp_path, "ada", files)
    entries = {e.rel: e for e in read(tmp_path).entries}
    assert sorted(entries) == [NOTEBOOK, "__pycache__", "__pycache__/m.pyc", "other.ipynb", "sub",
                               "sub/__pycache__", "sub/__pycache__/n.pyc", "sub/data.csv", "sub/inner.ipynb"]
    kept = {rel: e.data for rel, e in entries.items() if e.data is not None}
    assert kept == {NOTEBOOK: files[NOTEBOOK], "other.ipynb": b"{}", "sub/data.csv": b"1,2\n"}
    for rel, data in files.items():
        assert (entries[rel].size, entries[rel].sha256) == (len(data), hashlib.sha256(data).digest())
    assert (entries["sub"].is_dir, entries["sub"].size, entries["sub"].sha256) == (True, 0, b"")


def test_a_top_level_notebook_over_the_size_bound_is_measured_but_not_kept(tmp_path):
    make_submission(tmp_path, "ada", {NOTEBOOK: notebook_bytes("x = 1")})
    size = len(notebook_bytes("x = 1"))
    (entry,) = read(tmp_path, limits=Preflight(max_notebook_bytes=size - 1)).entries
    assert (entry.size, entry.data) == (size, None)
    (entry,) = read(tmp_path, limits=Preflight(max_notebook_bytes=size)).entries
    assert entry.data == notebook_bytes("x = 1")


def test_the_extra_file_budget_is_spent_in_name_order(tmp_path):
    make_submission(tmp_path, "ada", {NOTEBOOK: b"{}", "a.txt": b"aaaa", "b.txt": b"bbbb", "c.txt": b"cc"})
    sub = read(tmp_path, limits=Preflight(max_extra_bytes=7))
    assert {e.rel: e.data for e in sub.entries if e.rel != NOTEBOOK} == {"a.txt": b"aaaa", "b.txt": None,
                                                                          "c.txt": b"cc"}
    assert sub.notes == ["left out b.txt (4 bytes): over the size budget for extra files"]


# ---------------------------------------------------------------- stage

def stage(tmp_path, student="ada", limits=None):
    sub = read(tmp_path, student, limits)
    return preflight.stage(sub, str(tmp_path / "staging"), student, ASSIGNMENT, limits)


def staged_files(tmp_path, student="ada") -> dict[str, bytes]:
    base = tmp_path / "staging" / student / ASSIGNMENT
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_stage_writes_exactly_the_notebook_and_the_kept_extra_files(tmp_path):
    files = dict(BASIC, **{"sub/inner.ipynb": notebook_bytes("z"), "__pycache__/m.pyc": b"\0",
                           "deep/er/table.csv": b"a,b\n"})
    make_submission(tmp_path, "ada", files)
    assert stage(tmp_path) == Staged("ada", True, "", [])
    written = staged_files(tmp_path)
    assert sorted(written) == ["01_unit_demo.ipynb", "data/w.txt", "deep/er/table.csv", "helper.py"]
    assert {k: v for k, v in written.items() if k != NOTEBOOK} == {
        "data/w.txt": b"weights", "deep/er/table.csv": b"a,b\n", "helper.py": b"y = 2\n"}
    staged_nb = nbformat.reads(written[NOTEBOOK].decode(), as_version=4)
    assert [c.source for c in staged_nb.cells] == ["x = 1"]


def test_the_staged_notebook_is_rewritten_by_nbformat_not_copied(tmp_path):
    compact = json.dumps(json.loads(notebook_bytes("x = 1")), separators=(",", ":")).encode()
    make_submission(tmp_path, "ada", {NOTEBOOK: compact})
    assert stage(tmp_path).ok
    written = staged_files(tmp_path)[NOTEBOOK]
    assert written != compact
    assert written.decode() == nbformat.writes(nbformat.reads(compact.decode(), as_version=4)) + "\n"


def test_staging_again_replaces_what_an_earlier_staging_left(tmp_path):
    make_submission(tmp_path, "ada", BASIC)
    assert stage(tmp_path).ok
    os.remove(tmp_path / "submitted" / "ada" / ASSIGNMENT / "helper.py")
    assert stage(tmp_path).ok
    assert sorted(staged_files(tmp_path)) == [NOTEBOOK, "data/w.txt"]


def test_a_refused_notebook_leaves_no_staging_folder_even_from_an_earlier_run(tmp_path):
    make_submission(tmp_path, "ada", BASIC)
    assert stage(tmp_path).ok
    (tmp_path / "submitted" / "ada" / ASSIGNMENT / NOTEBOOK).write_bytes(b"")
    assert stage(tmp_path) == Staged("ada", False, f"the notebook file is empty (in {NOTEBOOK})")
    assert not (tmp_path / "staging" / "ada" / ASSIGNMENT).exists()


def test_an_oversized_notebook_fails_with_its_size_and_name(tmp_path):
    make_submission(tmp_path, "ada", {NOTEBOOK: notebook_bytes("x = 1")})
    size = len(notebook_bytes("x = 1"))
    result = stage(tmp_path, limits=Preflight(max_notebook_bytes=100))
    assert result == Staged("ada", False, f"the notebook file is {size} bytes, more than 100 (in {NOTEBOOK})")


def test_the_expected_notebook_wins_over_other_notebooks_which_are_not_staged(tmp_path):
    make_submission(tmp_path, "ada", {NOTEBOOK: notebook_bytes("mine"), "scratch.ipynb": notebook_bytes("other")})
    assert stage(tmp_path) == Staged("ada", True)
    written = staged_files(tmp_path)
    assert sorted(written) == [NOTEBOOK]
    assert nbformat.reads(written[NOTEBOOK].decode(), as_version=4).cells[0].source == "mine"


def test_several_notebooks_without_the_expected_one_cannot_be_graded(tmp_path):
    make_submission(tmp_path, "ada", {"b.ipynb": b"{}", "a.ipynb": b"{}", "sub/01_unit_demo.ipynb": b"{}"})
    assert stage(tmp_path) == Staged("ada", False, "01_unit_demo.ipynb is missing and 2 other notebooks were "
                                                   "submitted (a.ipynb, b.ipynb); cannot tell which to grade")


def test_only_a_notebook_in_a_subfolder_is_no_notebook(tmp_path):
    make_submission(tmp_path, "ada", {f"sub/{NOTEBOOK}": notebook_bytes("x")})
    assert stage(tmp_path) == Staged("ada", False, "no notebook submitted (expected 01_unit_demo.ipynb)")


def test_a_renamed_notebook_note_comes_before_the_notes_of_the_read(tmp_path):
    make_submission(tmp_path, "ada", {"copy.ipynb": notebook_bytes("x"), "big.bin": b"x" * 20})
    result = stage(tmp_path, limits=Preflight(max_extra_bytes=10))
    assert result == Staged("ada", True, "", [
        "graded 'copy.ipynb' as '01_unit_demo.ipynb' (the only notebook submitted)",
        "left out big.bin (20 bytes): over the size budget for extra files"])
    assert sorted(staged_files(tmp_path)) == [NOTEBOOK]


# ---------------------------------------------------------------- printable, student_id_problem

@pytest.mark.parametrize("name, shown", [
    ("plain.txt", "plain.txt"),
    ("ana maría", "ana maría"),
    ("tab\there", "tab\\there"),
    ("nul\x00byte", "nul\\x00byte"),
    ("bad\udcffname", "bad\\udcffname"),
    ("bell\x07", "bell\\x07"),
])
def test_printable_escapes_what_cannot_be_printed(name, shown):
    assert preflight.printable(name) == shown


def test_printable_cuts_long_names_after_escaping():
    assert preflight.printable("a" * 80) == "a" * 80
    assert preflight.printable("a" * 81) == "a" * 77 + "..."
    assert preflight.printable("\n" * 30, limit=11) == "\\n\\n\\n\\n..."
    # the cut does not respect escapes: a lone backslash can be left before the dots (reported oddity)
    assert preflight.printable("\n" * 30, limit=10) == "\\n\\n\\n\\..."
    assert len(preflight.printable("x" * 500, limit=40)) == 40


@pytest.mark.parametrize("student, problem", [
    ("", "is empty or starts with a dot"),
    ("x" * 128, ""),
    ("what?", "contains one of * ? [ ] (nbgrader reads student ids as glob patterns)"),
    ("a[1]", "contains one of * ? [ ] (nbgrader reads student ids as glob patterns)"),
    ("tab\tid", "contains control or unassigned characters"),
    ("zero\u200dwidth", "contains control or unassigned characters"),
    ("private\ue000", "contains control or unassigned characters"),
    ("unassigned\u0378", "contains control or unassigned characters"),
    (".\udcff", "is not valid UTF-8"),          # the encoding problem is named before the leading dot
    ("mid.dot", ""),
])
def test_student_id_problems_beyond_the_security_cases(student, problem):
    assert preflight.student_id_problem(student) == problem


# ---------------------------------------------------------------- Preflight limits

def test_preflight_limits_have_documented_defaults():
    limits = Preflight()
    assert (limits.max_notebook_bytes, limits.max_extra_bytes, limits.max_entries, limits.max_depth,
            limits.max_read_bytes, limits.max_cells) == (50 * 2 ** 20, 20 * 2 ** 20, 2000, 16, 256 * 2 ** 20, 1000)
    assert (limits.max_source_bytes, limits.max_output_bytes, limits.max_attachment_bytes,
            limits.max_metadata_bytes, limits.max_json_depth, limits.max_json_values) == (
        2 * 2 ** 20, 40 * 2 ** 20, 10 * 2 ** 20, 2 ** 20, 64, 4_000_000)


def test_preflight_limits_are_read_from_config_and_applied(tmp_path):
    config = Config()
    config.Preflight.max_cells = 2
    config.Preflight.max_entries = 3
    limits = Preflight(config=config)
    assert (limits.max_cells, limits.max_entries, limits.max_depth) == (2, 3, 16)
    make_submission(tmp_path, "ada", {NOTEBOOK: notebook_bytes("a", "b", "c")})
    assert stage(tmp_path, limits=limits) == Staged("ada", False,
                                                    f"the notebook has 3 cells, more than 2 (in {NOTEBOOK})")
    make_submission(tmp_path, "ada", {"a.txt": b"", "b.txt": b"", "c.txt": b""})
    with pytest.raises(preflight.Refused, match=r"^the submission holds more than 3 files and folders$"):
        read(tmp_path, limits=limits)


def test_an_nbformat_v3_notebook_is_refused_although_nbformat_could_convert_it():
    """Oddity (reported): the module docstring says old nbformat versions are converted."""
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
          "worksheets": [{"metadata": {}, "cells": [{"cell_type": "code", "input": "x = 1", "outputs": [],
                                                    "language": "python", "metadata": {}}]}]}
    raw = json.dumps(v3)
    assert nbformat.reads(raw, as_version=4).cells[0].source == "x = 1"
    with pytest.raises(preflight.Refused, match=r"^the notebook has no list of cells$"):
        preflight.parse_notebook(raw.encode())
