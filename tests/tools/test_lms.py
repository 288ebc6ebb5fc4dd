"""LMS in and out (grader.tools.lms): an LMS download collected with nbgrader's zip_collect, in this
process, into a scratch course; the gradebook exported as an LMS gradebook CSV.  No kernels, no sandbox."""
from __future__ import annotations

import os
import re
import shutil
import unicodedata
import zipfile

import pytest

from grader.engine import course
from grader.harness.scratch import scratch_course
from grader.tools import cli
from grader.tools.lms import plan_uploads, read_name

from ..conftest import REPO

# nbgrader's own add_submission triggers SQLAlchemy autoflush warnings; they are not about the code under test
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

A = "09_spatial"
NB = f"{A}.ipynb"
ZOE = unicodedata.normalize("NFD", "zoë n")   # as a macOS zip writes it

# The course's own file name pattern, read from nbgrader_config.py.
PATTERN = re.compile(course.load_config(REPO).LatestUploadCollector.named_regexp)

# An LMS download: several uploads for some students, odd names, and files that are no submission.
DOWNLOAD = {
    "alice_12345_9999_09_spatial.ipynb": b'{"alice": "upload 9999"}',
    "alice_12345_10000_09_spatial (1).ipynb": b'{"alice": "upload 10000, the latest"}',  # 10000 > 9999 as numbers
    "alice_12345_700_09_spatial.ipynb": b'{"alice": "upload 700"}',
    "o'brien-smith_222_3002_09_Spatial.ipynb": b'{"obrien": "upload 3002, the latest"}',
    "o'brien-smith_222_3001_09_spatial (1).ipynb": b'{"obrien": "upload 3001"}',
    f"{ZOE}_333_4001_my notebook (final).ipynb": b'{"zoe": "upload 4001"}',
    "alice_loops_555_6001_09_spatial.ipynb": b'{"alice_loops": "upload 6001"}',
    "bob_LATE_444_5001_09_spatial.ipynb": b'{"bob": "upload 5001, late"}',
    "alice_12345_10001_notes.txt": b"a later upload that is not a notebook\n",
    "09_spatial.ipynb": b'{"whose": "nobody knows"}',
    ".._666_7001_09_spatial.ipynb": b'{"escape": "submitted/.."}',
}

EXPECTED_FILES = {
    f"alice/{A}/{NB}": b'{"alice": "upload 10000, the latest"}',
    f"alice_loops/{A}/{NB}": b'{"alice_loops": "upload 6001"}',
    f"bob/{A}/{NB}": b'{"bob": "upload 5001, late"}',
    f"o'brien-smith/{A}/{NB}": b'{"obrien": "upload 3002, the latest"}',
    f"zoë n/{A}/{NB}": b'{"zoe": "upload 4001"}',
}

NO_MATCH = "the name does not match the LMS file name pattern (LatestUploadCollector.named_regexp)"
EXPECTED_REPORT = f"""\
collected 5 submissions of {A} (submitted/<student>/{A}/{NB}):
  alice          upload 10000  '09_spatial (1).ipynb'
  alice_loops    upload 6001  '09_spatial.ipynb'
  bob            upload 5001  '09_spatial.ipynb' (uploaded late)
  o'brien-smith  upload 3002  '09_Spatial.ipynb'
  zoë n          upload 4001  'my notebook (final).ipynb'
skipped 6 files (under downloaded/{A}/extracted/):
  lms/.._666_7001_09_spatial.ipynb: the student id '..' is empty or starts with a dot
  lms/09_spatial.ipynb: {NO_MATCH}
  lms/alice_12345_10001_notes.txt: not a notebook (only .ipynb files are collected)
  lms/alice_12345_700_09_spatial.ipynb: superseded by alice's later upload 10000 ('09_spatial (1).ipynb')
  lms/alice_12345_9999_09_spatial.ipynb: superseded by alice's later upload 10000 ('09_spatial (1).ipynb')
  lms/o'brien-smith_222_3001_09_spatial (1).ipynb: superseded by o'brien-smith's later upload 3002 \
('09_Spatial.ipynb')
"""


