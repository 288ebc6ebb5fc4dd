"""Libraries an assignment forbids: the setting, the grader's static scan, and the executor's bookkeeping.

The instructor lists, per assignment, modules students may not use, and what happens when they do
(``nbgrader_config.py``)::

    c.LibraryPolicy.forbidden_modules = {"<assignment>": ["scipy.signal", "sklearn", ...]}
    c.LibraryPolicy.action = "block"    # or "flag"

A module inside a forbidden one is forbidden too (``scipy.signal.windows``); its parent is not
(``scipy.stats`` stays usable).  Three layers act on the list:

1. The static scan (:func:`scan`; trusted, in the grader): before a student cell runs, its source
   is parsed and every import of a forbidden module is found: ``import``, ``from``-import (also
   ``from scipy import signal``), ``importlib.import_module`` / ``__import__`` and friends with a
   constant name (string concatenation included), ``scipy.signal.…`` attribute chains on an
   imported package, ``sys.modules["…"]``, constant strings given to ``exec`` / ``eval`` (scanned
   as code), and any other string that is exactly a forbidden module's name.
2. The import guard (``gradekit/imports.py``; in the kernel, installed before any student
   code): student code asking for a forbidden module gets a ModuleNotFoundError that names it
   (block) or is let through (flag); library code importing what it needs (matplotlib importing
   PIL) is never stopped.  The grader reads the guard's attempts through the agent around every
   student cell (best effort: student code can remove the guard).
3. File-level hiding (block mode): a forbidden module outside every package the allowed stack
   (:attr:`LibraryPolicy.allowed_stack`: numpy, matplotlib, ipykernel) may import is hidden in the
   sandbox the way ``SandboxPolicy.hidden_packages`` are: its files are not there, whatever the code
   in the kernel does to the guard.

Every use found by the scan or the guard is a ``forbidden_library`` incident naming the cell and the
module.  In flag mode nothing is blocked or hidden; uses are recorded the same way.

``SandboxPolicy`` is a ``LibraryPolicy``: these settings travel with the sandbox policy into every
execution job and into the cache key, so changing them re-executes the submissions.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import re
import time

from nbgrader import utils
from traitlets import CaselessStrEnum, Dict, List, TraitError, Unicode, validate
from traitlets.config import Configurable

from gradekit import protocol
from gradekit.imports import GUARD_OP

__all__ = ["INCIDENT", "LibraryPolicy", "Use", "scan", "stack_packages", "ask_guard",
           "LibraryWatch", "graded_cell_before"]

INCIDENT = "forbidden_library"
ALLOWED_STACK = ["numpy", "matplotlib", "ipykernel"]   # what the notebook and the kernel rely on
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")

# calls whose first argument names a module to import (importlib.import_module, pkgutil.resolve_name, ...)
IMPORTING_CALLS = {"__import__", "import_module", "find_spec", "resolve_name", "locate", "run_module",
                   "import_string"}
# calls whose first argument is source code that runs: builtins (called by name) and IPython's run_cell
CODE_BUILTINS = {"exec", "eval", "compile"}
CODE_METHODS = {"run_cell"}
MAGIC_METHODS = {"run_line_magic", "run_cell_magic"}   # %time / %%timeit …: their arguments after the name are code
MAX_NESTING = 3        # exec("exec('…')") is scanned this deep
MAX_GUARD_ATTEMPTS = 100


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


class LibraryPolicy(Configurable):
    """Modules an assignment forbids and what grading does when student code uses them (``c.LibraryPolicy.*``)."""

    forbidden_modules = Dict({},
                             help="Per assignment: dotted names of the modules its students may not use "
                                  "(a module inside one is forbidden too)").tag(config=True)
    action = CaselessStrEnum(["block", "flag"], default_value="block",
                             help="block: student code importing a forbidden module gets a ModuleNotFoundError; "
                                  "flag: the import works. Both record a forbidden_library incident").tag(config=True)
    hint = Unicode("write this part yourself (with numpy)",
                   help="Said after 'X is not allowed in this assignment:' in the error students get").tag(config=True)
    allowed_stack = List(ALLOWED_STACK,
                         help="Packages the notebook and the kernel rely on: a forbidden module in a package they "
                              "may import (their distributions and everything those require) is stopped by the "
                              "import guard only, never hidden at file level").tag(config=True)

    @validate("forbidden_modules")
    def _check_forbidden_modules(self, proposal):
        value = proposal["value"]
        checked = {}
        for assignment, modules in value.items():
            where = f"c.LibraryPolicy.forbidden_modules[{assignment!r}]"
            if not isinstance(assignment, str) or not assignment:
                raise TraitError(f"c.LibraryPolicy.forbidden_modules needs assignment names as keys; "
                                 f"received the key {assignment!r}")
            if isinstance(modules, str) or not isinstance(modules, (list, tuple)):
                raise TraitError(f"{where} must be a list of dotted module names such as ['scipy.signal', 'PIL']; "
                                 f"received {type(modules).__name__} {modules!r}")
            bad = [m for m in modules if not (isinstance(m, str) and _DOTTED.match(m))]
            if bad:
                raise TraitError(f"{where} must hold dotted module names such as 'scipy.signal'; "
                                 f"received {', '.join(repr(b) for b in bad)}")
            checked[assignment] = list(dict.fromkeys(modules))
        return checked

    def forbidden_for(self, assignment: str) -> tuple[str, ...]:
        return tuple(self.forbidden_modules.get(assignment, ()))

    @property
    def blocks(self) -> bool:
        return self.action == "block"

    def file_hidden(self, assignment: str) -> tuple[str, ...]:
        """The forbidden modules hidden at file level in the sandbox (block mode only).

        A module of a package the allowed stack may import stays (:func:`stack_packages`): hiding
        PIL would break ``import matplotlib.pyplot``.
        """
        forbidden = self.forbidden_for(assignment)
        if not (self.blocks and forbidden):
            return ()
        needed = stack_packages(tuple(self.allowed_stack))
        return tuple(m for m in forbidden if m.split(".")[0] not in needed)

    def guard_source(self, assignment: str) -> str:
        """The kernel bootstrap line that installs the import guard ('' when nothing is forbidden)."""
        forbidden = self.forbidden_for(assignment)
        if not forbidden:
            return ""
        return (f"__import__('gradekit.imports').imports.install({forbidden!r}, "
                f"block={self.blocks!r}, hint={self.hint!r})\n")


# ------------------------------------------------------------------------------------ allowed stack

def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


@functools.lru_cache(maxsize=8)
def stack_packages(stack: tuple[str, ...]) -> frozenset[str]:
    """Top-level packages the allowed stack may import: those of its distributions and of everything
    they require, transitively (installed metadata; requirements whose markers do not hold here,
    such as extras, are left out).

    matplotlib's distribution requires pillow, so ``PIL`` is in it; nothing the stack requires
    provides ``scipy``, so ``scipy.signal`` may be hidden.
    """
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    providers = metadata.packages_distributions()   # top-level package -> distributions
    todo = [_normalized(d) for name in stack for d in providers.get(name.split(".")[0], ())]
    distributions: set[str] = set()
    while todo:
        name = todo.pop()
        if name in distributions:
            continue
        distributions.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_normalized(requirement.name))
    return frozenset(package for package, provided_by in providers.items()
                     if any(_normalized(d) in distributions for d in provided_by))


# ------------------------------------------------------------------------------------ static scan

@dataclasses.dataclass(frozen=True)
class Use:
    """One place where source code reaches a forbidden module."""
    module: str   # the forbidden module it falls under, as configured ("scipy.signal")
    name: str     # what the code names ("scipy.signal.correlate")
    line: int
    how: str      # import, from-import, a call (``import_module()``), attribute, sys.modules, …


def _constant_text(node) -> str | None:
    """The value of a string expression built from constants only ("scipy" + ".signal", f"{'scipy'}.signal")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant_text(node.left), _constant_text(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            text = _constant_text(value.value if isinstance(value, ast.FormattedValue) else value)
            if text is None or (isinstance(value, ast.FormattedValue)
                                and (value.format_spec or value.conversion != -1)):
                return None
            parts.append(text)
        return "".join(parts)
    return None


def _dotted(node) -> list[str] | None:
    """``a.b.c`` as ['a', 'b', 'c'] when the expression is a plain chain of names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _call_name(func) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


class _Scanner(ast.NodeVisitor):
    def __init__(self, forbidden: tuple[str, ...], aliases: dict[str, str], line_offset: int, depth: int):
        self.forbidden, self.aliases = forbidden, aliases
        self.line_offset, self.depth = line_offset, depth
        self.uses: list[Use] = []

    def note(self, name: str, node, how: str) -> None:
        for root in self.forbidden:
            if _inside(name, root):
                self.uses.append(Use(root, name, node.lineno + self.line_offset, how))
                return

    def resolve(self, parts: list[str]) -> str:
        """A chain's module path: its first name through the imports seen so far (``sp`` -> scipy)."""
        return ".".join([self.aliases.get(parts[0], parts[0]), *parts[1:]])

    def visit_Import(self, node):
        for alias in node.names:
            self.note(alias.name, node, "import")
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return  # a relative import reaches the student's own package
        self.note(node.module, node, "from-import")
        for alias in node.names:
            if alias.name == "*":
                continue
            full = f"{node.module}.{alias.name}"
            if not any(_inside(node.module, root) for root in self.forbidden):
                self.note(full, node, "from-import")
            self.aliases[alias.asname or alias.name] = full

    def visit_Call(self, node):
        name = _call_name(node.func)
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in ("name", "source")),
                                                    None)
        text = _constant_text(first) if first is not None else None
        if name in IMPORTING_CALLS and text:
            module = text.split(":")[0]
            package = next((_constant_text(k.value) for k in node.keywords if k.arg == "package"), None)
            if module.startswith(".") and package:
                module = package + module if module != "." else package
            self.note(module, node, f"{name}()")
            if name == "__import__":
                fromlist = node.args[3] if len(node.args) > 3 else next(
                    (k.value for k in node.keywords if k.arg == "fromlist"), None)
                if isinstance(fromlist, (ast.List, ast.Tuple)):
                    for item in fromlist.elts:
                        item_text = _constant_text(item)
                        if item_text and item_text != "*":
                            self.note(f"{module}.{item_text}", node, "__import__()")
        elif (text and self.depth < MAX_NESTING and (name in CODE_METHODS or
                                                      (name in CODE_BUILTINS and isinstance(node.func, ast.Name)))):
            self.uses.extend(scan(text, self.forbidden, self.aliases, node.lineno - 1 + self.line_offset,
                                  self.depth + 1))
        elif name in MAGIC_METHODS and self.depth < MAX_NESTING:
            for arg in node.args[1:]:
                code = _constant_text(arg)
                if code:
                    self.uses.extend(scan(code, self.forbidden, self.aliases, node.lineno - 1 + self.line_offset,
                                          self.depth + 1))
        self.generic_visit(node)

    def visit_Attribute(self, node):
        parts = _dotted(node)
        if parts is None:
            self.generic_visit(node)
            return
        self.note(self.resolve(parts), node, "attribute")  # the whole chain once, not each of its prefixes

    def visit_Constant(self, node):
        # a string that is exactly a forbidden module's name: handed to something that imports it
        # (ThreadPoolExecutor().submit(importlib.import_module, "PIL"), sys.modules.get("PIL.Image"))
        if isinstance(node.value, str) and _DOTTED.match(node.value):
            self.note(node.value, node, "string")

    def visit_Subscript(self, node):
        parts = _dotted(node.value)
        key = _constant_text(node.slice)
        if parts and key and self.resolve(parts) == "sys.modules":
            self.note(key, node, "sys.modules")
        self.generic_visit(node)


