"""A new assignment from the template: ``python -m grader new NAME --title TITLE``.

:func:`create` renders ``grader/tools/template/`` into a course: the source notebook
``source/<name>/<name>.pct.py`` and its ``.ipynb`` (both written by jupytext from the same
notebook, so they start in sync), and the content package ``assignments/<name>/`` with its
checks package, hidden checks, a correct style and a mutant.  It then links the packages the
assignment ships into its source folder (:func:`grader.engine.assignment.link_shipped`), so the
source notebook runs in Jupyter at once.  Nothing else of the course changes, except that a
course without ``assignments/__init__.py`` gets one: an assignment is only its own files.

Every refusal (a name nbgrader cannot use, an assignment that exists, a checks package that is
not a usable module name, a title that is not one line) is a :class:`NewAssignmentError`, raised
before anything is written.
"""
from __future__ import annotations

import importlib
import json
import keyword
import os
import re
import sys
from collections.abc import Callable

import jupytext

from ..engine.assignment import CONTENT_DIR, KERNEL_PACKAGE, link_shipped, load

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "template")
SUFFIX = ".tmpl"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")   # what nbgrader accepts as an assignment id
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# names inside the content package: a checks package of the same name would hide them
_CONTENT_NAMES = ("samples", "hidden_checks", "hidden_coverage")
_PACKAGE_INIT = ('"""The course\'s assignments: one content package per ``source/<name>/`` folder.\n\n'
                 'See ``grader/engine/assignment.py`` for what a content package declares.\n"""\n')


class NewAssignmentError(ValueError):
    """The assignment cannot be created as asked; the message says what was expected and what was given."""


def default_checks_package(name: str) -> str:
    """``<name without its leading digits, dashes and underscores>_checks``, lower case: ``10_attention`` ->
    ``attention_checks``."""
    stem = re.sub(r"^[0-9_-]+", "", name).replace("-", "_").lower()
    if not stem:
        raise NewAssignmentError(f"cannot derive a checks package name from the assignment name {name!r} "
                                 "(nothing is left after its leading digits); pass one, e.g. --checks "
                                 "week_checks")
    return f"{stem}_checks"


def check_name(name: str) -> None:
    """Refuse an assignment name nbgrader cannot use as an assignment id (and as a folder name)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise NewAssignmentError(f"assignment name must match {NAME_PATTERN.pattern} (letters, digits, '_' and "
                                 f"'-', starting with a letter or digit, e.g. 10_attention); got {name!r}")


def check_title(title: str) -> None:
    """Refuse a title that is empty or not a single line of text (it becomes the notebook's heading)."""
    if not isinstance(title, str) or not title.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in title):
        raise NewAssignmentError(f"title must be one non-empty line of text, e.g. 'Attention'; got {title!r}")


def check_checks_package(checks: str) -> None:
    """Refuse a checks package that is not a Python identifier, or whose name is taken.

    The notebook's setup cell imports ``run`` from it, with the release folder first on
    ``sys.path``: a keyword cannot be imported, a standard-library name would hide that module
    from the notebook, ``gradekit`` ships beside it, and the content package's own modules
    (``samples``, ``hidden_checks``) live in the same folder.
    """
    if not isinstance(checks, str) or not checks.isidentifier() or keyword.iskeyword(checks):
        raise NewAssignmentError(f"checks package must be a Python identifier (letters, digits and '_', not "
                                 f"starting with a digit, not a keyword), e.g. attention_checks; got {checks!r}")
    taken = {KERNEL_PACKAGE: "the engine's in-kernel package, which ships with every release",
             **{n: "a module of the content package" for n in _CONTENT_NAMES}}
    if checks in taken:
        raise NewAssignmentError(f"checks package must not be named {checks!r}: that is {taken[checks]}; "
                                 "choose another, e.g. attention_checks")
    if checks in sys.stdlib_module_names:
        raise NewAssignmentError(f"checks package must not be named {checks!r}: that is a standard-library "
                                 "module, which the notebook could then no longer import; choose another, "
                                 "e.g. attention_checks")


