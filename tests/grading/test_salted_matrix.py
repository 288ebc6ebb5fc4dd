"""The kill matrix does not depend on which inputs a submission draws.

Grading draws every submission's hidden inputs under a salt of its own (grader.engine.inputs), while the
catalogs' declarations are proven in process on the name-only inputs (test_mutants_fast.py,
tests/assignments/test_04_losses.py).  Here the same in-process matrix runs under fixed salts: every
correct style keeps full marks and every mutant loses points on exactly the cells it loses them on
without a salt, and fails visible checks on the same cells, so a submission's verdict never depends on
its luck with the inputs.  The whole 09_spatial matrix under a salt is a ``long`` test (``make test-long``);
``make test`` runs its correct styles and equivalent mutants under two salts and the 04_losses matrix under
one, and the mutant pipeline grades its representative mutants under per-submission salts.
"""
from __future__ import annotations

import hashlib

import pytest

from grader.engine.assignment import load
from grader.harness import mutation

from ..conftest import REPO, SPATIAL

SALTS = [hashlib.sha256(f"salted matrix {i}".encode()).digest() for i in range(3)]


def verdicts(outcomes) -> dict[tuple[str, str], tuple]:
    return {(o.kind, o.name): (set(o.lost), set(o.visible_lost), o.errors) for o in outcomes}


@pytest.mark.long
def test_every_spatial_sample_gets_the_same_verdict_under_a_salt(spatial_matrix):
    salted = verdicts(mutation.evaluate_all_in_process(SPATIAL, salt=SALTS[0]))
    assert salted == verdicts(spatial_matrix.values())
    assert len(salted) == 95


@pytest.mark.parametrize("salt", SALTS[1:], ids=["salt1", "salt2"])
def test_correct_spatial_styles_and_equivalent_mutants_lose_nothing_under_other_salts(salt):
    equivalent = [name for name, m in mutation.catalog(SPATIAL).items() if m.equivalent]
    outcomes = mutation.evaluate_all_in_process(SPATIAL, mutants=equivalent, salt=salt)
    assert len(outcomes) == 8 + 3
    assert {(o.kind, o.name): o.lost + o.errors for o in outcomes if o.lost or o.errors} == {}


@pytest.mark.parametrize("salts", [SALTS[:1], pytest.param(SALTS[1:], marks=pytest.mark.long)], ids=["salt0", "more"])
def test_every_losses_sample_gets_the_same_verdict_under_a_salt(salts):
    losses = load(REPO, "04_losses")
    plain = verdicts(mutation.evaluate_all_in_process(losses))
    assert len(plain) == len(mutation.catalog(losses)) + len(mutation.alternative_styles(losses))
    for salt in salts:
        assert verdicts(mutation.evaluate_all_in_process(losses, salt=salt)) == plain
