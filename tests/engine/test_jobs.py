"""Units of grader.engine.jobs: fingerprint, grader_version, directory_files, policy_values and ResultCache."""
from __future__ import annotations

import dataclasses
import json
import os
import re

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets import Integer, Unicode
from traitlets.config import Configurable

from grader.engine import jobs
from grader.engine.jobs import ExecutionResult, ResultCache

POLICY = json.dumps({"cell_timeout": 60, "memory_bytes": 2 ** 30}, sort_keys=True)
VERSION = "0123456789abcdef"


def notebook(*sources, **metadata):
    return new_notebook(cells=[new_code_cell(s, id=f"c{i}") for i, s in enumerate(sources)], metadata=metadata)


FILES = {"data/w.txt": b"weights", "helper.py": b"y = 2\n"}


def key(nb=None, files=None, policy=POLICY, version=VERSION):
    return jobs.fingerprint(nb if nb is not None else notebook("x = 1"), FILES if files is None else files,
                            policy, version)


# ---------------------------------------------------------------- fingerprint

def test_fingerprint_is_a_stable_sha256_hex_digest():
    assert re.fullmatch(r"[0-9a-f]{64}", key())
    assert key() == key()
    assert key(files=dict(reversed(list(FILES.items())))) == key()      # file order does not matter


def test_fingerprint_ignores_the_key_order_of_the_notebook_json():
    nb = notebook("x = 1", kernelspec={"name": "python3", "display_name": "P"})
    plain = json.loads(json.dumps(nb))
    reordered = {k: plain[k] for k in reversed(list(plain))}
    reordered["metadata"] = {"kernelspec": {"display_name": "P", "name": "python3"}}
    assert list(reordered) != list(nb) and list(reordered["metadata"]["kernelspec"]) == ["display_name", "name"]
    assert key(nb) == key(reordered)


@pytest.mark.parametrize("change", [
    {"nb": notebook("x = 2")},
    {"nb": notebook("x = 1", "y = 1")},
    {"nb": notebook("x = 1", language_info={"name": "python"})},
    {"files": {**FILES, "helper.py": b"y = 3\n"}},
    {"files": {"data/v.txt": b"weights", "helper.py": b"y = 2\n"}},
    {"files": {**FILES, "extra.csv": b""}},
    {"files": {"helper.py": b"y = 2\n"}},
    {"files": {}},
    {"policy": json.dumps({"cell_timeout": 61, "memory_bytes": 2 ** 30}, sort_keys=True)},
    {"version": "0123456789abcdee"},
])
def test_fingerprint_changes_with_the_notebook_files_policy_or_version(change):
    assert key(**change) != key()


def test_a_file_name_and_content_boundary_cannot_be_shifted():
    assert key(files={"ab": b"c"}) != key(files={"a": b"bc"})


def test_outputs_of_the_notebook_count_too():
    nb = notebook("x = 1")
    nb.cells[0].outputs = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    assert key(nb) != key()


# ---------------------------------------------------------------- grader_version

def content_dir(base, files: dict[str, str]) -> str:
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(base)


def test_grader_version_is_16_hex_digits_and_covers_the_python_of_the_content_dirs(tmp_path):
    a = content_dir(tmp_path / "v1" / "pkg", {"__init__.py": "", "checks.py": "X = 1\n"})
    b = content_dir(tmp_path / "v2" / "pkg", {"__init__.py": "", "checks.py": "X = 2\n"})
    c = content_dir(tmp_path / "v3" / "pkg", {"__init__.py": "", "checks.py": "X = 1\n", "notes.txt": "hi"})
    d = content_dir(tmp_path / "v4" / "other", {"__init__.py": "", "checks.py": "X = 1\n"})
    e = content_dir(tmp_path / "v5" / "pkg", {"__init__.py": "", "checks.py": "X = 1\n", "sub/more.py": ""})
    version = jobs.grader_version(a)
    assert re.fullmatch(r"[0-9a-f]{16}", version)
    assert jobs.grader_version(b) != version           # a .py file changed
    assert jobs.grader_version(c) == version           # files other than .py do not count
    assert jobs.grader_version(d) != version           # the folder's name counts
    assert jobs.grader_version(e) != version           # subfolders count
    assert jobs.grader_version() not in (version, jobs.grader_version(a, b))


def test_grader_version_skips_pycache_folders(tmp_path):
    a = content_dir(tmp_path / "v1" / "pkg", {"checks.py": "X = 1\n"})
    b = content_dir(tmp_path / "v2" / "pkg", {"checks.py": "X = 1\n", "__pycache__/checks.py": "stale"})
    assert jobs.grader_version(b) == jobs.grader_version(a)


