"""The grading service's side of nbgrader's exchange: find submissions, collect one, release a note.

* :func:`inbound_submissions` lists the complete submissions in ``<exchange>/<course>/inbound``.
  nbgrader's submit copies the files, then writes ``timestamp.txt`` and, last,
  ``submission_secret.txt``; a folder without both is still being written and is left for the next scan.
* :class:`OneSubmissionCollect` is nbgrader's collect narrowed to one inbound folder, so the service
  grades exactly the submission it dequeued (nbgrader's own collect takes each student's latest).
* :func:`release_note` releases an HTML page to one submission's student through nbgrader's
  release_feedback: the student sees it with Fetch Feedback, as graded feedback.  The service uses it
  for a submission that is waiting, was superseded, could not be graded, or gets visible-checks-only
  feedback.
"""
from __future__ import annotations

import dataclasses
import datetime
import html
import os
import pwd
import shutil

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import parse_utc, temp_attrs
from traitlets import Unicode

NOTES_DIR = os.path.join(".grading", "service", "notes")   # under the course root: the notes' feedback_directory


@dataclasses.dataclass(frozen=True)
class Inbound:
    """One submission folder in the exchange."""

    name: str            # <student>+<assignment>+<timestamp>[+<random>]
    path: str
    student: str
    assignment: str
    timestamp: str
    submitted_at: float  # the timestamp, in seconds since the epoch
    owner: str           # the account that owns the folder

    def notebooks(self) -> list[str]:
        """The notebook ids (file names without .ipynb) it holds."""
        return sorted(n[:-len(".ipynb")] for n in os.listdir(self.path) if n.endswith(".ipynb"))


def inbound_path(config) -> str:
    return os.path.join(config.Exchange.root, config.CourseDirectory.course_id, "inbound")


def _owner(path: str) -> str:
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def read_inbound(directory: str, name: str) -> Inbound | None:
    """The submission in ``directory/name``; None while nbgrader is still writing it, or if the name is not
    nbgrader's ``student+assignment+timestamp[+random]``."""
    path = os.path.join(directory, name)
    parts = name.rsplit("+", 3)
    if len(parts) == 4:
        student, assignment, timestamp, _ = parts
    else:
        parts = name.rsplit("+", 2)
        if len(parts) != 3:
            return None
        student, assignment, timestamp = parts
    try:
        with open(os.path.join(path, "submission_secret.txt"), encoding="utf-8") as fh:
            if not fh.read().strip():
                return None
        with open(os.path.join(path, "timestamp.txt"), encoding="utf-8") as fh:
            written = fh.read().strip()
        when = parse_utc(written or timestamp)
        owner = _owner(path)
    except (OSError, ValueError, TypeError):
        return None
    # parse_utc gives a naive datetime in UTC; .timestamp() alone would read it as local time
    submitted_at = when.replace(tzinfo=datetime.timezone.utc).timestamp()
    return Inbound(name, path, student, assignment, written or timestamp, submitted_at, owner)


def inbound_submissions(directory: str, known: set[str], assignments: set[str]) -> list[Inbound]:
    """Complete submissions in ``directory`` not in ``known``, for one of ``assignments``, oldest first."""
    try:
        names = [e.name for e in os.scandir(directory) if e.is_dir(follow_symlinks=False) and e.name not in known]
    except FileNotFoundError:
        return []
    found = [read_inbound(directory, n) for n in names]
    return sorted((s for s in found if s is not None and s.assignment in assignments),
                  key=lambda s: (s.submitted_at, s.name))


class OneSubmissionCollect(ExchangeCollect):
    """nbgrader's collect of exactly one inbound folder into ``submitted/<student>/<assignment>/``.

    It replaces whatever that folder held (the service may restore an older submission, which
    nbgrader's collect, taking only newer ones, would not).
    """

    inbound_name = Unicode("", help="The inbound folder to collect").tag(config=True)

    def init_src(self):
        super().init_src()
        record = self._path_to_record(os.path.join(self.inbound_path, self.inbound_name))
        if not os.path.isdir(os.path.join(self.inbound_path, self.inbound_name)):
            self.fail(f"no submission {self.inbound_name!r} in {self.inbound_path}")
        self.src_records = [record]

    def copy_files(self):
        rec = self.src_records[0]
        dest = self.coursedir.format_path(self.coursedir.submitted_directory, rec["username"],
                                          self.coursedir.assignment_id)
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        super().copy_files()


def collect(api, submission: Inbound) -> dict:
    """Collect ``submission`` with :class:`OneSubmissionCollect`; nbgrader's result dict (success, log, error)."""
    from nbgrader.apps.api import capture_log
    with temp_attrs(api.coursedir, assignment_id=submission.assignment, student_id=submission.student):
        app = OneSubmissionCollect(coursedir=api.coursedir, authenticator=api.authenticator, parent=api)
        app.inbound_name = submission.name
        app.update = True
        return capture_log(app)


def note_page(title: str, paragraphs: list[str]) -> str:
    """A small self-contained HTML page (text is escaped)."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;line-height:1.4}</style></head>"
            f"<body><h2>{html.escape(title)}</h2>{body}</body></html>")


def release_note(api, root: str, submission: Inbound, page: str) -> dict:
    """Release ``page`` as the feedback of each notebook of ``submission``, to its student only.

    The page is written where nbgrader's release_feedback looks for generated feedback (with the
    submission's timestamp and secret, from which nbgrader derives the name the student's Fetch
    Feedback looks for), under a feedback directory of its own so it never mixes with
    ``feedback/``, and released with nbgrader's release_feedback.
    """
    folder = os.path.join(root, NOTES_DIR, submission.student, submission.assignment)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name in ("timestamp.txt", "submission_secret.txt"):
        shutil.copyfile(os.path.join(submission.path, name), os.path.join(folder, name))
    for notebook in submission.notebooks():
        with open(os.path.join(folder, f"{notebook}.html"), "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(os.path.join(folder, f"{notebook}.html"), 0o644)
    with temp_attrs(api.coursedir, feedback_directory=NOTES_DIR):
        return api.release_feedback(submission.assignment, submission.student)
