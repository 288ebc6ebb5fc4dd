"""Check framework: registries of named checks and comparisons with messages a student can act on.

A *check* is a plain function ``check(student)`` that drives the student's
code through a :class:`~.student.Student` adapter and raises
:class:`CheckFailure` with a readable message when a behaviour is wrong.
Checks are grouped by the graded notebook cell they belong to (``group``).

The same check functions run in three places:

* in the student's kernel, through :class:`~.student.LocalStudent`
  (visible checks, what a student runs in JupyterLab);
* in the trusted grading process, through a remote adapter that only
  exchanges plain arrays with the sandboxed kernel (visible and hidden);
* in the project's own tests, against reference and mutant implementations.

This module ships to students: it contains no expected values of hidden
checks and no reference implementation.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

__all__ = ["CheckFailure", "Check", "Registry", "CheckResult", "expect", "expect_equal",
           "expect_shape", "expect_close", "describe_array_mismatch"]


class CheckFailure(AssertionError):
    """A behaviour of the student's code is wrong; the message says what and how."""


@dataclasses.dataclass(frozen=True)
class Check:
    group: str          # the graded cell this check belongs to
    name: str           # short identifier, unique in its registry
    title: str          # one line a student understands
    func: Callable


@dataclasses.dataclass
class CheckResult:
    group: str
    name: str
    title: str
    passed: bool
    message: str = ""
    seconds: float = 0.0


class Registry:
    """An ordered collection of checks, looked up by group."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def check(self, group: str, title: str):
        def register(func):
            name = f"{group}.{func.__name__}"
            if name in self._checks:
                raise ValueError(f"check {name} is registered twice")
            self._checks[name] = Check(group, name, title, func)
            return func
        return register

    def groups(self) -> list[str]:
        return list(dict.fromkeys(c.group for c in self._checks.values()))

    def in_group(self, group: str) -> list[Check]:
        found = [c for c in self._checks.values() if c.group == group]
        if not found:
            raise KeyError(f"no checks registered for group {group!r}; known groups: {self.groups()}")
        return found

    def __iter__(self):
        return iter(self._checks.values())

    def run(self, group: str, student) -> list[CheckResult]:
        """Run every check of ``group``; failures are collected, never raised."""
        results = []
        for c in self.in_group(group):
            start = time.perf_counter()
            try:
                c.func(student)
            except AssertionError as exc:  # CheckFailure, or a plain assert inside a check
                results.append(CheckResult(c.group, c.name, c.title, False, str(exc),
                                           time.perf_counter() - start))
            else:
                results.append(CheckResult(c.group, c.name, c.title, True, "",
                                           time.perf_counter() - start))
        return results


# ----------------------------------------------------------------- comparisons
def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailure(message)


def expect_equal(got, expected, what: str, hint: str = "") -> None:
    if got != expected:
        raise CheckFailure(_join(f"{what}: expected {expected!r}, got {got!r}.", hint))


def expect_shape(got: np.ndarray, expected_shape, what: str, hint: str = "") -> None:
    got_shape = tuple(np.shape(got))
    if got_shape != tuple(expected_shape):
        raise CheckFailure(_join(f"{what}: expected shape {tuple(expected_shape)}, got {got_shape}.", hint))


def describe_array_mismatch(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str:
    """Where and by how much two equally shaped arrays differ, in one sentence."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        bad = int(np.size(got) - np.count_nonzero(np.isfinite(got)))
        return f"{bad} of {got.size} values are NaN or infinite"
    diff = np.abs(got - expected)
    wrong = diff > atol + rtol * np.abs(expected)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    worst_idx = tuple(int(i) for i in worst)
    return (f"{int(wrong.sum())} of {wrong.size} values differ; the largest difference is "
            f"{float(diff[worst]):.4g} at index {worst_idx} (expected {float(expected[worst]):.6g}, "
            f"got {float(got[worst]):.6g})")


def expect_close(got, expected, what: str, hint: str = "", rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Shape first, then values, with a message that names position and size of the error."""
    expected = np.asarray(expected, dtype=np.float64)
    if got is None:
        raise CheckFailure(_join(f"{what}: expected an array of shape {expected.shape}, got None.", hint))
    got = np.asarray(got)
    expect_shape(got, expected.shape, what, hint)
    if not np.all(np.isfinite(got)) or not np.allclose(got.astype(np.float64), expected, rtol=rtol, atol=atol):
        raise CheckFailure(_join(f"{what}: {describe_array_mismatch(got, expected, rtol, atol)}.", hint))


def _join(message: str, hint: str) -> str:
    return f"{message} {hint}".strip() if hint else message
