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

Hidden checks draw their random inputs from :func:`case_rng`: seeded by the
case's name and, while the grader grades one submission, by that submission's
salt (:func:`inputs_salt`), so every submission gets inputs of its own and a
re-grade of it gets the same ones.  Visible checks seed their own generators
with fixed integers: their inputs are printed for students and stay the same
everywhere.

This module ships to students: it contains no expected values of hidden
checks, no reference implementation and no salt.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["CheckFailure", "Check", "Registry", "CheckResult", "expect", "expect_equal",
           "expect_shape", "expect_close", "answer_array", "answer_number", "describe_array_mismatch",
           "case_rng", "inputs_salt", "current_inputs_salt", "name_seed"]


class CheckFailure(AssertionError):
    """A behaviour of the student's code is wrong; the message says what and how."""


@dataclasses.dataclass(frozen=True)
class Check:
    group: str          # the graded cell this check belongs to
    name: str           # short identifier, unique in its registry
    title: str          # one line a student understands
    func: Callable
    weight: float = 1.0  # its share of the cell's points, relative to the cell's other checks


@dataclasses.dataclass
class CheckResult:
    group: str
    name: str
    title: str
    passed: bool
    message: str = ""
    seconds: float = 0.0
    weight: float = 1.0


class Registry:
    """An ordered collection of checks, looked up by group."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def check(self, group: str, title: str, weight: float = 1.0):
        """Register a check of ``group``; ``weight`` is its share of the cell's points (equal by default)."""
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ValueError(f"a check's weight must be a positive number, got {weight!r}")

        def register(func):
            name = f"{group}.{func.__name__}"
            if name in self._checks:
                raise ValueError(f"check {name} is registered twice")
            self._checks[name] = Check(group, name, title, func, float(weight))
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
                                           time.perf_counter() - start, c.weight))
            else:
                results.append(CheckResult(c.group, c.name, c.title, True, "",
                                           time.perf_counter() - start, c.weight))
        return results


# ----------------------------------------------------------------- case inputs
_INPUTS_SALT: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("gradekit_inputs_salt", default=None)


@contextlib.contextmanager
def inputs_salt(salt: bytes | None) -> Iterator[None]:
    """Within the block, :func:`case_rng` mixes ``salt`` into every seed (None: name-only seeds).

    The grader sets it for the duration of one notebook's grading, to a salt derived from the
    submission (grader.engine.inputs); blocks nest, and the previous salt is back after the block.
    """
    if salt is not None and (not isinstance(salt, bytes) or not salt):
        raise ValueError("an inputs salt is a non-empty bytes value (or None for name-only seeds)")
    token = _INPUTS_SALT.set(salt)
    try:
        yield
    finally:
        _INPUTS_SALT.reset(token)


def current_inputs_salt() -> bytes | None:
    """The salt :func:`case_rng` uses now (None outside :func:`inputs_salt`)."""
    return _INPUTS_SALT.get()


def name_seed(name: str) -> int:
    """A seed for ``name`` that is the same in every process (unlike ``hash``): a polynomial hash mod 2**61 - 1."""
    value = 0
    for ch in name:
        value = (value * 131 + ord(ch)) % (2 ** 61 - 1)
    return value


def case_rng(key: str | int) -> np.random.Generator:
    """The random generator of one hidden-check case, named by ``key`` (a string, or an integer seed).

    Without a salt: ``np.random.default_rng(name_seed(key) % 2**32)`` for a string, and
    ``np.random.default_rng(key)`` for an integer, so every run sees the same inputs.  Under
    :func:`inputs_salt`: a generator seeded by SHA-256 of the salt and the key, so the inputs are
    fixed by the salt and unrelated between salts.
    """
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"a case key is a string or an integer, got {type(key).__name__}")
    salt = _INPUTS_SALT.get()
    if salt is None:
        return np.random.default_rng(key if isinstance(key, int) else name_seed(key) % (2 ** 32))
    tagged = f"{'int' if isinstance(key, int) else 'str'}:{key}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(b"gradekit.case_rng\0" + len(salt).to_bytes(8, "big") + salt + tagged).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


# ----------------------------------------------------------------- comparisons
# Every value a check compares comes from the student's code, so it is validated here first, in one
# place: an ndarray (or a plain number) of bools, integers or floats, of exactly the expected shape,
# converted to float64.  Nothing is broadcast, squeezed or reshaped, and empty arrays are handled
# explicitly, so a verdict never depends on how a numpy version treats an odd value (the truth of an
# empty array, comparisons of mismatched shapes, arithmetic on booleans).
ANSWER_KINDS = "biuf"  # bool, signed and unsigned integers, floats
_NUMBER_TYPES = (bool, int, float, np.bool_, np.integer, np.floating)


