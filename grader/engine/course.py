"""A course directory driven through nbgrader's own API: release, feedback, export, gradebook reads.

Every function takes the course root and, where it concerns one assignment, its
name (``grader.engine.assignment`` discovers the course's assignments).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.plugins import CsvExportPlugin
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .assignment import link_shipped
from .assignment import load as load_assignment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# nbgrader runs the `alembic` command of its environment when it creates a gradebook.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


class CommandFailed(RuntimeError):
    """An nbgrader step failed; the message carries nbgrader's log."""


def load_config(root: str = ROOT, **overrides) -> Config:
    config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    config.CourseDirectory.root = root
    for dotted, value in overrides.items():
        section, key = dotted.split(".", 1)
        config[section][key] = value
    return config


def make_api(root: str = ROOT, config: Config | None = None) -> NbGraderAPI:
    config = config if config is not None else load_config(root)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def _checked(result: dict, what: str) -> dict:
    if not result.get("success"):
        raise CommandFailed(f"{what} failed:\n{result.get('error') or ''}\n{result.get('log') or ''}")
    return result


@contextlib.contextmanager
def chdir(path: str):
    """Run in ``path``: nbgrader resolves the course's relative paths from the working directory."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def release(assignment: str, root: str = ROOT) -> str:
    """nbgrader generate_assignment: source/ -> release/ (and the assignment's cells into the gradebook).

    The packages the assignment ships are linked into its source folder first
    (:func:`grader.engine.assignment.link_shipped`), so the release carries their current code.
    """
    link_shipped(load_assignment(root, assignment))
    with chdir(root):
        _checked(make_api(root).generate_assignment(assignment, force=True, create=True), "generate_assignment")
    return os.path.join(root, "release", assignment)


def ensure_gradebook(assignment: str, root: str = ROOT) -> None:
    """Make sure the gradebook knows the assignment's cells, without touching release/."""
    config = load_config(root)
    with Gradebook(config.CourseDirectory.db_url) as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    scratch = tempfile.mkdtemp(prefix="release-")
    try:
        config.CourseDirectory.release_directory = scratch
        with chdir(root):
            _checked(make_api(root, config).generate_assignment(assignment, force=True, create=True),
                     "generate_assignment (gradebook)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def submitted_students(assignment: str, root: str = ROOT) -> list[str]:
    """Every folder name under submitted/ with an entry for the assignment (whatever it is: preflight judges)."""
    base = os.path.join(root, "submitted")
    if not os.path.isdir(base):
        return []
    return sorted((s for s in os.listdir(base) if os.path.lexists(os.path.join(base, s, assignment))),
                  key=os.fsencode)


class FeedbackFailed(CommandFailed):
    """Feedback could not be generated for some students (named); every other student has theirs."""

    def __init__(self, failed: dict[str, str]):
        self.failed = failed
        super().__init__("generate_feedback failed for " + "; ".join(f"{s}: {why}" for s, why in failed.items()))


def feedback(assignment: str, root: str = ROOT) -> str:
    """HTML feedback for every autograded submission.

    nbgrader goes on past a notebook it cannot convert and fails at the end; the students
    it failed for are then found one by one and named in :class:`FeedbackFailed`.
    """
    api = make_api(root)
    with chdir(root):
        result = api.generate_feedback(assignment)
        if not result.get("success"):
            failed = {}
            autograded = os.path.join(root, "autograded")
            for student in sorted(os.listdir(autograded)) if os.path.isdir(autograded) else []:
                if os.path.isdir(os.path.join(autograded, student, assignment)):
                    one = api.generate_feedback(assignment, student)
                    if not one.get("success"):
                        lines = (one.get("error") or one.get("log") or "no log").strip().splitlines()
                        failed[student] = lines[-1][:200] if lines else "no log"
            if failed:
                raise FeedbackFailed(failed)
            _checked(result, "generate_feedback")
    return os.path.join(root, "feedback")


def export(root: str = ROOT, path: str | None = None) -> str:
    config = load_config(root)
    path = path or os.path.join(root, "grades.csv")
    plugin = CsvExportPlugin(config=config)
    plugin.to = path
    with Gradebook(config.CourseDirectory.db_url) as gb:
        plugin.export(gb)
    return path


def cell_scores(assignment: str, root: str = ROOT) -> dict[str, dict[str, float]]:
    """student -> {grade cell -> auto score} for every autograded submission."""
    config = load_config(root)
    table: dict[str, dict[str, float]] = {}
    with Gradebook(config.CourseDirectory.db_url) as gb:
        for submission in gb.assignment_submissions(assignment):
            for nb in submission.notebooks:
                row = table.setdefault(submission.student.id, {})
                for grade in nb.grades:
                    if grade.cell.cell_type == "code" or grade.auto_score is not None:
                        row[grade.name] = grade.auto_score
    return table


def max_scores(assignment: str, root: str = ROOT) -> dict[str, float]:
    config = load_config(root)
    with Gradebook(config.CourseDirectory.db_url) as gb:
        nb = gb.find_notebook(assignment, assignment)
        return {cell.name: cell.max_score for cell in nb.grade_cells}


def is_autograded(grade_id: str) -> bool:
    """The test cells (``test_*``) are autograded; the other graded cells (written answers) are graded by hand."""
    return grade_id.startswith("test_")


def autograded_only(maxima: dict[str, float]) -> dict[str, float]:
    """The autograded cells of ``maxima`` (grade id -> points, as :func:`max_scores` gives)."""
    return {cell: points for cell, points in maxima.items() if is_autograded(cell)}


def autograded_maxima(assignment: str, root: str = ROOT) -> dict[str, float]:
    """grade id -> points of every autograded cell."""
    return autograded_only(max_scores(assignment, root))


def autograded_points(row: dict[str, float | None], maxima: dict[str, float]) -> tuple[float, tuple[str, ...]]:
    """A student's autograded total and the cells that lost points.

    ``row`` is the student's entry of :func:`cell_scores` (empty when nothing was recorded);
    ``maxima`` is :func:`autograded_maxima`.
    """
    got = {cell: row.get(cell) or 0 for cell in maxima}
    return sum(got.values()), tuple(cell for cell, points in maxima.items() if got[cell] < points)
