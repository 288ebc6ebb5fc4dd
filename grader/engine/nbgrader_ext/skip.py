"""SkipWhenGrading: cells the instructor marks as demonstrations are not run when a submission is graded.

A course notebook often has read-only cells that only show something to the student: a figure of
feature maps, a timing table.  Under grading nobody sees them (figures are drawn for the ``agg``
backend and discarded), yet each costs its kernel the imports and the work; a plotting cell that
imports matplotlib costs about half a CPU-second per submission.  The instructor tags such a cell
``skip-when-grading`` in the source notebook (jupytext: ``# %% tags=["skip-when-grading"] ...``).

The tag counts only where the instructor put it.  A student's copy of the notebook is theirs to edit,
tags included, so this sanitize step (after ``OverwriteCells``, which has restored the locked cells'
source, type and locked flag) takes the tag off every cell of the submission and puts it back on the
cells whose grade id the source notebook tags, unless the student's own code needs them: a marked cell
still runs when another cell that runs reads, as a global, a name only the marked cell binds (a
student who plots with the ``plt`` a demonstration imported), and when the notebook's code is too large
(:data:`MAX_READ_BYTES`), not plain Python (IPython's magics) or too deeply nested to read, so the reading
costs each submission a bounded time.
:class:`~grader.engine.nbgrader_ext.execute.TrustedExecute` then runs no cell that carries the tag and
shows :data:`SKIPPED_NOTE` as its output.  Only a locked code cell with a grade id that is neither a
solution nor a test may be marked; a source that marks another is refused by name (:class:`SkipTagError`)
by ``make release`` and by grading.  The tag is in the sanitized notebook, so it is part of the
execution key (grader.engine.jobs).
"""
from __future__ import annotations

import ast
import json
import os

from nbgrader import utils
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from ..assignment import AssignmentError

SKIP_TAG = "skip-when-grading"
MAX_READ_BYTES = 128 * 1024   # the code of a notebook whose names are read; a larger one runs every marked cell
SKIPPED_NOTE = ("Not run when grading: your instructor marked this cell as a demonstration. "
                "It does not change your score.\n")


class SkipTagError(AssignmentError):
    """The source notebook tags a cell that must run when grading."""


def is_skipped(cell) -> bool:
    """True for a cell that carries the tag (after :class:`SkipWhenGrading`, only where the instructor put it)."""
    return SKIP_TAG in (cell.get("metadata", {}).get("tags") or ())


