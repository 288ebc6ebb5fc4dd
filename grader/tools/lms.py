"""LMS in and out: submissions from an LMS download, grades as an LMS gradebook CSV.

In: an LMS download is a zip of files named ``<student>_<lms id>_<upload id>_<original name>``
(the Canvas layout, which also puts ``LATE_`` before the LMS id of a late upload), e.g.
``alice_12345_67890_09_spatial.ipynb`` or ``o'brien-smith_222_3001_09_spatial (1).ipynb``.
nbgrader's ``zip_collect`` extracts it and asks a collector plugin, file by file, where each file
goes; :class:`LatestUploadCollector` (configured in ``nbgrader_config.py``) answers so that each
student's notebook with the largest upload id lands as
``submitted/<student>/<assignment>/<assignment>.ipynb``, whatever its original name: the course
grades the one notebook ``<assignment>.ipynb`` (preflight grades a lone notebook of another name in
its place), and a name given by the upload ("09_spatial (1).ipynb", "09_Spatial.ipynb") says
nothing about the work.  Every other file is skipped with its reason in nbgrader's log and in
:attr:`LatestUploadCollector.skipped`: an older upload, a file that is not a notebook, a name the
pattern does not match, a student id nbgrader cannot store.  :func:`collect_zip` runs the whole
step for ``python -m grader collect-zip``.

Out: :func:`export_lms` writes one row per student and one column per assignment (points).
"""
from __future__ import annotations

import csv
import dataclasses
import os
import re
import shutil
import unicodedata

from nbgrader.api import Gradebook
from nbgrader.apps import ZipCollectApp
from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from nbgrader.utils import capture_log, temp_attrs, unzip

from ..engine import course
from ..engine.preflight import printable, student_id_problem
from .demo import points

# ------------------------------------------------------------------ in: LMS download -> submitted/

@dataclasses.dataclass(frozen=True)
class Upload:
    """One notebook of an LMS download, read from its file name."""

    path: str        # the file under zip_collect's extracted folder
    student: str     # the nbgrader student id (the name's first part, NFC-normalised)
    upload_id: int
    name: str        # the name the student uploaded
    late: bool       # the LMS marked it late (``LATE_`` in the name)


def read_name(path: str, pattern: re.Pattern) -> Upload | None:
    """The upload a file name describes, or None when ``pattern`` does not match the whole name.

    The file's base name is matched in Unicode NFC, so a name written by an NFD file system
    (macOS) gives the same student id as its NFC spelling.
    """
    match = pattern.fullmatch(unicodedata.normalize("NFC", os.path.basename(path)))
    if not match:
        return None
    groups = match.groupdict()
    return Upload(path, groups["student_id"], int(groups["upload_id"]), groups.get("file_id") or "",
                  bool(groups.get("late")))


def unpacked_folder(archive: str) -> str:
    """The folder nbgrader's ``unzip(create_own_folder=True)`` unpacks ``archive`` into."""
    folder = os.path.splitext(archive)[0]
    stem, ext = os.path.splitext(folder)
    return stem if ext == ".tar" else folder


def plan_uploads(paths: list[str], pattern: re.Pattern, valid_ext: tuple[str, ...] = (".ipynb",),
                 zip_ext: tuple[str, ...] = (".zip", ".gz")) -> tuple[dict[str, Upload], dict[str, str]]:
    """Which file each student hands in, and why every other file is not collected.

    Returns (student -> the upload with the largest upload id, path -> reason it is skipped);
    every path is in exactly one of the two.  Only files with an extension in ``valid_ext`` are
    uploads; an upload id seen twice for a student (the same upload in two downloads) is collected once.
    A file unpacked from an archive among ``paths`` (an extension in ``zip_ext``: a student's upload
    that nbgrader's extractor unpacks too) is no upload: its name is whatever that student chose.
    """
    skipped: dict[str, str] = {}
    by_student: dict[str, list[Upload]] = {}
    archives = {unpacked_folder(path): path for path in paths if os.path.splitext(path)[1] in zip_ext}
    for path in sorted(paths):
        ext = os.path.splitext(path)[1]
        folder = os.path.dirname(path)
        while archives and folder not in archives and os.path.dirname(folder) != folder:
            folder = os.path.dirname(folder)
        if folder in archives:
            skipped[path] = (f"unpacked from the uploaded archive {printable(os.path.basename(archives[folder]))!r}, "
                             "not a file of the download")
            continue
        if ext not in valid_ext:
            skipped[path] = f"not a notebook (only {', '.join(valid_ext)} files are collected)"
            continue
        upload = read_name(path, pattern)
        if upload is None:
            skipped[path] = "the name does not match the LMS file name pattern (LatestUploadCollector.named_regexp)"
            continue
        problem = student_id_problem(upload.student)
        if problem:
            skipped[path] = f"the student id {printable(upload.student)!r} {problem}"
            continue
        by_student.setdefault(upload.student, []).append(upload)
    latest = {}
    for student, uploads in by_student.items():
        uploads.sort(key=lambda u: (u.upload_id, u.path))
        latest[student] = winner = uploads[-1]
        for older in uploads[:-1]:
            skipped[older.path] = (f"a second copy of upload {winner.upload_id}" if older.upload_id == winner.upload_id
                                   else f"superseded by {student}'s later upload {winner.upload_id} "
                                        f"({printable(winner.name)!r})")
    return dict(sorted(latest.items())), skipped


