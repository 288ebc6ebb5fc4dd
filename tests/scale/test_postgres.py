"""The gradebook on a real PostgreSQL server (started on 127.0.0.1 by the test); sqlite stays the default."""
from __future__ import annotations

import csv
import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile

import psycopg2
import pytest

from grader.engine import batch, course

from ..conftest import ASSIGNMENT
from .conftest import EXPECTED, assert_scores, free_port, small_course

STUDENTS = {"dora_im2col": "im2col", "eli_bug": "bug"}


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        pytest.fail(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql, or make sysdeps)")
    return found[-1]


@pytest.fixture()
def postgres_url():
    """A throw-away PostgreSQL server on 127.0.0.1 with an empty database; its SQLAlchemy URL."""
    as_user: list[str] = []
    directory = tempfile.mkdtemp(prefix="gradebook-pg-")
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(directory)
            pytest.fail("running as root, and there is no 'postgres' system user to run the PostgreSQL server as "
                        "(the Debian postgresql package creates it)")
        os.chown(directory, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(directory, "data"), free_port()

    def run(*cmd):
        result = subprocess.run(as_user + list(cmd), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{cmd[0]} failed:\n{result.stdout}\n{result.stderr}"

    started = False
    try:
        run(_pg_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(_pg_bin("pg_ctl"), "-D", data, "-l", os.path.join(directory, "server.log"), "-w", "-t", "60",
            "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off", "start")
        started = True
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE gradebook")
        finally:
            conn.close()
        # SQLAlchemy's plain postgresql:// means the psycopg (3) driver; the project installs psycopg2
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"
    finally:
        if started:
            run(_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)


def test_sqlite_is_the_default_gradebook(tmp_path, monkeypatch):
    monkeypatch.delenv("NBGRADER_DB_URL", raising=False)
    root = str(tmp_path)
    shutil.copy(os.path.join(course.ROOT, "nbgrader_config.py"), root)
    assert course.load_config(root).CourseDirectory.db_url == f"sqlite:///{os.path.join(root, 'gradebook.db')}"


def test_unusable_gradebook_urls_are_refused_before_any_work(tmp_path, monkeypatch):
    root = str(tmp_path)
    shutil.copy(os.path.join(course.ROOT, "nbgrader_config.py"), root)
    assert importlib.util.find_spec("pymssql") is None  # the driver this URL names is not installed
    monkeypatch.setenv("NBGRADER_DB_URL", "mssql+pymssql://grader:s3cret@127.0.0.1/gradebook")
    with pytest.raises(ValueError) as info:
        batch.grade_batch(ASSIGNMENT, root, progress=False)
    assert str(info.value) == ("gradebook URL mssql+pymssql://grader:***@127.0.0.1/gradebook: "
                               "its database driver (pymssql) is not installed")
    monkeypatch.setenv("NBGRADER_DB_URL", "gradebook.db")
    with pytest.raises(ValueError, match=r"is not an SQLAlchemy database URL"):
        batch.grade_batch(ASSIGNMENT, root, progress=False)
    monkeypatch.setenv("NBGRADER_DB_URL", "nosuchdb://grader@127.0.0.1/gradebook")
    with pytest.raises(ValueError, match=r"^gradebook URL nosuchdb://grader@127.0.0.1/gradebook: SQLAlchemy knows "
                                         r"no database 'nosuchdb'$"):
        batch.grade_batch(ASSIGNMENT, root, progress=False)
    assert os.listdir(root) == ["nbgrader_config.py"]  # no gradebook, no state: nothing was started


@pytest.mark.slow
def test_grading_into_postgresql(postgres_url, tmp_path, monkeypatch):
    monkeypatch.delenv("NBGRADER_DB_URL", raising=False)
    root = small_course(str(tmp_path / "course"), STUDENTS)
    sqlite_url = course.load_config(root).CourseDirectory.db_url
    first = batch.grade_batch(ASSIGNMENT, root, workers=2, progress=False, log=lambda line: None)
    assert {o.student: o.score for o in first} == {s: pytest.approx(EXPECTED[k]) for s, k in STUDENTS.items()}
    assert_scores(sqlite_url, STUDENTS)

    # Moving the course to PostgreSQL: the new, empty gradebook gets every submission recorded
    # again (from the cached executions: nothing runs twice), though their state is unchanged.
    monkeypatch.setenv("NBGRADER_DB_URL", postgres_url)
    assert course.load_config(root).CourseDirectory.db_url == postgres_url
    lines = []
    outcomes = batch.grade_batch(ASSIGNMENT, root, workers=2, progress=False, log=lines.append)
    assert not any(line.startswith("executing") for line in lines), lines
    assert lines[0] == ("2 submissions graded before are not (fully) in the gradebook or autograded/ any more; "
                        "recording them again: dora_im2col, eli_bug")
    assert lines[-1].startswith("2 graded (0 with incidents), 0 failed, 0 skipped (unchanged) in ")
    assert {o.student: (o.status, o.score, o.skipped) for o in outcomes} == {
        s: ("graded", pytest.approx(EXPECTED[k]), False) for s, k in STUDENTS.items()}
    assert_scores(postgres_url, STUDENTS)

    conn = psycopg2.connect(postgres_url.replace("+psycopg2", ""))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT student_id FROM submitted_assignment ORDER BY student_id")
            assert [r[0] for r in cur.fetchall()] == sorted(STUDENTS)  # the rows really are in PostgreSQL
    finally:
        conn.close()

    path = course.export(root, str(tmp_path / "grades.csv"))
    with open(path, newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert {s: float(r["raw_score"]) for s, r in rows.items()} == {
        s: pytest.approx(EXPECTED[k]) for s, k in STUDENTS.items()}
    assert {float(r["max_score"]) for r in rows.values()} == {52.0}

    again = batch.grade_batch(ASSIGNMENT, root, workers=2, progress=False, log=lines.append)
    assert all(o.skipped for o in again) and len(again) == 2
