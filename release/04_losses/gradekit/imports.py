"""The import guard: student code in the kernel cannot import the modules an assignment forbids.

The trusted grader installs it in the sandboxed kernel before any student cell runs::

    __import__("gradekit.imports").imports.install(("scipy.signal", ...), block=True, hint="…")

It watches the three ways code asks for a module:

* ``sys.meta_path``: a module's first import, also through ``importlib.import_module`` or a
  package's lazy ``__getattr__`` (``import scipy; scipy.signal``);
* ``builtins.__import__``: every ``import`` statement and ``__import__()`` call, also of a module a
  library has already loaded (``from PIL import Image`` after matplotlib imported PIL);
* ``importlib.import_module``: a module that is already loaded, asked for by name.

Whose import it is follows from the code that asks: the innermost frame that is not import
machinery (importlib, pkgutil, pydoc, runpy, zipimport), not the guard itself, and not a package
loading its own submodule.  Library code is a file of the installed Python (under the
environment's or the interpreter's prefix, or a frozen standard module); everything else is
student code: notebook cells, ``exec``'d strings, ``.py`` files in the working directory.  A
library importing what it needs (matplotlib importing PIL) goes through untouched; student code
asking for a forbidden module, or a module inside one, gets a ModuleNotFoundError naming it
(``block=True``) or is let through (``block=False``), and either way the attempt is remembered
until the grader reads it through the agent (:func:`take_attempts`, agent operation
``forbidden_imports``).

This layer is best effort: code in the kernel can remove the guard, compile its code under a
library's file name, or take an already loaded module from ``sys.modules``.  The grader's static
scan of every cell and the sandbox's file-level hiding (grader.engine.library_policy) do not depend on it.
"""
from __future__ import annotations

import builtins
import importlib
import importlib.util
import os
import sys
import threading

__all__ = ["ImportGuard", "install", "uninstall", "take_attempts", "GUARD_OP", "library_roots"]

GUARD_OP = "forbidden_imports"      # the agent operation that hands the attempts to the grader
MACHINERY = ("importlib", "pkgutil", "pydoc", "runpy", "zipimport")  # import a name their caller chose
MAX_ATTEMPTS = 100                  # remembered between two reads; later ones are dropped

_guard: ImportGuard | None = None


def _inside(name: str, package: str) -> bool:
    """True when ``name`` is ``package`` or a module inside it."""
    return name == package or name.startswith(package + ".")


def library_roots() -> tuple[str, ...]:
    """Directories whose files are library code: the prefixes of the environment and of the interpreter."""
    roots = set()
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        for path in (os.path.abspath(prefix), os.path.realpath(prefix)):
            if path != os.sep:  # a prefix of "/" would make every file a library file
                roots.add(os.path.join(path, ""))
    return tuple(sorted(roots))


def _where(frame) -> str:
    """A frame's place for the grader's record: 'line N' of a cell (or 'line N in func'), else 'file.py line N'."""
    code = frame.f_code
    filename = code.co_filename
    place = f"line {frame.f_lineno}" + ("" if code.co_name == "<module>" else f" in {code.co_name}")
    if filename.startswith("<") or "ipykernel_" in filename:  # a cell, or an exec'd string
        return place
    return f"{os.path.basename(filename)} {place}"


class _Finder:
    """The guard's entry in ``sys.meta_path``: checks every first import, finds nothing itself."""

    def __init__(self, guard: ImportGuard):
        self.guard = guard

    def find_spec(self, fullname, path=None, target=None):
        self.guard.check(fullname, sys._getframe(1))
        return None

    def invalidate_caches(self) -> None:
        pass