def write_zip(path, files: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return str(path)


def landed(root: str) -> dict[str, bytes]:
    """submitted/ as relative path (NFC) -> bytes."""
    base = os.path.join(root, "submitted")
    found = {}
    for folder, _, names in os.walk(base):
        for name in names:
            with open(os.path.join(folder, name), "rb") as fh:
                found[unicodedata.normalize("NFC", os.path.relpath(os.path.join(folder, name), base))] = fh.read()
    return found


@pytest.fixture()
def lms_course(tmp_path, monkeypatch):
    """A scratch course with 09_spatial and nothing submitted; ``python -m grader`` acts on it."""
    root = scratch_course(str(tmp_path / "course"), [A])
    monkeypatch.setattr(course, "ROOT", root)
    return root


@pytest.mark.parametrize("name, student, upload_id, original, late", [
    ("alice_12345_67890_09_spatial.ipynb", "alice", 67890, "09_spatial.ipynb", False),
    ("o'brien-smith_222_3001_09_spatial (1).ipynb", "o'brien-smith", 3001, "09_spatial (1).ipynb", False),
    ("alice_loops_1_2_3_09_spatial.ipynb", "alice_loops", 2, "3_09_spatial.ipynb", False),
    ("Jean Luc_7_8_Spatial Ops.ipynb", "Jean Luc", 8, "Spatial Ops.ipynb", False),
    ("bob_LATE_444_5001_09_spatial.ipynb", "bob", 5001, "09_spatial.ipynb", True),
    (f"{ZOE}_333_4001_x.ipynb", "zoë n", 4001, "x.ipynb", False),
])
def test_a_file_name_gives_student_upload_and_original_name(name, student, upload_id, original, late):
    upload = read_name(f"/x/extracted/lms/{name}", PATTERN)
    assert (upload.student, upload.upload_id, upload.name, upload.late) == (student, upload_id, original, late)


@pytest.mark.parametrize("name", ["09_spatial.ipynb", "alice_12345.ipynb", "alice_x_1_a.ipynb",
                                  "_1_2_a.ipynb", "alice_1_2_a.ipynb\n"])
def test_a_name_without_student_ids_and_upload_matches_nothing(name):
    assert read_name(name, PATTERN) is None


def test_the_plan_puts_every_file_in_exactly_one_place():
    paths = [f"/d/{name}" for name in DOWNLOAD]
    collected, skipped = plan_uploads(paths, PATTERN)
    assert {s: u.upload_id for s, u in collected.items()} == {
        "alice": 10000, "alice_loops": 6001, "bob": 5001, "o'brien-smith": 3002, "zoë n": 4001}
    chosen = {u.path for u in collected.values()}
    assert chosen.isdisjoint(skipped) and chosen | set(skipped) == set(paths)


def test_the_same_upload_in_two_downloads_is_collected_once():
    collected, skipped = plan_uploads(["/d/a/bob_1_5_nb.ipynb", "/d/b/bob_1_5_nb.ipynb"], PATTERN)
    assert collected["bob"].path == "/d/b/bob_1_5_nb.ipynb"
    assert skipped == {"/d/a/bob_1_5_nb.ipynb": "a second copy of upload 5"}


def test_collect_zip_lands_each_students_latest_upload_as_the_assignment_notebook(lms_course, tmp_path, capsys):
    download = write_zip(tmp_path / "lms.zip", DOWNLOAD)
    assert cli.main(["collect-zip", download, "-a", A]) == 0
    assert capsys.readouterr().out == EXPECTED_REPORT
    assert landed(lms_course) == EXPECTED_FILES
    with open(os.path.join(lms_course, "downloaded", A, "archive", "lms.zip"), "rb") as fh, \
            open(download, "rb") as original:
        assert fh.read() == original.read()
    assert not os.path.exists(os.path.join(lms_course, "submitted", "..", A))


def test_a_second_download_replaces_submissions_only_with_force(lms_course, tmp_path, capsys):
    first = write_zip(tmp_path / "lms.zip", DOWNLOAD)
    assert cli.main(["collect-zip", first, "-a", A]) == 0
    capsys.readouterr()
    again = dict(DOWNLOAD, **{"alice_12345_10002_09_spatial (2).ipynb": b'{"alice": "upload 10002"}'})
    second = write_zip(tmp_path / "lms-later.zip", again)

    assert cli.main(["collect-zip", second, "-a", A]) == 1
    err = capsys.readouterr().err
    assert "Directory not empty" in err and "--force" in err
    assert landed(lms_course) == EXPECTED_FILES

    # Even with the extracted folder gone, nothing is copied over earlier submissions without --force.
    shutil.rmtree(os.path.join(lms_course, "downloaded", A, "extracted"))
    assert cli.main(["collect-zip", second, "-a", A]) == 1
    assert ("submitted/ already holds 09_spatial of alice, alice_loops, bob, o'brien-smith, zoë n: "
            "collect with --force to replace them (nothing was copied)") in capsys.readouterr().err
    assert landed(lms_course) == EXPECTED_FILES

    assert cli.main(["collect-zip", second, "-a", A, "--force"]) == 0
    out = capsys.readouterr().out
    assert "  alice          upload 10002  '09_spatial (2).ipynb'\n" in out
    # both downloads stay in the archive folder: every upload of both is read, each copy once
    assert "lms-later/alice_12345_10000_09_spatial (1).ipynb: superseded by alice's later upload 10002" in out
    assert "lms-later/bob_LATE_444_5001_09_spatial.ipynb: a second copy of upload 5001\n" in out
    assert landed(lms_course) == dict(EXPECTED_FILES, **{f"alice/{A}/{NB}": b'{"alice": "upload 10002"}'})


def test_nbgrader_zip_collect_uses_the_course_collector(lms_course, tmp_path):
    """What `nbgrader zip_collect 09_spatial` does in the course folder: nbgrader_config.py alone configures it."""
    from nbgrader.apps import ZipCollectApp
    os.makedirs(os.path.join(lms_course, "downloaded", A, "archive"))
    write_zip(os.path.join(lms_course, "downloaded", A, "archive", "lms.zip"), DOWNLOAD)
    with course.chdir(lms_course):
        app = ZipCollectApp()
        app.initialize([A])
        app.start()
    assert landed(lms_course) == EXPECTED_FILES
    assert app.collector_plugin_inst.skipped[
        os.path.join(lms_course, "downloaded", A, "extracted", "lms", "09_spatial.ipynb")] == NO_MATCH


def test_an_unknown_assignment_or_missing_zip_is_an_error(lms_course, tmp_path, capsys):
    assert cli.main(["collect-zip", str(tmp_path / "nothing.zip"), "-a", "99_nothing"]) == 2
    assert "no assignment named '99_nothing'" in capsys.readouterr().err
    assert cli.main(["collect-zip", str(tmp_path / "nothing.zip"), "-a", A]) == 2
    assert f"no file {tmp_path / 'nothing.zip'}" in capsys.readouterr().err


# ------------------------------------------------------------------ the LMS gradebook CSV

def test_export_lms_writes_one_row_per_student_and_points_per_assignment(gradebook, tmp_path, monkeypatch, capsys):
    gb = gradebook
    gb.add_assignment("04_losses")
    gb.add_notebook("04_losses", "04_losses")
    gb.add_grade_cell("test_softmax", "04_losses", "04_losses", max_score=2, cell_type="code")
    gb.add_grade_cell("test_mse", "04_losses", "04_losses", max_score=3, cell_type="code")
    gb.add_assignment(A)
    gb.add_notebook(A, A)
    gb.add_grade_cell("test_conv", A, A, max_score=40, cell_type="code")
    gb.update_or_create_student("alice", first_name="Alice", last_name="Adams", email="alice@example.org")
    gb.update_or_create_student("o'brien-smith", first_name="Seán", last_name="O'Brien-Smith, Jr.")
    gb.update_or_create_student("carol")   # nothing submitted
    gb.add_submission("04_losses", "alice")
    gb.find_grade("test_softmax", "04_losses", "04_losses", "alice").auto_score = 2
    gb.find_grade("test_mse", "04_losses", "04_losses", "alice").auto_score = 1.5
    gb.find_submission_notebook("04_losses", "04_losses", "alice").late_submission_penalty = 1
    gb.add_submission(A, "alice")
    gb.find_grade("test_conv", A, A, "alice").auto_score = 40 / 3
    gb.add_submission(A, "o'brien-smith")
    gb.find_grade("test_conv", A, A, "o'brien-smith").auto_score = 0
    gb.db.commit()
    root = scratch_course(str(tmp_path / "course"), [], config=f"c.CourseDirectory.db_url = {gb.db_url!r}")
    monkeypatch.setattr(course, "ROOT", root)

    lms_csv, nbgrader_csv = str(tmp_path / "lms.csv"), str(tmp_path / "grades.csv")
    assert cli.main(["export", "--to", nbgrader_csv, "--lms", lms_csv]) == 0
    assert capsys.readouterr().out == f"{nbgrader_csv}\n{lms_csv}\n"
    with open(lms_csv, encoding="utf-8") as fh:
        assert fh.read() == (
            "Student ID,Last Name,First Name,Email,04_losses (max 5),09_spatial (max 40)\n"
            "alice,Adams,Alice,alice@example.org,2.5,13.33\n"
            "carol,,,,,\n"
            "o'brien-smith,\"O'Brien-Smith, Jr.\",Seán,,,0\n")
    with open(nbgrader_csv, encoding="utf-8") as fh:   # nbgrader's own export, as before
        assert fh.readline() == ("assignment,duedate,timestamp,student_id,last_name,first_name,email,raw_score,"
                                 "late_submission_penalty,score,max_score\n")


# ------------------------------------------------------------------ one upload cannot spoil the collect


def test_files_unpacked_from_an_uploaded_archive_are_no_uploads():
    paths = ["/d/lms/bob_1_5_nb.ipynb", "/d/lms/alice_1_7_work.tar.gz", "/d/lms/alice_1_7_work/bob_1_99_nb.ipynb",
             "/d/lms/alice_1_7_work/deeper/alice_1_8_nb.ipynb"]
    collected, skipped = plan_uploads(paths, PATTERN)
    assert {s: u.path for s, u in collected.items()} == {"bob": "/d/lms/bob_1_5_nb.ipynb"}
    inside = "unpacked from the uploaded archive 'alice_1_7_work.tar.gz', not a file of the download"
    assert skipped == {"/d/lms/alice_1_7_work.tar.gz": "not a notebook (only .ipynb files are collected)",
                       "/d/lms/alice_1_7_work/bob_1_99_nb.ipynb": inside,
                       "/d/lms/alice_1_7_work/deeper/alice_1_8_nb.ipynb": inside}


def test_an_uploaded_zip_neither_stops_the_collect_nor_replaces_another_students_work(lms_course, tmp_path, capsys):
    inner = tmp_path / "inner.zip"
    write_zip(inner, {"bob_444_99999_09_spatial.ipynb": b'{"not bob": "inside carol\'s zip"}'})
    uploads = dict(DOWNLOAD, **{"carol_777_8001_work.zip": inner.read_bytes(),
                                "dave_888_9001_broken.zip": b"not a zip at all"})
    assert cli.main(["collect-zip", write_zip(tmp_path / "lms.zip", uploads), "-a", A]) == 0
    out = capsys.readouterr().out
    assert landed(lms_course) == EXPECTED_FILES
    assert "  lms/carol_777_8001_work.zip: not a notebook (only .ipynb files are collected)\n" in out
    assert "  lms/dave_888_9001_broken.zip: not a notebook (only .ipynb files are collected)\n" in out
    assert not os.path.exists(os.path.join(lms_course, "downloaded", A, "extracted", "lms", "carol_777_8001_work"))
