"""``GradingLockedExporter``: nbgrader's autograde runs only while no other process grades the course.

Plugged in as ``c.Autograde.exporter_class``. nbgrader's converter makes its exporter when it starts, before
it touches any submission; with ``--force`` (formgrader's autograde always forces) its next step removes the
student's ``autograded/`` folder. So the course's grading lock (:mod:`grader.engine.grading_lock`) is checked
here: while the grading service or a batch grades the course in another process, autograde stops before it
changes anything, with an error naming who grades. Inside the service or a batch, whose autograde runs in
their own process through nbgrader's API, the lock is theirs and autograde goes on.
"""
from __future__ import annotations

import os

from nbconvert.exporters import NotebookExporter

from .. import grading_lock


class GradingLockedExporter(NotebookExporter):
    """nbgrader's own exporter for autograded notebooks, made only while no other process grades the course."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        coursedir = getattr(self.parent, "coursedir", None)
        grading_lock.ensure_free(coursedir.root if coursedir is not None else os.getcwd(), "nbgrader autograde")