def _markable(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    return (cell.get("cell_type") == "code" and bool(meta.get("grade_id")) and bool(meta.get("locked"))
            and not meta.get("solution") and not meta.get("grade"))


def source_notebook(coursedir: CourseDirectory, assignment: str, notebook: str) -> str:
    """Where the instructor's notebook ``notebook`` of ``assignment`` is (``source/<assignment>/<notebook>.ipynb``)."""
    folder = coursedir.format_path(coursedir.source_directory, ".", assignment)
    return os.path.normpath(os.path.join(folder, f"{notebook}.ipynb"))


def marked_cells(path: str) -> frozenset[str]:
    """The grade ids of the cells the source notebook at ``path`` tags (none if there is no such file); raises
    SkipTagError for a tagged cell that is not a locked code cell with a grade id, neither solution nor test."""
    try:
        with open(path, encoding="utf-8") as fh:
            cells = json.load(fh).get("cells", [])
    except FileNotFoundError:
        return frozenset()
    marked = set()
    for index, cell in enumerate(cells):
        if not is_skipped(cell):
            continue
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if not _markable(cell):
            raise SkipTagError(
                f"{path}: {meta.get('grade_id') or f'cell {index}'} is tagged {SKIP_TAG!r}; the tag is for read-only "
                f"code cells that are neither solutions nor tests (expected a locked code cell with a grade id, "
                f"found cell_type={cell.get('cell_type')!r}, grade_id={meta.get('grade_id')!r}, "
                f"locked={bool(meta.get('locked'))}, solution={bool(meta.get('solution'))}, "
                f"grade={bool(meta.get('grade'))})")
        marked.add(meta["grade_id"])
    return frozenset(marked)


class _Scope:
    def __init__(self, kind: str):
        self.kind = kind                    # "module", "class" or "function" (comprehensions and lambdas too)
        self.bound: set[str] = set()        # names this scope binds
        self.loads: set[str] = set()        # names it reads
        self.not_local: set[str] = set()    # names it declares global or nonlocal
        self.children: list[_Scope] = []


class _Names(ast.NodeVisitor):
    """Each scope's bindings and reads, in one pass over a cell's syntax tree."""

    def __init__(self):
        self.top = self.scope = _Scope("module")

    def _inside(self, kind: str, params: set[str], nodes) -> None:
        scope = _Scope(kind)
        scope.bound |= params
        self.scope.children.append(scope)
        outer, self.scope = self.scope, scope
        for node in nodes:
            self.visit(node)
        self.scope = outer

    @staticmethod
    def _params(args: ast.arguments) -> set[str]:
        return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}

    def _outside(self, node, args: ast.arguments | None) -> None:
        """What a definition evaluates where it stands: decorators, defaults, base classes and class keywords."""
        for child in [*getattr(node, "decorator_list", []), *getattr(node, "bases", []),
                      *(k.value for k in getattr(node, "keywords", [])), *(args.defaults if args else []),
                      *((d for d in args.kw_defaults if d is not None) if args else [])]:
            self.visit(child)

    def visit_FunctionDef(self, node):
        self.scope.bound.add(node.name)
        self._outside(node, node.args)
        self._inside("function", self._params(node.args), node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._outside(node, node.args)
        self._inside("function", self._params(node.args), [node.body])

    def visit_ClassDef(self, node):
        self.scope.bound.add(node.name)
        self._outside(node, None)
        self._inside("class", set(), node.body)

    def _comprehension(self, node):
        self._inside("function", set(), [*node.generators, *(getattr(node, f) for f in ("elt", "key", "value")
                                                               if hasattr(node, f))])

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Name(self, node):
        (self.scope.loads if isinstance(node.ctx, ast.Load) else self.scope.bound).add(node.id)

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name != "*":
                self.scope.bound.add(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node):
        if node.name:
            self.scope.bound.add(node.name)
        self.generic_visit(node)

    def visit_Global(self, node):
        self.scope.not_local.update(node.names)

    visit_Nonlocal = visit_Global


def _global_reads(scope: _Scope, enclosing: list[set[str]]) -> set[str]:
    """The names the scopes below ``scope`` read from the module (not their own, not an enclosing function's)."""
    reads = set()
    for child in scope.children:
        local = child.bound - child.not_local
        reads |= {n for n in child.loads - local if not any(n in names for names in enclosing)}
        reads |= _global_reads(child, enclosing + [local] if child.kind == "function" else enclosing)
    return reads


def cell_names(source: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """(the names a cell binds at its top level, the globals it reads that it does not bind itself); None when
    the cell is not plain Python (IPython's syntax, which its transformer reads in time that grows with the
    square of the cell, or an error) or too deeply nested to read.

    A read is a top-level reference, or a reference inside a function, class, lambda or comprehension of the
    cell to a name none of them binds.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names = _Names()
    try:
        names.visit(tree)
    except RecursionError:
        return None
    top = names.top
    return frozenset(top.bound), frozenset((top.loads | _global_reads(top, [])) - top.bound)


def needed_by_others(cells: list, candidates: list[int]) -> dict[int, str]:
    """The ``candidates`` (indices of marked cells) that must run anyway, each with the reason: a cell that
    runs reads a global that no cell that runs binds and the candidate does; or the notebook's code is more
    than MAX_READ_BYTES, not plain Python or nested too deeply, to be read (then every candidate runs)."""
    if not candidates:
        return {}
    code = {i: c.source for i, c in enumerate(cells)   # test cells run in the grader, not the kernel
            if c.cell_type == "code" and not (utils.is_grade(c) and not utils.is_solution(c))}
    size = sum(len(text.encode()) for text in code.values())
    if size > MAX_READ_BYTES:
        return {i: f"the notebook's code ({size} bytes) is too large to read what it uses "
                   f"(at most {MAX_READ_BYTES})" for i in candidates}
    names = {i: cell_names(text) for i, text in code.items()}
    if any(found is None for found in names.values()):
        return {i: "a cell is not plain Python, or nested too deeply, to read what it uses" for i in candidates}
    running = set(names) - set(candidates)
    needed: dict[int, str] = {}
    while True:
        bound = set().union(*(names[i][0] for i in running))
        read = set().union(*(names[i][1] for i in running))
        more = {i: (names[i][0] & read) - bound for i in candidates if i not in running and i in names}
        more = {i: found for i, found in more.items() if found}
        if not more:
            return needed
        needed.update({i: f"other cells read {', '.join(sorted(found))}" for i, found in more.items()})
        running |= set(more)


class SkipWhenGrading(NbGraderPreprocessor):
    """Sanitize step: the ``skip-when-grading`` tag on exactly the cells the source notebook tags and no cell
    that runs needs."""

    def preprocess(self, nb, resources):
        nbg = resources["nbgrader"]
        source = source_notebook(CourseDirectory(config=self.config), nbg["assignment"], nbg["notebook"])
        marked = marked_cells(source)
        if not marked and not os.path.exists(source):
            self.log.warning("No source notebook at %s: every cell of the submission runs when grading", source)
        for cell in nb.cells:
            tags = cell.metadata.get("tags")
            if tags and SKIP_TAG in tags:
                cell.metadata["tags"] = [t for t in tags if t != SKIP_TAG]
                if not cell.metadata["tags"]:
                    del cell.metadata["tags"]
        candidates = [i for i, c in enumerate(nb.cells)
                      if _markable(c) and c.metadata["nbgrader"]["grade_id"] in marked]
        needed = needed_by_others(nb.cells, candidates)
        for i in candidates:
            if i in needed:
                self.log.warning("%s runs although the source marks it %r: %s",
                                 nb.cells[i].metadata["nbgrader"]["grade_id"], SKIP_TAG, needed[i])
            else:
                nb.cells[i].metadata.setdefault("tags", []).append(SKIP_TAG)
        return nb, resources