class ImportGuard:
    """Decides, for one kernel, whether an import is a forbidden one asked for by student code.

    ``forbidden``: dotted module names; a name inside one of them (``scipy.signal.windows``) is
    forbidden too.  ``block``: raise ModuleNotFoundError for student code (else only remember).
    ``roots``: directories of library code (default :func:`library_roots`).
    """

    def __init__(self, forbidden, block: bool = True, hint: str = "", roots=None):
        self.forbidden = tuple(forbidden)
        self.block = bool(block)
        self.hint = hint
        self.roots = tuple(roots) if roots is not None else library_roots()
        self._attempts: list[list] = []
        self._seen: set[tuple[str, str, int]] = set()
        self._library: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._original_import = builtins.__import__
        self._original_import_module = importlib.import_module
        self._finder = _Finder(self)

    # ------------------------------------------------------------- decisions
    def forbidden_root(self, name: str) -> str | None:
        """The forbidden module ``name`` falls under, or None."""
        for root in self.forbidden:
            if _inside(name, root):
                return root
        return None

    def is_library_file(self, filename: str) -> bool:
        """True for a file of the installed Python or a frozen standard module; False for everything else."""
        known = self._library.get(filename)
        if known is None:
            if filename.startswith("<frozen "):
                known = True
            elif not os.path.isabs(filename):
                known = False
            else:
                known = (filename.startswith(self.roots)
                         or os.path.realpath(filename).startswith(self.roots))
            self._library[filename] = known
        return known

    def requester(self, frame, requested: str):
        """``(is_student, frame)``: the frame that asks for ``requested``, walking outward from ``frame``.

        Skipped on the way: the guard's own hooks, import machinery, and a package loading a
        module inside itself (``scipy.__getattr__`` loading ``scipy.signal`` for its caller);
        each of the last two only when it is a library file, so a cell that renames itself
        ``importlib`` is still a cell.
        """
        while frame is not None:
            code = frame.f_code
            if code in _HOOK_CODES:
                frame = frame.f_back
                continue
            if not self.is_library_file(code.co_filename):
                return True, frame
            module = frame.f_globals.get("__name__")
            if isinstance(module, str) and (module.split(".")[0] in MACHINERY
                                            or requested.startswith(module + ".")):
                frame = frame.f_back
                continue
            return False, frame
        return False, None

    def message(self, requested: str, root: str) -> str:
        part = "" if requested == root else f" (it is part of {root})"
        text = f"{requested} is not allowed in this assignment{part}"
        if self.hint:
            text += f": {self.hint}"
        return text + f" [forbidden here: {', '.join(self.forbidden)}]"

    def check(self, requested: str, frame) -> None:
        """Remember (and in block mode refuse) ``requested`` when student code asks for a forbidden module."""
        root = self.forbidden_root(requested)
        if root is None:
            return
        is_student, asker = self.requester(frame, requested)
        if not is_student:
            return
        self._remember(root, requested, asker)
        if self.block:
            raise ModuleNotFoundError(self.message(requested, root), name=requested)

    def _remember(self, root: str, requested: str, frame) -> None:
        key = (root, frame.f_code.co_filename, frame.f_lineno)
        with self._lock:
            if key in self._seen or len(self._attempts) >= MAX_ATTEMPTS:
                return
            self._seen.add(key)
            self._attempts.append([root, requested, _where(frame), self.block])

    def take_attempts(self) -> list[list]:
        """``[forbidden module, requested name, where, blocked]`` for each attempt since the last call."""
        with self._lock:
            attempts, self._attempts = self._attempts, []
            self._seen.clear()
        return attempts

    # ------------------------------------------------------------- hooks
    @staticmethod
    def statement_names(name: str, globals_, fromlist, level: int) -> list[str]:
        """The modules an import statement may load: ``from scipy import signal`` -> scipy, scipy.signal."""
        if not isinstance(name, str):
            return []
        if level:
            package = globals_.get("__package__") if isinstance(globals_, dict) else None
            bits = package.rsplit(".", level - 1) if isinstance(package, str) and package else []
            if len(bits) < level:
                return []  # the import itself fails with its own error
            name = f"{bits[0]}.{name}" if name else bits[0]
        names = [name]
        for item in fromlist or ():
            if isinstance(item, str) and item != "*":
                names.append(f"{name}.{item}")
        return names

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002 - __import__'s own names
        caller = sys._getframe(1)
        for requested in self.statement_names(name, globals, fromlist, level):
            self.check(requested, caller)
        return self._original_import(name, globals, locals, fromlist, level)

    def _import_module(self, name, package=None):
        if isinstance(name, str):
            try:
                absolute = importlib.util.resolve_name(name, package) if name.startswith(".") else name
            except (ImportError, ValueError, TypeError, AttributeError):
                absolute = None
            if absolute:
                self.check(absolute, sys._getframe(1))
        return self._original_import_module(name, package)

    def install(self) -> ImportGuard:
        sys.meta_path.insert(0, self._finder)
        builtins.__import__ = self._import
        importlib.import_module = self._import_module
        return self

    def uninstall(self) -> None:
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        if builtins.__import__ == self._import:
            builtins.__import__ = self._original_import
        if importlib.import_module == self._import_module:
            importlib.import_module = self._original_import_module


_HOOK_CODES = frozenset({_Finder.find_spec.__code__, ImportGuard._import.__code__,
                         ImportGuard._import_module.__code__})


def install(forbidden, block: bool = True, hint: str = "") -> ImportGuard:
    """Install the kernel's guard (replacing an earlier one)."""
    global _guard
    uninstall()
    _guard = ImportGuard(forbidden, block, hint).install()
    return _guard


def uninstall() -> None:
    global _guard
    if _guard is not None:
        _guard.uninstall()
        _guard = None


def take_attempts() -> list[list]:
    """The installed guard's attempts since the last call (none without a guard)."""
    return _guard.take_attempts() if _guard is not None else []
