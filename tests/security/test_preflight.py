"""Preflight reads a submission as data: no link is followed, odd trees and notebooks fail with a reason."""
from __future__ import annotations

import json
import os

import nbformat
import pytest

from grader.engine import preflight
from grader.engine.preflight import Refused

ASSIGNMENT = "09_spatial"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def tiny_notebook(cells: int = 2, **metadata) -> bytes:
    nb = nbformat.v4.new_notebook(metadata=metadata)
    nb.cells = [nbformat.v4.new_code_cell(f"x = {i}") for i in range(cells)]
    return nbformat.writes(nb).encode()


@pytest.fixture()
def submitted(tmp_path):
    """submitted/ with one student, ``ada``, whose folder holds a tiny notebook."""
    root = tmp_path / "submitted"
    (root / "ada" / ASSIGNMENT).mkdir(parents=True)
    (root / "ada" / ASSIGNMENT / NOTEBOOK).write_bytes(tiny_notebook())
    return root


def read(submitted, student="ada", **limits):
    return preflight.read_submission(str(submitted), student, ASSIGNMENT, preflight.Preflight(**limits))


def folder(submitted, student="ada"):
    return submitted / student / ASSIGNMENT


def test_a_plain_submission_is_read_in_name_order_with_a_digest_of_names_and_contents(submitted):
    (folder(submitted) / "data").mkdir()
    (folder(submitted) / "data" / "w.txt").write_bytes(b"weights")
    sub = read(submitted)
    assert [(e.rel, e.is_dir, e.size) for e in sub.entries] == [
        (NOTEBOOK, False, len(tiny_notebook())), ("data", True, 0), ("data/w.txt", False, 7)]
    assert sub.entries[2].data == b"weights"
    before = sub.digest
    (folder(submitted) / "data" / "w.txt").write_bytes(b"weightz")
    assert read(submitted).digest != before
    os.rename(folder(submitted) / "data" / "w.txt", folder(submitted) / "data" / "v.txt")
    (folder(submitted) / "data" / "v.txt").write_bytes(b"weights")
    assert read(submitted).digest != before


