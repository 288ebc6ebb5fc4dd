"""Students at nbgrader's exchange, in process: what the Assignments tab's Submit and Fetch Feedback do.

For the grading service's tests and its load bench.  :func:`exchange_course` makes a scratch course whose
assignments are released to its own exchange; :func:`submit` and :func:`fetch_feedback` run nbgrader's
``ExchangeSubmit`` and ``ExchangeFetchFeedback`` as a given student id, each student with a cache folder
of their own (nbgrader keeps a student's submission history there).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile

import nbformat
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import ExchangeFetchFeedback, ExchangeSubmit

from ..engine import course
from .samples import build_notebook, read_style
from .scratch import scratch_course


def exchange_course(dest: str, assignments: list[str], config: str = "") -> str:
    """A scratch course at ``dest`` with ``assignments`` released into its own exchange (``<dest>/.exchange``).

    The exchange's folders are made world-writable as nbgrader's documentation sets them up; the
    collect's owner check is off (every test student is the same Linux account)."""
    root = scratch_course(dest, assignments, copy_release=False, release=True,
                          config="c.ExchangeCollect.check_owner = False\n" + config)
    cfg = course.load_config(root)
    exchange = os.path.join(cfg.Exchange.root, cfg.CourseDirectory.course_id)
    for name in ("inbound", "outbound", "feedback"):
        os.makedirs(os.path.join(exchange, name), exist_ok=True)
    os.chmod(cfg.Exchange.root, 0o1777)
    os.chmod(os.path.join(exchange, "inbound"), 0o1777)
    api = course.make_api(root, cfg)
    for assignment in assignments:
        with course.chdir(root):
            result = api.release_assignment(assignment)
        if not result.get("success"):
            raise course.CommandFailed(f"release_assignment {assignment}: {result.get('error') or result.get('log')}")
    return root


def _exchange(cls, root: str, assignment: str, student: str, cache: str, **traits):
    cfg = course.load_config(root)
    cfg.Exchange.cache = cache
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    app = cls(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg)
    for name, value in traits.items():
        setattr(app, name, value)
    return app


def student_cache(root: str, student: str) -> str:
    """The student's nbgrader cache folder (their submission history), inside the scratch course."""
    path = os.path.join(root, ".students", student, "cache")
    os.makedirs(path, exist_ok=True)
    return path


def submit(root: str, assignment: str, student: str, nb) -> str:
    """Submit ``nb`` (with the release's other files) as ``student``; returns the inbound folder's name."""
    os.makedirs(os.path.join(root, ".students"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="submit-", dir=os.path.join(root, ".students"))
    try:
        folder = os.path.join(work, assignment)
        shutil.copytree(os.path.join(root, "release", assignment), folder,
                        ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
        nbformat.write(nb, os.path.join(folder, f"{assignment}.ipynb"))
        app = _exchange(ExchangeSubmit, root, assignment, student, student_cache(root, student),
                        assignment_dir=work)
        app.start()
        inbound = os.path.join(app.root, app.coursedir.course_id, "inbound")
        return os.path.basename(os.path.join(inbound, app.assignment_filename))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch_feedback(root: str, assignment: str, student: str) -> dict[str, str]:
    """Fetch Feedback as ``student``: {submission timestamp: the feedback page's HTML} for every submission
    that has feedback."""
    dest = os.path.join(root, ".students", student, "home")
    app = _exchange(ExchangeFetchFeedback, root, assignment, student, student_cache(root, student),
                    assignment_dir=dest)
    app.start()
    found = {}
    feedback = os.path.join(dest, assignment, "feedback")
    for timestamp in sorted(os.listdir(feedback)) if os.path.isdir(feedback) else []:
        with open(os.path.join(feedback, timestamp, f"{assignment}.html"), encoding="utf-8") as fh:
            found[timestamp] = fh.read()
    return found


def style_notebook(root: str, assignment: str, styles_dir: str, style: str, source_nb=None):
    """The released notebook with a correct solution style's cells filled in."""
    release_nb = nbformat.read(os.path.join(root, "release", assignment, f"{assignment}.ipynb"), as_version=4)
    return build_notebook(release_nb, read_style(styles_dir, style, source_nb))


def page_score(page: str) -> tuple[float, float] | None:
    """The (score, max score) nbgrader's feedback page states at its top; None on a page without one."""
    match = re.search(r"\(Score: ([0-9.]+) / ([0-9.]+)\)", page)
    return (float(match.group(1)), float(match.group(2))) if match else None
