"""Checks for the Spatial Operations assignment.

In a notebook test cell::

    from spatial_checks import run
    run("test_conv2d_forward")

runs that cell's visible checks on the classes and functions defined in the
notebook and prints what passed; a failure raises ``CheckFailure`` with a
message that says what went wrong and, where possible, how to fix it.
"""
from __future__ import annotations

import importlib

from .checking import CheckFailure
from .student import LocalStudent

__all__ = ["run", "CheckFailure"]

HIDDEN_CHECKS_MODULE = "grader.hidden_checks"  # instructor side only; absent from the release


def registry_for(hidden: bool):
    if hidden:
        return importlib.import_module(HIDDEN_CHECKS_MODULE).REGISTRY
    from .visible_checks import REGISTRY
    return REGISTRY


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


def run(group: str, hidden: bool = False, namespace: dict | None = None) -> None:
    """Run the checks of one graded cell against the notebook's definitions."""
    results = registry_for(hidden).run(group, LocalStudent(namespace))
    report = format_results(group, results, hidden)
    print(report)
    failed = [r for r in results if not r.passed]
    if failed and all("raised NotImplementedError" in r.message for r in failed):
        # an unfinished stub, not a wrong answer: say so plainly
        raise NotImplementedError(f"{group}: {failed[0].message}")
    if failed:
        raise CheckFailure(f"{len(failed)} of {len(results)} checks failed in {group}: {failed[0].message}")