def render(text: str, values: dict[str, str], where: str) -> str:
    """``text`` with every ``{{key}}`` replaced by ``values[key]``; a placeholder without a value is a
    template error."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(values))
    if unknown:
        raise RuntimeError(f"template {where} uses placeholders without a value: {unknown}; known: {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def template_files(template: str = TEMPLATE) -> list[str]:
    """The template's files (paths relative to ``template``, sorted), each ending in ``.tmpl``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(template):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        found += [os.path.relpath(os.path.join(dirpath, f), template) for f in filenames if f.endswith(SUFFIX)]
    return sorted(found)


def _notebook_files(rel: str, text: str) -> dict[str, str]:
    """The ``.pct.py`` and ``.ipynb`` of the rendered percent-format source, written by jupytext from one notebook.

    Cell ids are the cells' nbgrader grade ids, so the same arguments always give the same notebook.
    """
    nb = jupytext.reads(text, fmt="py:percent")
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            cell.id = grade_id
    stem = rel[:-len(".pct.py")]
    return {rel: jupytext.writes(nb, fmt="py:percent"), f"{stem}.ipynb": jupytext.writes(nb, fmt="ipynb")}


def plan(name: str, title: str, checks_package: str | None = None, template: str = TEMPLATE) -> dict[str, str]:
    """Every file the assignment gets: path relative to the course -> its text; validates the arguments."""
    check_name(name)
    check_title(title)
    checks = default_checks_package(name) if checks_package is None else checks_package
    check_checks_package(checks)
    values = {"name": name, "title": title.strip(), "checks": checks,
              "title_literal": json.dumps(title.strip(), ensure_ascii=False)}
    found = template_files(template)
    if not any(f.endswith(".pct.py" + SUFFIX) for f in found):
        raise RuntimeError(f"no assignment template at {template}: expected a source notebook "
                           f"source/{{{{name}}}}/{{{{name}}}}.pct.py{SUFFIX} there ({len(found)} template files found)")
    files: dict[str, str] = {}
    for rel in found:
        with open(os.path.join(template, rel), encoding="utf-8") as fh:
            text = render(fh.read(), values, rel)
        target = render(rel, values, rel)[:-len(SUFFIX)]
        if target.endswith(".pct.py"):
            files.update(_notebook_files(target, text))
            continue
        if target.endswith(".py"):
            compile(text, target, "exec")   # a template or title that breaks the code fails here, before writing
        files[target] = text
    return files


def create(root: str, name: str, title: str, checks_package: str | None = None,
           log: Callable[[str], None] = print) -> list[str]:
    """Write assignment ``name`` into the course at ``root``; returns the paths written, relative to ``root``.

    Writes ``source/<name>/<name>.pct.py`` and ``.ipynb``, ``assignments/<name>/...`` (checks package
    ``checks_package``, default :func:`default_checks_package`), ``assignments/__init__.py`` when
    the course has none, and the links to the packages the assignment ships under ``source/<name>/``.
    Refuses (:class:`NewAssignmentError`, nothing written) an invalid name, title or checks package,
    and an assignment whose source or content folder exists.  ``log`` gets one line per path.
    """
    files = plan(name, title, checks_package)
    root = os.path.abspath(root)
    existing = [d for d in (os.path.join("source", name), os.path.join(CONTENT_DIR, name))
                if os.path.lexists(os.path.join(root, d))]
    if existing:
        raise NewAssignmentError(f"assignment {name!r} must be new, but {root} already has "
                                 f"{' and '.join(d + '/' for d in existing)}; choose another name or remove them")
    written = []
    package_init = os.path.join(CONTENT_DIR, "__init__.py")
    if not os.path.isfile(os.path.join(root, package_init)):
        files = {package_init: _PACKAGE_INIT, **files}
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "x", encoding="utf-8") as fh:   # "x": never overwrite a file
            fh.write(text)
        written.append(rel)
        log(f"wrote  {rel}")
    importlib.invalidate_caches()   # the import system may have listed assignments/ before it had <name>/
    for path in link_shipped(load(root, name)):
        rel = os.path.relpath(path, root)
        written.append(rel)
        log(f"linked {rel} -> {os.readlink(path)}")
    log(f"next: write the notebook in source/{name}/{name}.pct.py (then `jupytext --sync` it), its checks in "
        f"{CONTENT_DIR}/{name}/, and release it with `python -m grader release -a {name}`")
    return written