class DownloadExtractor(ExtractorPlugin):
    """zip_collect's extractor for LMS downloads: each download unpacked, the uploads in it left packed.

    nbgrader's own extractor also unpacks every archive inside a download (``tree=True``), that is a
    student's upload that happens to be a zip: one corrupt or huge upload then stops or stalls the
    collect of every student.  This one unpacks the archives of ``archive/`` alone (into
    ``extracted/<download>/``, as nbgrader's does) and copies every other file there.
    """

    def extract(self, archive_path: str, extracted_path: str) -> None:
        for folder, _, names in os.walk(archive_path):
            extract_to = os.path.normpath(os.path.join(extracted_path, os.path.relpath(folder, archive_path)))
            os.makedirs(extract_to, exist_ok=True)
            for name in names:
                path = os.path.join(folder, name)
                if os.path.splitext(name)[1] in self.zip_ext:
                    unzip(path, extract_to, zip_ext=self.zip_ext, create_own_folder=True, tree=False)
                else:
                    shutil.copy(path, os.path.join(extract_to, name))


class LatestUploadCollector(FileNameCollectorPlugin):
    """zip_collect's collector for LMS downloads: each student's latest notebook, as the assignment's notebook.

    ``named_regexp`` (required, set in ``nbgrader_config.py``) is matched against a file's whole base
    name (nbgrader's own collector matches the start of the full path) and must have the groups
    ``student_id``, ``upload_id`` (digits; the largest wins) and ``file_id`` (the uploaded name,
    shown in reports); an optional ``late`` group marks a late upload.  On its first file the
    collector reads every file zip_collect extracted and decides for all of them
    (:func:`plan_uploads`), because zip_collect itself keeps a later duplicate only by timestamp,
    and an LMS download has none.  Without ``--force`` it refuses, before anything is copied,
    when a student it would collect already has files in ``submitted/<student>/<assignment>/``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.collected: dict[str, Upload] = {}   # student -> the upload collected
        self.skipped: dict[str, str] = {}         # file -> why it is not collected
        self._by_path: dict[str, Upload] | None = None

    def collect(self, submitted_file: str) -> dict | None:
        if self._by_path is None:
            self._plan()
        upload = self._by_path.get(submitted_file)
        if upload is None:  # the reason is logged and in self.skipped
            return None
        notebook = f"{self.parent.coursedir.assignment_id}.ipynb"
        if upload.name != notebook:
            self.log.info("Collecting %r of %s as %s", upload.name, upload.student, notebook)
        return {"student_id": upload.student, "file_id": notebook}

    def _plan(self) -> None:
        """Decide for every extracted file (logging each skipped one with its reason); refuse to overwrite."""
        app = self.parent
        try:
            pattern = re.compile(self.named_regexp)
        except re.error as exc:
            app.fail(f"LatestUploadCollector.named_regexp is not a regular expression: {exc}")
        missing = {"student_id", "upload_id", "file_id"} - set(pattern.groupindex)
        if missing:
            app.fail(f"LatestUploadCollector.named_regexp {self.named_regexp!r} lacks the groups "
                     f"{', '.join(sorted(missing))} (set it in nbgrader_config.py)")
        extracted = app._format_collect_path(app.extracted_directory)
        paths = [os.path.join(folder, name) for folder, _, names in os.walk(extracted) for name in names]
        self.collected, self.skipped = plan_uploads(paths, pattern, tuple(self.valid_ext),
                                                    tuple(app.extractor_plugin_inst.zip_ext))
        self._by_path = {upload.path: upload for upload in self.collected.values()}
        for path, reason in self.skipped.items():
            self.log.warning("Skipping %s: %s", printable(os.path.relpath(path, extracted), 200), reason)
        if not app.force:
            coursedir = app.coursedir
            folders = {student: coursedir.format_path(coursedir.submitted_directory, student, coursedir.assignment_id)
                       for student in self.collected}
            occupied = [student for student, folder in folders.items() if os.path.isdir(folder) and os.listdir(folder)]
            if occupied:
                app.fail(f"submitted/ already holds {coursedir.assignment_id} of {', '.join(occupied)}: "
                         "collect with --force to replace them (nothing was copied)")


class CollectFailed(RuntimeError):
    """zip_collect stopped; the message carries nbgrader's log."""