# ---------------------------------------------------------------- directory_files

def write_tree(base, files: dict[str, bytes]):
    for rel, data in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)


@pytest.mark.parametrize("path", [None, "", "does/not/exist"])
def test_directory_files_of_no_folder_is_empty(tmp_path, path):
    assert jobs.directory_files(path and str(tmp_path / path)) == {}


def test_directory_files_of_a_file_is_empty(tmp_path):
    (tmp_path / "f.txt").write_bytes(b"x")
    assert jobs.directory_files(str(tmp_path / "f.txt")) == {}


def test_directory_files_reads_every_file_but_notebooks_caches_and_links(tmp_path):
    write_tree(tmp_path, {"a.ipynb": b"{}", "helper.py": b"h", ".env": b"e", "sub/inner.ipynb": b"{}",
                          "sub/data.csv": b"1,2", "__pycache__/m.pyc": b"c", "sub/__pycache__/n.pyc": b"c",
                          ".ipynb_checkpoints/a-checkpoint.ipynb": b"{}", ".ipynb_checkpoints/x.py": b"x"})
    os.symlink("/etc/hostname", tmp_path / "link.txt")
    os.symlink(str(tmp_path / "sub"), tmp_path / "linked_dir")
    assert jobs.directory_files(str(tmp_path)) == {".env": b"e", "helper.py": b"h", "sub/data.csv": b"1,2"}


def test_directory_files_leaves_out_files_over_the_limit_and_keeps_smaller_later_ones(tmp_path):
    write_tree(tmp_path, {"a.txt": b"a" * 6, "b.txt": b"b" * 6, "c.txt": b"c" * 4, "d/e.txt": b"e"})
    assert jobs.directory_files(str(tmp_path), limit=10) == {"a.txt": b"a" * 6, "c.txt": b"c" * 4}
    assert jobs.directory_files(str(tmp_path), limit=11) == {"a.txt": b"a" * 6, "c.txt": b"c" * 4, "d/e.txt": b"e"}
    assert jobs.directory_files(str(tmp_path), limit=0) == {}


def test_directory_files_default_limit_is_the_job_file_budget():
    assert jobs.directory_files.__defaults__ == (jobs.MAX_JOB_FILE_BYTES,)
    assert jobs.MAX_JOB_FILE_BYTES == 20 * 1024 ** 2


# ---------------------------------------------------------------- policy_values

class Policy(Configurable):
    cell_timeout = Integer(60).tag(config=True)
    label = Unicode("x").tag(config=True)
    internal = Integer(5)


def test_policy_values_are_the_configurable_traits_only():
    assert jobs.policy_values(Policy(cell_timeout=9)) == {"cell_timeout": 9, "label": "x"}


# ---------------------------------------------------------------- ResultCache

RESULT = ExecutionResult("ab" + "c" * 62, "ana maría", '{"cells": []}', '{"status": "graded"}')


def test_a_result_put_in_the_cache_comes_back_equal(tmp_path):
    cache = ResultCache(str(tmp_path / "cache"))
    assert cache.get(RESULT.key) is None
    cache.put(RESULT)
    assert cache.get(RESULT.key) == RESULT
    assert os.listdir(tmp_path / "cache") == ["ab"]
    assert os.listdir(tmp_path / "cache" / "ab") == [RESULT.key + ".json"]     # no temporary file left
    assert json.loads((tmp_path / "cache" / "ab" / f"{RESULT.key}.json").read_text()) == dataclasses.asdict(RESULT)


def test_putting_the_same_key_again_replaces_the_result(tmp_path):
    cache = ResultCache(str(tmp_path))
    cache.put(RESULT)
    cache.put(dataclasses.replace(RESULT, record_json='{"status": "failed"}'))
    assert cache.get(RESULT.key).record_json == '{"status": "failed"}'


@pytest.mark.parametrize("content", ["", "{trunc", "[1, 2]", '{"key": "k"}', '{"key": "k", "student": "s", '
                                     '"nb_json": "", "record_json": "", "extra": 1}', "\udcff"])
def test_a_corrupt_cache_entry_reads_as_missing(tmp_path, content):
    cache = ResultCache(str(tmp_path))
    path = tmp_path / RESULT.key[:2] / f"{RESULT.key}.json"
    path.parent.mkdir()
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert cache.get(RESULT.key) is None
