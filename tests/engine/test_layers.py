"""The layers of the tree, read from the import statements of every module.

grader/engine   imports nbgrader, the standard library and gradekit; never a tool, a harness or
                an assignment's content (it loads content only through grader.engine.assignment,
                by name, with importlib)
gradekit        runs in the student's kernel: the standard library and numpy only
grader/harness  may import the engine, never the tools
assignments     may import gradekit, the engine's Assignment declaration and harness helpers, the
                reference; never the tools
"""
from __future__ import annotations

import ast
import os
import sys

import pytest

from ..conftest import REPO

STDLIB = set(sys.stdlib_module_names)


def modules(folder: str) -> dict[str, str]:
    """path (relative to the repository) -> source, for every .py file under ``folder``."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, folder)):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as fh:
                    found[os.path.relpath(path, REPO)] = fh.read()
    return found


def imported(path: str, source: str) -> set[str]:
    """Absolute dotted names a module imports (relative imports resolved against its package)."""
    package = os.path.dirname(path).replace(os.sep, ".")
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def offenders(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {}
    for path, source in modules(folder).items():
        hits = sorted(n for n in imported(path, source) if n.startswith(forbidden) or n in
                      {f.rstrip(".") for f in forbidden})
        if hits:
            bad[path] = hits
    return bad


def test_the_engine_imports_no_tool_harness_assignment_or_reference():
    assert offenders("grader/engine", ("grader.tools", "grader.harness", "assignments", "tinytorch_ref",
                                       "torch")) == {}


def test_the_engine_names_no_assignment():
    named = {path: word for path, source in modules("grader/engine").items()
             for word in ("09_spatial", "04_losses", "tinytorch") if word in source}
    assert named == {}


def test_the_kernel_kit_needs_only_the_standard_library_and_numpy():
    outside = {}
    for path, source in modules("gradekit").items():
        tops = {n.split(".")[0] for n in imported(path, source)} - STDLIB - {"numpy", "gradekit", "__future__"}
        if tops:
            outside[path] = sorted(tops)
    assert outside == {}


@pytest.mark.parametrize("folder", ["grader/harness", "assignments"])
def test_harnesses_and_content_never_import_the_tools(folder):
    assert offenders(folder, ("grader.tools",)) == {}


def test_the_checker_sees_relative_imports():
    # grader/engine/batch.py imports its siblings relatively: they resolve to grader.engine.*
    source = modules("grader/engine")["grader/engine/batch.py"]
    assert {"grader.engine.course", "grader.engine.jobs"} <= imported("grader/engine/batch.py", source)
    assert "grader.tools.demo" in imported("grader/engine/x.py", "from ..tools import demo")