IPYTHON_BUDGET = 64   # escape lines x KiB of a cell that IPython's transformer may read (about 0.15 CPU-s)


def parse_cell(source: str) -> ast.Module:
    """A cell's syntax tree, with IPython's magics (``%time``, ``!pip``) read as the calls they stand for.

    A cell that parses as Python has none of IPython's syntax (each of its escapes is invalid Python), so only
    one that does not goes through IPython's transformer.  That transformer reads the whole cell again for
    every escape it rewrites (16,000 ``%time`` lines, 128 KiB: minutes), so a cell whose escape lines times
    its size in KiB exceed :data:`IPYTHON_BUDGET` is refused with ValueError, unread.  Raises SyntaxError when
    the cell does not parse either way.
    """
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    escapes = sum(1 for line in source.splitlines() if line.lstrip()[:1] in ("%", "!") or line.rstrip()[-1:] == "?")
    if max(escapes, 1) * len(source.encode()) / 1024 > IPYTHON_BUDGET:
        raise ValueError(f"too much IPython syntax to read ({escapes} escape lines in {len(source.encode())} bytes)")
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        transformed = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - an untransformable cell does not parse
        raise SyntaxError("the cell parses neither as Python nor as IPython") from None
    return ast.parse(transformed)


def scan(source: str, forbidden, aliases: dict[str, str] | None = None, line_offset: int = 0,
         depth: int = 0) -> list[Use]:
    """Every use of a forbidden module in ``source``, in order; one per module and line.

    ``aliases`` (name -> module, filled in as imports are seen) carries imports from earlier
    cells of the same notebook (``import scipy as sp`` in one cell, ``sp.signal`` in another).
    Source that does not parse has no uses (it cannot run either), and neither has source nested
    deeper than this interpreter's recursion limit (the import guard still watches it at run time).
    """
    forbidden = tuple(forbidden)
    if not forbidden:
        return []
    aliases = {} if aliases is None else aliases
    scanner = _Scanner(forbidden, aliases, line_offset, depth)
    try:
        scanner.visit(parse_cell(source) if depth == 0 else ast.parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    seen, uses = set(), []
    for use in scanner.uses:
        if (use.module, use.line) not in seen:
            seen.add((use.module, use.line))
            uses.append(use)
    return uses


# ------------------------------------------------------------------------------------ the guard's record

def ask_guard(connect, timeout: float = 5.0) -> list[tuple[str, str, str, bool]] | None:
    """The import guard's attempts since the last question, through the agent (``connect() -> socket``).

    None when there is no usable answer (no agent, a replaced or stuck one, a malformed reply):
    the answer comes from the kernel, so it is bounded like any other: by the protocol's size
    limits, one deadline for the whole exchange and :data:`MAX_GUARD_ATTEMPTS`.
    """
    deadline = time.monotonic() + timeout
    try:
        sock = connect()
    except OSError:
        return None
    try:
        protocol.send(sock, {"op": GUARD_OP, "args": [], "kwargs": {"$d": []}}, {}, deadline)
        response, arrays = protocol.receive(sock, deadline)
        if response.get("ok") is not True or arrays:
            return None
        result = protocol.decode(response.get("result"), {})
    except (OSError, EOFError, protocol.ProtocolError):
        return None
    finally:
        sock.close()
    if not isinstance(result, list) or len(result) > MAX_GUARD_ATTEMPTS:
        return None
    attempts = []
    for item in result:
        if not (isinstance(item, list) and len(item) == 4 and all(isinstance(s, str) for s in item[:3])
                and isinstance(item[3], bool)):
            return None
        attempts.append((item[0][:200], item[1][:200], item[2][:200], item[3]))
    return attempts


def graded_cell_before(nb, index: int) -> str | None:
    """The grade id of the last graded (test) cell between the previous student cell and cell ``index``.

    Imports the guard saw between two student cells happened while that cell's checks called
    the student's code.
    """
    for cell in reversed(nb.cells[:index]):
        if cell.cell_type != "code":
            continue
        if utils.is_grade(cell) and not utils.is_solution(cell):
            return cell.metadata.get("nbgrader", {}).get("grade_id")
        return None
    return None


class LibraryWatch:
    """One notebook's forbidden-library bookkeeping in the executor (TrustedExecute).

    Static uses are recorded once per cell and module; the guard's attempts add an incident only
    for a module not yet on the record (a cell's own imports run again when it is replayed after
    a restart, and a module the scan found is already there).
    """

    def __init__(self, policy: LibraryPolicy, assignment: str, record):
        self.forbidden = policy.forbidden_for(assignment)
        self.block = policy.blocks
        self.policy, self.assignment, self.record = policy, assignment, record
        self.aliases: dict[str, str] = {}
        self.modules: set[str] = set()          # forbidden modules on the record
        self.guard_answers = bool(self.forbidden)

    @property
    def active(self) -> bool:
        return bool(self.forbidden)

    def file_hidden(self) -> tuple[str, ...]:
        return self.policy.file_hidden(self.assignment)

    def bootstrap(self) -> str:
        return self.policy.guard_source(self.assignment)

    def kernel_started(self) -> None:
        """A new kernel has a new guard: ask it again."""
        self.guard_answers = self.active

    def scan_cell(self, cell: str, source: str) -> None:
        """Record the forbidden modules the cell's source uses (trusted: nothing of the kernel is involved)."""
        if not self.active:
            return
        by_module: dict[str, list[Use]] = {}
        for use in scan(source, self.forbidden, self.aliases):
            by_module.setdefault(use.module, []).append(use)
        for module, uses in by_module.items():
            places = ", ".join(f"{u.name} ({u.how}, line {u.line})" for u in uses)
            self.record.add(INCIDENT, cell, f"{module}: {places}; action: {self.policy.action}"[:300])
            self.modules.add(module)

    def collect(self, cell: str, connect) -> None:
        """Ask the kernel's guard what it saw; record modules the record does not have yet under ``cell``."""
        if not self.guard_answers:
            return
        attempts = ask_guard(connect)
        if attempts is None:
            self.guard_answers = False  # replaced or stopped: not asked again in this kernel
            return
        for module, requested, where, blocked in attempts:
            if module in self.modules or module not in self.forbidden:
                continue
            self.modules.add(module)
            mode = "blocked" if blocked else "allowed (flag mode)"
            self.record.add(INCIDENT, cell, f"{module}: {requested} (imported at run time, {where}); {mode}"[:300])
