"""Fixtures for the reference-package tests; helpers and grids live in ``spatial_helpers``."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded generator per test."""
    return np.random.default_rng(12345)
