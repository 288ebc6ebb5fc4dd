"""Unit: gradekit.checking's case inputs (case_rng, inputs_salt, name_seed), the hidden checks' one generator."""
from __future__ import annotations

import os

import numpy as np
import pytest

from gradekit.checking import case_rng, current_inputs_salt, inputs_salt, name_seed
from grader.engine.assignment import load_all

from ..conftest import REPO

SALT = bytes(range(32))
OTHER = bytes(range(1, 33))


def old_rng_for(name: str) -> np.random.Generator:
    """The name-only seeding both assignments' hidden checks had before case_rng."""
    value = 0
    for ch in name:
        value = (value * 131 + ord(ch)) % (2 ** 61 - 1)
    return np.random.default_rng(abs(value) % (2 ** 32))


NAMES = ["training", "maxpool:0", "conv_forward:(2, 3, 5, 6, 4, 3, 1, 0, True)", "softmax:grid:3",
         "mse_forward:(2, 3, 4):{'reduction': 'sum'}", ""]


# ------------------------------------------------------------------ no salt: name-only inputs
def test_without_a_salt_a_name_draws_what_the_name_alone_drew():
    assert current_inputs_salt() is None
    for name in NAMES:
        assert np.array_equal(case_rng(name).normal(size=(3, 4)), old_rng_for(name).normal(size=(3, 4))), name
    assert name_seed("training") == 77379183621036390
    np.testing.assert_allclose(case_rng("training").normal(size=3), [0.10310679, 2.47189883, -0.53878946],
                               rtol=1e-7)


def test_without_a_salt_an_integer_key_is_that_seed():
    assert np.array_equal(case_rng(3).normal(size=5), np.random.default_rng(3).normal(size=5))
    np.testing.assert_allclose(case_rng(3).normal(size=2), [2.04091912, -2.55566503], rtol=1e-7)


# ------------------------------------------------------------------ under a salt
def test_the_same_salt_and_name_draw_identical_arrays():
    with inputs_salt(SALT):
        first = case_rng("training").normal(size=(8, 1, 8, 8))
    with inputs_salt(SALT):
        again = case_rng("training").normal(size=(8, 1, 8, 8))
        assert current_inputs_salt() == SALT
    assert np.array_equal(first, again)
    np.testing.assert_allclose(first.ravel()[:3], [-1.34330357, 0.12179088, -0.72643242], rtol=1e-7)


def test_another_salt_draws_other_arrays_and_so_does_another_name():
    with inputs_salt(SALT):
        salted = case_rng("training").normal(size=100)
        other_name = case_rng("training:1").normal(size=100)
        integer = case_rng(3).normal(size=100)
    with inputs_salt(OTHER):
        other_salt = case_rng("training").normal(size=100)
    unsalted = case_rng("training").normal(size=100)
    arrays = [salted, other_name, integer, other_salt, unsalted]
    assert all(not np.any(a == b) for i, a in enumerate(arrays) for b in arrays[i + 1:])


def test_a_string_key_and_an_integer_key_that_print_alike_differ():
    with inputs_salt(SALT):
        assert not np.array_equal(case_rng("3").normal(size=4), case_rng(3).normal(size=4))


def test_the_salt_holds_inside_the_block_only_and_blocks_nest():
    with inputs_salt(SALT):
        with inputs_salt(OTHER):
            assert current_inputs_salt() == OTHER
            with inputs_salt(None):   # name-only seeds again, inside
                assert np.array_equal(case_rng("x").normal(size=3), old_rng_for("x").normal(size=3))
            assert current_inputs_salt() == OTHER
        assert current_inputs_salt() == SALT
    assert current_inputs_salt() is None


def test_the_salt_is_restored_when_the_block_raises():
    with pytest.raises(KeyError):
        with inputs_salt(SALT):
            raise KeyError("a check failed")
    assert current_inputs_salt() is None


@pytest.mark.parametrize("salt", [b"", "a string", bytearray(b"abc"), 5])
def test_a_salt_is_non_empty_bytes(salt):
    with pytest.raises(ValueError, match="non-empty bytes"):
        with inputs_salt(salt):
            pass


@pytest.mark.parametrize("key", [1.5, True, None, ("a", 1)])
def test_a_key_is_a_string_or_an_integer(key):
    with pytest.raises(TypeError, match="a string or an integer"):
        case_rng(key)


# ------------------------------------------------------------------ who draws from it
def test_visible_checks_keep_fixed_inputs_and_hidden_checks_draw_from_case_rng():
    """Visible checks run in the student's kernel too and print their inputs: they never use case_rng."""
    assignments = load_all(REPO)
    assert {a.name for a in assignments} >= {"04_losses", "09_spatial"}
    for assignment in assignments:
        checks_dir = os.path.join(assignment.content_dir, assignment.checks_package)
        for folder, _, files in os.walk(checks_dir):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(folder, name), encoding="utf-8") as fh:
                        assert "case_rng" not in fh.read(), (assignment.name, name)
        with open(os.path.join(assignment.content_dir, "hidden_checks.py"), encoding="utf-8") as fh:
            hidden = fh.read()
        assert "case_rng(" in hidden and "default_rng(" not in hidden and "np.random.seed" not in hidden