def _describe(value) -> str:
    """What a received value is, in words, without printing all of it."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        empty = ", empty" if value.size == 0 else ""
        return f"an array of shape {value.shape} and dtype {value.dtype}{empty}"
    return f"a value of type {type(value).__name__}"


def _numeric_array(got, shape: tuple, what: str, hint: str) -> np.ndarray:
    """``got`` as an ndarray of ANSWER_KINDS and exactly ``shape`` (no copy), or CheckFailure."""
    if isinstance(got, _NUMBER_TYPES):
        got = np.asarray(got)
    if not isinstance(got, np.ndarray):
        raise CheckFailure(_join(f"{what}: expected an array of shape {shape}, got {_describe(got)}.", hint))
    if got.dtype.kind not in ANSWER_KINDS:
        raise CheckFailure(_join(f"{what}: expected numbers (bool, int or float), got {_describe(got)}.", hint))
    if got.shape != shape:
        empty = " (an empty array)" if got.size == 0 else ""
        raise CheckFailure(_join(f"{what}: expected shape {shape}, got {got.shape}{empty}.", hint))
    return got


def answer_array(got, shape, what: str, hint: str = "", finite: bool = False) -> np.ndarray:
    """The student's answer ``got`` as a float64 copy of exactly ``shape``, or CheckFailure saying why not.

    Accepted: an ndarray of bools, integers or floats (or a plain number, for
    shape ``()``).  Refused, with a message naming what was expected and what
    came: None and other objects, other dtypes (complex, strings, objects), any
    other shape, including an empty array in place of a non-empty one and a
    shape that would broadcast.  With ``finite``, NaN and infinite values are
    refused too (for answers that the check computes with, not only compares).
    """
    shape = tuple(int(n) for n in shape)
    array = _numeric_array(got, shape, what, hint).astype(np.float64)
    if finite and array.size and not np.all(np.isfinite(array)):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise CheckFailure(_join(f"{what}: {bad} of {array.size} values are NaN or infinite.", hint))
    return array


def answer_number(got, what: str, hint: str = ""):
    """The student's answer ``got`` as a Python number (bool, int or float), or CheckFailure.

    A 0-d numeric array counts as its number; any other array, even with a
    single element, does not (it would compare elementwise).
    """
    if isinstance(got, (np.ndarray, np.generic)):
        if got.shape != () or got.dtype.kind not in ANSWER_KINDS:
            raise CheckFailure(_join(f"{what}: expected a number, got {_describe(np.asarray(got))}.", hint))
        return got.item()
    if isinstance(got, (bool, int, float)):
        return got
    raise CheckFailure(_join(f"{what}: expected a number, got {_describe(got)}.", hint))


def _is_plain(value, depth: int = 0) -> bool:
    """None, bools, numbers, strings, and short shallow lists/tuples of them: values == compares safely."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)) and depth < 8 and len(value) <= 10_000:
        return all(_is_plain(v, depth + 1) for v in value)
    return False


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailure(message)


def expect_equal(got, expected, what: str, hint: str = "") -> None:
    """Exact equality of a number (validated with :func:`answer_number`) or of plain values (shapes, lists)."""
    if isinstance(expected, np.ndarray) or not _is_plain(expected):
        raise TypeError(f"expect_equal compares numbers and plain values; use expect_close for {type(expected)}")
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        got = answer_number(got, what, hint)
    elif not _is_plain(got):
        raise CheckFailure(_join(f"{what}: expected {expected!r}, got {_describe(got)}.", hint))
    if got != expected:
        raise CheckFailure(_join(f"{what}: expected {expected!r}, got {got!r}.", hint))


def expect_shape(got, expected_shape, what: str, hint: str = "") -> None:
    """``got`` is a numeric array of exactly ``expected_shape`` (see :func:`answer_array`)."""
    _numeric_array(got, tuple(int(n) for n in expected_shape), what, hint)


def describe_array_mismatch(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str:
    """Where and by how much two equally shaped arrays differ, in one sentence."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.size == 0:
        return "both arrays are empty"
    if not np.all(np.isfinite(got)):
        bad = int(np.size(got) - np.count_nonzero(np.isfinite(got)))
        return f"{bad} of {got.size} values are NaN or infinite"
    diff = np.abs(got - expected)
    wrong = diff > atol + rtol * np.abs(expected)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    worst_idx = tuple(int(i) for i in worst)
    return (f"{int(wrong.sum())} of {wrong.size} values differ; the largest difference is "
            f"{float(diff[worst]):.4g} at index {worst_idx} (expected {float(expected[worst]):.6g}, "
            f"got {float(got[worst]):.6g})")


def expect_close(got, expected, what: str, hint: str = "", rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Shape first (:func:`answer_array`), then values, with a message that names position and size of the error."""
    expected = np.asarray(expected, dtype=np.float64)
    got = answer_array(got, expected.shape, what, hint)
    if got.size == 0:
        return  # equal shapes with no values: nothing differs
    if not np.all(np.isfinite(got)) or not np.allclose(got, expected, rtol=rtol, atol=atol):
        raise CheckFailure(_join(f"{what}: {describe_array_mismatch(got, expected, rtol, atol)}.", hint))


def _join(message: str, hint: str) -> str:
    return f"{message} {hint}".strip() if hint else message
