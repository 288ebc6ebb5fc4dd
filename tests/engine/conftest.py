"""Fixtures for the engine's unit tests: a tiny sqlite gradebook built with nbgrader's own API."""
from __future__ import annotations

import functools
import os

import pytest


@functools.lru_cache(maxsize=1)
def _alembic_head() -> str:
    """The gradebook schema revision nbgrader stamps on a new database, read in this process.

    nbgrader asks for it by running the ``alembic`` command, which costs several seconds per new
    gradebook (and needs the venv's bin/ on PATH); the revision is the same either way.
    """
    import nbgrader
    from alembic.script import ScriptDirectory

    return ScriptDirectory(os.path.join(os.path.dirname(nbgrader.__file__), "alembic")).get_current_head()


@pytest.fixture()
def gradebook(tmp_path, monkeypatch):
    """A new, empty gradebook in tmp_path, open; yields it (its URL is ``gradebook.db_url``)."""
    import nbgrader.api  # here, not at the top: test files that need no gradebook need not import nbgrader

    monkeypatch.setattr(nbgrader.api, "get_alembic_version", _alembic_head)
    url = f"sqlite:///{tmp_path}/gb.db"
    gb = nbgrader.api.Gradebook(url)
    gb.db_url = url
    yield gb
    gb.close()
