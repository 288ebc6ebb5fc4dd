"""``GradingLockedExporter``: nbgrader's autograde runs only while no other process grades the course.

Plugged in as ``c.Autograde.exporter_class``. nbgrader's converter makes its exporter when it starts, before
it touches any submission; with ``--force`` (formgrader's autograde always forces) its next step removes the
student's ``autograded/`` folder. So the course's grading lock (:mod:`grader.engine.grading_lock`) is taken
here and held until the converter has converted every submission: while the grading service or a batch
grades the course in another process, autograde stops before it changes anything, with an error naming who
grades, and neither can start while autograde runs. Inside the service or a batch, whose autograde runs in
their own process through nbgrader's API, the lock is already theirs and the hold nests.
"""
from __future__ import annotations

import contextlib
import os
import weakref

from nbconvert.exporters import NotebookExporter
from nbgrader.converters.base import NbGraderException

from .. import grading_lock


class GradingLockedExporter(NotebookExporter):
    """nbgrader's own exporter for autograded notebooks, made only while no other process grades the course;
    the course's grading lock is held until its converter's ``convert_notebooks`` returns."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        converter = self.parent
        coursedir = getattr(converter, "coursedir", None)
        held = contextlib.ExitStack()
        try:   # formgrader waits on this in its request: refuse at once (no grace)
            held.enter_context(grading_lock.hold(coursedir.root if coursedir is not None else os.getcwd(),
                                                 "nbgrader autograde", grace=0))
        except grading_lock.CourseBusy as exc:
            self.log.error("%s", exc)
            raise NbGraderException(str(exc)) from None
        # released when the converter has converted every submission, or else when this exporter is collected
        self._release = weakref.finalize(self, held.close)
        if converter is not None and hasattr(converter, "convert_notebooks"):
            convert = converter.convert_notebooks

            def convert_notebooks():
                try:
                    convert()
                finally:
                    self._release()
            converter.convert_notebooks = convert_notebooks
