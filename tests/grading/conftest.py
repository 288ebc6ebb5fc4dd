"""The in-process kill matrix of the course's assignments, computed once per session."""
from __future__ import annotations

import pytest

from grader.harness import mutation

from ..conftest import SPATIAL


@pytest.fixture(scope="session")
def spatial_matrix() -> dict[tuple[str, str], mutation.InProcessOutcome]:
    """(kind, name) -> outcome of every mutant and style of 09_spatial, without notebooks or kernels."""
    return {(o.kind, o.name): o for o in mutation.evaluate_all_in_process(SPATIAL)}
