"""Fixtures for the instructor tools' tests: the engine tests' tiny gradebook (built in this process)."""
from ..engine.conftest import gradebook  # noqa: F401 - a fixture: pytest finds it here