@pytest.mark.parametrize("target", ["/etc/passwd", "gradebook", "classmate", "source"])
def test_a_notebook_that_is_a_symlink_is_refused_whatever_it_points_at(submitted, tmp_path, target):
    (tmp_path / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (tmp_path / "source.ipynb").write_bytes(tiny_notebook(5))
    (submitted / "bea" / ASSIGNMENT).mkdir(parents=True)
    (submitted / "bea" / ASSIGNMENT / NOTEBOOK).write_bytes(tiny_notebook(3))
    paths = {"/etc/passwd": "/etc/passwd", "gradebook": str(tmp_path / "gradebook.db"),
             "classmate": f"../../bea/{ASSIGNMENT}/{NOTEBOOK}", "source": str(tmp_path / "source.ipynb")}
    os.remove(folder(submitted) / NOTEBOOK)
    os.symlink(paths[target], folder(submitted) / NOTEBOOK)
    with pytest.raises(Refused, match=r"^09_spatial.ipynb is a symbolic link; submissions must be plain files"):
        read(submitted)


def test_the_student_folder_or_the_assignment_folder_as_a_symlink_is_refused(submitted):
    os.symlink("ada", submitted / "eve")
    with pytest.raises(Refused, match=r"^the folder submitted/eve is a symbolic link"):
        read(submitted, "eve")
    (submitted / "mal").mkdir()
    os.symlink(os.path.abspath(folder(submitted)), submitted / "mal" / ASSIGNMENT)
    with pytest.raises(Refused, match=r"^the folder submitted/mal/09_spatial is a symbolic link"):
        read(submitted, "mal")


def test_a_symlink_special_file_or_outside_hard_link_anywhere_inside_is_refused(submitted, tmp_path):
    sub = folder(submitted)
    (sub / "data" / "deep").mkdir(parents=True)
    os.symlink("/etc/passwd", sub / "data" / "deep" / "p")
    with pytest.raises(Refused, match=r"^data/deep/p is a symbolic link"):
        read(submitted)
    os.remove(sub / "data" / "deep" / "p")
    os.mkfifo(sub / "data" / "pipe")
    with pytest.raises(Refused, match=r"^data/pipe is a FIFO; submissions must be plain files and folders$"):
        read(submitted)
    os.remove(sub / "data" / "pipe")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    os.link(tmp_path / "outside.txt", sub / "data" / "copy.txt")
    with pytest.raises(Refused, match=r"^data/copy.txt is a hard link to a file outside the submission"):
        read(submitted)


def test_hard_links_between_files_of_the_submission_itself_are_plain_data(submitted):
    sub = folder(submitted)
    (sub / "a.txt").write_bytes(b"same")
    os.link(sub / "a.txt", sub / "b.txt")
    assert [(e.rel, e.data) for e in read(submitted).entries if e.rel.endswith(".txt")] == [
        ("a.txt", b"same"), ("b.txt", b"same")]


def test_trees_over_the_bounds_are_refused_before_they_are_read_in_full(submitted):
    sub = folder(submitted)
    for i in range(5):
        (sub / f"f{i}.txt").write_bytes(b"x" * 10)
    with pytest.raises(Refused, match=r"^the submission holds more than 4 files and folders$"):
        read(submitted, max_entries=4)
    with pytest.raises(Refused, match=r"^the submission holds more than 100 bytes$"):
        read(submitted, max_read_bytes=100)
    deep = sub
    for i in range(4):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    with pytest.raises(Refused, match=r"^folders are nested more than 2 deep \(at d0/d1/d2/\)$"):
        read(submitted, max_depth=2)


def test_extra_files_over_the_budget_or_with_unclean_names_are_left_out_with_a_note(submitted):
    sub = folder(submitted)
    (sub / "big.bin").write_bytes(b"x" * 50)
    (sub / "small.txt").write_bytes(b"ok")
    os.close(os.open(os.path.join(os.fsencode(sub), b"bad\xffname.txt"), os.O_CREAT | os.O_WRONLY))
    (sub / "new\nline.txt").write_bytes(b"n")
    result = read(submitted, max_extra_bytes=10)
    kept = {e.rel: e.data for e in result.entries if not e.is_dir and e.rel != NOTEBOOK}
    assert kept == {"bad\udcffname.txt": None, "big.bin": None, "new\nline.txt": None, "small.txt": b"ok"}
    assert result.notes == ["left out bad\\udcffname.txt: its name is not clean text",
                            "left out big.bin (50 bytes): over the size budget for extra files",
                            "left out new\\nline.txt: its name is not clean text"]


@pytest.mark.parametrize("student, problem", [
    ("ada", ""), ("ana maría", ""), ("o'brien-2", ""),
    ("bad\udcffid", "is not valid UTF-8"),
    ("new\nline", "contains control or unassigned characters"),
    (".hidden", "is empty or starts with a dot"),
    ("x" * 129, "is 129 characters long, more than nbgrader's 128"),
    ("star*", "contains one of * ? [ ] (nbgrader reads student ids as glob patterns)"),
])
def test_student_ids_nbgrader_cannot_store_or_glob_safely_are_named(student, problem):
    assert preflight.student_id_problem(student) == problem


def stage(submitted, tmp_path, **limits):
    limits = preflight.Preflight(**limits)
    sub = preflight.read_submission(str(submitted), "ada", ASSIGNMENT, limits)
    return preflight.stage(sub, str(tmp_path / "staging"), "ada", ASSIGNMENT, limits)


def test_staging_writes_the_notebook_and_extra_files_and_nothing_else(submitted, tmp_path):
    (folder(submitted) / ".ipynb_checkpoints").mkdir()
    (folder(submitted) / ".ipynb_checkpoints" / "old.py").write_bytes(b"x")
    (folder(submitted) / "helper.py").write_bytes(b"y = 1\n")
    assert stage(submitted, tmp_path) == preflight.Staged("ada", True)
    staged = tmp_path / "staging" / "ada" / ASSIGNMENT
    assert sorted(os.listdir(staged)) == [NOTEBOOK, "helper.py"]
    assert [c.source for c in nbformat.read(str(staged / NOTEBOOK), as_version=4).cells] == ["x = 0", "x = 1"]


def test_a_folder_named_like_the_notebook_is_no_notebook(submitted, tmp_path):
    os.remove(folder(submitted) / NOTEBOOK)
    (folder(submitted) / NOTEBOOK).mkdir()
    assert stage(submitted, tmp_path) == preflight.Staged(
        "ada", False, "no notebook submitted (expected 09_spatial.ipynb; 09_spatial.ipynb is a folder)")


def test_a_single_renamed_notebook_is_graded_in_its_place_with_a_note(submitted, tmp_path):
    os.rename(folder(submitted) / NOTEBOOK, folder(submitted) / "09_spatial (1).ipynb")
    assert stage(submitted, tmp_path).notes == [
        "graded '09_spatial (1).ipynb' as '09_spatial.ipynb' (the only notebook submitted)"]


def cells_json(cells) -> bytes:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def code(source="x = 1", **extra):
    return {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None,
            "id": "c", **extra}


@pytest.mark.parametrize("raw, limits, reason", [
    (b"", {}, "the notebook file is empty"),
    (b"\xff\xfe{", {}, "the notebook is not UTF-8 text (invalid start byte at byte 0)"),
    (b"[1, 2]", {}, "the notebook has no list of cells"),
    (b"[" * 100_000 + b"]" * 100_000, {}, "the notebook's JSON is nested more than 64 levels deep"),
    (cells_json([code(metadata={"a": [[[[[[[[1]]]]]]]]})]), {"max_json_depth": 6},
     "the notebook's JSON is nested more than 6 levels deep"),
    (cells_json([code()] * 5), {"max_cells": 4}, "the notebook has 5 cells, more than 4"),
    (cells_json([code("x" * 50)]), {"max_source_bytes": 40}, "the notebook's cell sources are 50 bytes, more than 40"),
    (cells_json([code(outputs=[{"output_type": "stream", "name": "stdout", "text": "y" * 100}])]),
     {"max_output_bytes": 90}, "the notebook's stored outputs are 157 bytes, more than 90"),
    (cells_json([code(metadata={"k": "v" * 100})]), {"max_metadata_bytes": 50},
     "the notebook's metadata are 111 bytes, more than 50"),
    (cells_json(["not a cell"]), {}, "the notebook has a cell that is not a JSON object"),
    (cells_json([code("x = '\\udc80'")]).replace(b"\\\\udc80", b"\\udc80"), {},
     "the notebook holds text that is not valid Unicode (a lone surrogate escape)"),
    (b"[" + b"1," * 500 + b"1]", {"max_json_values": 100}, "the notebook holds about 501 JSON values, more than 100"),
])
def test_notebooks_outside_the_bounds_fail_with_their_reason(raw, limits, reason):
    with pytest.raises(Refused) as info:
        preflight.parse_notebook(raw, preflight.Preflight(**limits))
    assert str(info.value) == reason


def test_a_notebook_inside_the_bounds_parses_to_a_v4_notebook():
    nb = preflight.parse_notebook(tiny_notebook(3))
    assert (nb.nbformat, [c.source for c in nb.cells]) == (4, ["x = 0", "x = 1", "x = 2"])