@dataclasses.dataclass
class Collection:
    """What a collect did: the upload each student's submission came from, and every file left out."""

    assignment: str
    root: str                      # the course
    extracted: str                 # zip_collect's extracted folder (``skipped`` names files in it)
    collected: dict[str, Upload]   # student -> upload, now ``submitted/<student>/<assignment>/<assignment>.ipynb``
    skipped: dict[str, str]        # file under ``extracted`` -> why it was not collected

    def lines(self) -> list[str]:
        """The report ``python -m grader collect-zip`` prints."""
        notebook = f"{self.assignment}.ipynb"
        out = [f"collected {len(self.collected)} submissions of {self.assignment} "
               f"(submitted/<student>/{self.assignment}/{notebook}):"]
        width = max((len(s) for s in self.collected), default=0)
        for student, upload in self.collected.items():
            note = " (uploaded late)" if upload.late else ""
            out.append(f"  {student:<{width}}  upload {upload.upload_id}  {printable(upload.name)!r}{note}")
        out.append(f"skipped {len(self.skipped)} files (under {os.path.relpath(self.extracted, self.root)}/):")
        for path, reason in sorted(self.skipped.items()):
            out.append(f"  {printable(os.path.relpath(path, self.extracted), 120)}: {reason}")
        return out


def collect_zip(zip_path: str, assignment: str, root: str = course.ROOT, force: bool = False) -> Collection:
    """Copy an LMS download into ``downloaded/<assignment>/archive/`` and run nbgrader's zip_collect on it.

    zip_collect runs in this process with the course's configuration (its collector is
    :class:`LatestUploadCollector`; its extractor, unless the course sets one, is
    :class:`DownloadExtractor`).  Anything already in the archive folder (an earlier download)
    is collected too, and the latest upload wins across them.  ``force`` is zip_collect's
    ``--force``: the extracted folder is rebuilt and each collected student's submission replaced;
    without it nbgrader refuses to overwrite either.
    """
    zip_path = os.path.abspath(zip_path)
    config = course.load_config(root)
    config.ZipCollectApp.force = config.ExtractorPlugin.force = force
    if "extractor_plugin" not in config.ZipCollectApp:   # nbgrader's default would unpack the uploads too
        config.ZipCollectApp.extractor_plugin = DownloadExtractor
    api = course.make_api(root, config)
    with course.chdir(root), temp_attrs(api.coursedir, assignment_id=assignment):
        # nbgrader's log (every file, every copy) stays quiet: the Collection says what happened
        app = ZipCollectApp(coursedir=api.coursedir, parent=api, log_level="ERROR")
        if not issubclass(app.collector_plugin, LatestUploadCollector):
            raise CollectFailed(f"the course's ZipCollectApp.collector_plugin is {app.collector_plugin.__name__}, "
                                "not grader.tools.lms.LatestUploadCollector (see nbgrader_config.py)")
        archive = app._format_collect_path(app.archive_directory)
        os.makedirs(archive, exist_ok=True)
        target = os.path.join(archive, os.path.basename(zip_path))
        if not (os.path.exists(target) and os.path.samefile(zip_path, target)):
            shutil.copyfile(zip_path, target)
        result = capture_log(app)
        extracted = app._format_collect_path(app.extracted_directory)
    if not result.get("success"):
        raise CollectFailed(f"zip_collect failed:\n{(result.get('log') or result.get('error') or '').strip()}")
    collector = app.collector_plugin_inst
    return Collection(assignment, root, extracted, collector.collected, collector.skipped)


# ------------------------------------------------------------------ out: gradebook -> LMS CSV

def lms_rows(gb: Gradebook) -> list[list[str]]:
    """The LMS gradebook table: a header, then one row per student (by student id).

    Columns: ``Student ID``, ``Last Name``, ``First Name``, ``Email`` (empty where the gradebook has
    no value), then one per assignment in nbgrader's order (due date, then name), headed
    ``<assignment> (max <points>)`` (the "points possible" an LMS asks for when it creates the
    column), holding the student's points as nbgrader's own export counts them (the score less any
    late penalty, at least 0), to two decimals.  A student with no submission in the gradebook
    (nothing handed in, or a submission that could not be graded) gets an empty cell, not 0: an
    LMS import leaves an empty cell ungraded, so a missing grade never becomes a zero unnoticed.
    """
    assignments = gb.assignments
    header = ["Student ID", "Last Name", "First Name", "Email"]
    header += [f"{a.name} (max {points(a.max_score)})" for a in assignments]
    submitted = [{s.student_id: s for s in gb.assignment_submissions(a.name)} for a in assignments]
    rows = [header]
    for student in sorted(gb.students, key=lambda s: s.id):
        row = [student.id, student.last_name or "", student.first_name or "", student.email or ""]
        for by_student in submitted:
            submission = by_student.get(student.id)
            row.append("" if submission is None else
                       points(max(0.0, submission.score - (submission.late_submission_penalty or 0.0))))
        rows.append(row)
    return rows


def export_lms(path: str, root: str = course.ROOT) -> str:
    """Write :func:`lms_rows` of the course's gradebook to ``path`` (UTF-8 CSV); returns the path."""
    config = course.load_config(root)
    with Gradebook(config.CourseDirectory.db_url) as gb:
        rows = lms_rows(gb)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path
