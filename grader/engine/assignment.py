"""Assignments of a course: discovery, and loading the content each one declares.

An assignment is a folder ``source/<name>/`` (nbgrader's) and a content package
``assignments/<name>/`` beside it, whose ``__init__.py`` defines ``ASSIGNMENT``, an
:class:`Assignment`.  By convention the package also holds:

``hidden_checks.py``                 ``REGISTRY``: the hidden checks (never released)
``<checks_package>/``                the package the notebook's test cells import ``run`` from;
                                     its ``visible_checks.py`` defines ``REGISTRY``.  It ships
                                     with the release, next to the engine's in-kernel half
                                     (``gradekit``)
``hidden_coverage.py`` (optional)    the coverage model of the hidden checks
``samples/`` (optional)              ``styles/`` (correct solutions), ``mutants.py``
                                     (``CATALOG``), ``attacks.py`` (``CATALOG``)

The engine reads an assignment only through this module, so it knows nothing
about what an assignment teaches.  Assignment names are nbgrader's (they may
start with a digit), so packages are imported with :mod:`importlib`, never with
an ``import`` statement.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping
from types import ModuleType

CONTENT_DIR = "assignments"
KERNEL_PACKAGE = "gradekit"  # the engine's in-kernel half: ships with every release
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class AssignmentError(LookupError):
    """An assignment is missing, or its content package does not declare what the engine needs."""


@dataclasses.dataclass(frozen=True)
class Assignment:
    """What one assignment declares (in ``assignments/<name>/__init__.py``).

    ``checks_package``: the folder next to the notebook that test cells import ``run`` from.
    ``ships``: release folder -> where its files come from, relative to the course (the folder
    that holds ``assignments/``): a folder (all its ``*.py`` files ship) or a tuple of files.
    It carries the foundation the notebook builds on (``{"mylib": "reference/core"}``), or only
    part of it when the rest is what students write (``{"mylib": ("reference/core/tensor.py",)}``).
    The checks package and ``gradekit`` always ship and need no entry.
    ``depends``: folders of the course (relative like ``ships``) whose code decides verdicts
    besides the content package, such as the reference implementation the hidden checks
    compare against; a change to them re-executes cached gradings.
    """

    title: str
    checks_package: str
    ships: Mapping[str, str | tuple[str, ...]] = dataclasses.field(default_factory=dict)
    depends: tuple[str, ...] = ()
    # filled in by :func:`load`
    name: str = ""
    root: str = ""
    package: str = ""
    content_dir: str = ""

    # ------------------------------------------------------------------ content
    def module(self, relative: str) -> ModuleType:
        """A module of the content package, e.g. ``module("samples.mutants")``."""
        return importlib.import_module(f"{self.package}.{relative}")

    def has(self, relative: str) -> bool:
        """Whether the content package has the module or package ``relative``."""
        base = os.path.join(self.content_dir, *relative.split("."))
        return os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py"))

    def registry(self, hidden: bool):
        """The hidden or visible checks' ``Registry``."""
        return self.module("hidden_checks" if hidden else f"{self.checks_package}.visible_checks").REGISTRY

    @property
    def source_dir(self) -> str:
        return os.path.join(self.root, "source", self.name)

    @property
    def source_notebook(self) -> str:
        return os.path.join(self.source_dir, f"{self.name}.ipynb")

    @property
    def styles_dir(self) -> str:
        return os.path.join(self.content_dir, "samples", "styles")

    @property
    def course_dir(self) -> str:
        """The folder that holds this assignment's ``assignments/`` package."""
        return os.path.dirname(os.path.dirname(self.content_dir))

    def verdict_dirs(self) -> tuple[str, ...]:
        """The content package and every folder it depends on (see ``depends``)."""
        return (self.content_dir, *(os.path.normpath(os.path.join(self.course_dir, d)) for d in self.depends))

    def shipped(self) -> dict[str, dict[str, str]]:
        """Every package that ships next to the notebook: release folder -> {file name: absolute path}."""
        folders = {KERNEL_PACKAGE: os.path.join(REPO, KERNEL_PACKAGE),
                   self.checks_package: os.path.join(self.content_dir, self.checks_package),
                   **self.ships}
        shipped = {}
        for target, origin in folders.items():
            if isinstance(origin, str):
                folder = os.path.normpath(os.path.join(self.course_dir, origin))
                if not os.path.isdir(folder):
                    raise AssignmentError(f"assignment {self.name!r} ships {target}/ from {folder}, "
                                          "which is not a folder")
                files = [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py")]
            else:
                files = [os.path.normpath(os.path.join(self.course_dir, f)) for f in origin]
                missing = [f for f in files if not os.path.isfile(f)]
                if missing:
                    raise AssignmentError(f"assignment {self.name!r} ships {target}/ with {', '.join(missing)}, "
                                          "which does not exist")
            names_ = [os.path.basename(f) for f in files]
            twice = sorted({n for n in names_ if names_.count(n) > 1})
            if twice:
                raise AssignmentError(f"assignment {self.name!r} ships {target}/ with two files named "
                                      f"{', '.join(twice)}; each file of a shipped package needs its own name")
            shipped[target] = dict(zip(names_, files))
        return shipped


def names(root: str) -> list[str]:
    """The course's assignments: every ``source/<name>/`` folder that has a content package."""
    source = os.path.join(root, "source")
    if not os.path.isdir(source):
        return []
    folder, _ = _package_root(root)
    return sorted(n for n in os.listdir(source)
                  if os.path.isdir(os.path.join(source, n)) and os.path.isfile(os.path.join(folder, n, "__init__.py")))


def _package_root(root: str) -> tuple[str, str]:
    """The content folder to import from and the package name it gets.

    The repository's content is the importable package ``assignments``.  A course with content of
    its own elsewhere gets a package name unique to its folder, so two courses never share modules.
    A course without an ``assignments/`` folder (a copy of the repository's ``source/``) uses the
    repository's.
    """
    own = os.path.join(root, CONTENT_DIR)
    repo = os.path.join(REPO, CONTENT_DIR)
    if not os.path.isdir(own) or os.path.realpath(own) == os.path.realpath(repo):
        return repo, CONTENT_DIR
    digest = hashlib.sha256(os.path.realpath(own).encode()).hexdigest()[:12]
    return own, f"_course_{digest}"


def _import_package(folder: str, package: str) -> None:
    if package in sys.modules:
        return
    if package == CONTENT_DIR:
        importlib.import_module(package)
        return
    spec = importlib.util.spec_from_file_location(package, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    if spec is None or spec.loader is None:
        raise AssignmentError(f"cannot import the assignments package at {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)


def load(root: str, name: str) -> Assignment:
    """The declaration of assignment ``name`` in the course at ``root``, with its name, root and package set."""
    folder, package = _package_root(root)
    init = os.path.join(folder, name, "__init__.py")
    if not os.path.isfile(init):
        raise AssignmentError(f"assignment {name!r}: expected its content package at {os.path.dirname(init)} "
                              f"(an __init__.py defining ASSIGNMENT = Assignment(...)); found no such file")
    _import_package(folder, package)
    module = importlib.import_module(f"{package}.{name}")
    declared = getattr(module, "ASSIGNMENT", None)
    if not isinstance(declared, Assignment):
        raise AssignmentError(f"assignment {name!r}: {init} must define ASSIGNMENT = Assignment(...); "
                              f"found {type(declared).__name__}")
    return dataclasses.replace(declared, name=name, root=os.path.abspath(root), package=f"{package}.{name}",
                               content_dir=os.path.join(folder, name))


def load_all(root: str, only: list[str] | None = None) -> list[Assignment]:
    """Every assignment of the course (``only``: just these, each of which must exist)."""
    known = names(root)
    if only:
        unknown = [n for n in only if n not in known]
        if unknown:
            raise AssignmentError(f"no assignment named {', '.join(map(repr, unknown))} in {root}; "
                                  f"the course has: {', '.join(known) or 'none'}")
        known = [n for n in known if n in only]
    return [load(root, n) for n in known]


def link_shipped(assignment: Assignment) -> list[str]:
    """Make ``source/<name>/<package>/`` hold a relative link to every file each package ships.

    nbgrader copies the files the links point to into ``release/``, so a release always carries the
    current engine kit, checks and foundation.  Links to files that no longer exist are removed;
    a real file where a link belongs must equal the file it stands for (a copy of the course with
    its links resolved), or the release would ship something else.
    Returns the links created or replaced.
    """
    changed = []
    for target, files in assignment.shipped().items():
        dest = os.path.join(assignment.source_dir, target)
        os.makedirs(dest, exist_ok=True)
        for entry in os.listdir(dest):
            path = os.path.join(dest, entry)
            if entry not in files and os.path.islink(path):
                os.unlink(path)
        for entry, origin in files.items():
            path = os.path.join(dest, entry)
            link = os.path.relpath(origin, dest)
            if os.path.islink(path):
                if os.readlink(path) == link:
                    continue
                os.unlink(path)
            elif os.path.exists(path):
                if _same_bytes(path, origin):
                    continue  # a copy of the course with its links resolved
                raise AssignmentError(f"{path} differs from {origin}; {target}/ ships that file, "
                                      "so this must be a link to it")
            os.symlink(link, path)
            changed.append(path)
    return changed


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()
