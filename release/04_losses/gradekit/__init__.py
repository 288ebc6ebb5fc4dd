"""The grading engine's in-kernel half: the checks API and the runner test cells call.

It ships with every release, next to the notebook, beside the assignment's own
checks package, and needs only numpy.  An assignment's checks package makes its
``run`` with :func:`runner`; in a notebook test cell::

    from spatial_checks import run      # the assignment's checks package
    run("test_conv2d_forward")          # the graded cell's check group

runs that cell's visible checks on the classes and functions defined in the
notebook and prints what passed; a failure raises ``CheckFailure`` with a
message that says what went wrong and, where possible, how to fix it.

During grading, test cells do not run in the student's kernel at all: the
trusted grader reads their ``run(...)`` calls and runs the checks itself
(``grader.engine.nbgrader_ext.execute``).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from .checking import CheckFailure
from .student import LocalStudent

__all__ = ["runner", "format_results", "CheckFailure"]


def format_results(group: str, results, hidden: bool) -> str:
    kind = "hidden" if hidden else "visible"
    lines = []
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        lines.append(f"[{mark}] {r.title}")
        if not r.passed:
            lines.extend("       " + line for line in r.message.splitlines())
    passed = sum(r.passed for r in results)
    lines.append(f"{group}: {passed}/{len(results)} {kind} checks passed.")
    return "\n".join(lines)


def runner(visible_module: str, hidden_module: str) -> Callable[..., None]:
    """The ``run(group, hidden=False)`` of an assignment's checks package.

    ``visible_module`` and ``hidden_module`` name the modules whose ``REGISTRY`` holds the checks.
    The hidden module exists only on the instructor's side; a student who asks for it gets
    ``ModuleNotFoundError``.
    """

    def run(group: str, hidden: bool = False, namespace: dict | None = None) -> None:
        """Run the checks of one graded cell against the notebook's definitions."""
        registry = importlib.import_module(hidden_module if hidden else visible_module).REGISTRY
        results = registry.run(group, LocalStudent(namespace))
        print(format_results(group, results, hidden))
        failed = [r for r in results if not r.passed]
        if failed and all("raised NotImplementedError" in r.message for r in failed):
            # an unfinished stub, not a wrong answer: say so plainly
            raise NotImplementedError(f"{group}: {failed[0].message}")
        if failed:
            raise CheckFailure(f"{len(failed)} of {len(results)} checks failed in {group}: {failed[0].message}")

    return run
