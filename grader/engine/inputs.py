"""Per-submission hidden inputs: the course secret, and the salt of each submission derived from it.

Hidden checks draw their random inputs from :func:`gradekit.checking.case_rng`, seeded by the
case's name and by the salt of the submission being graded (set with
:func:`gradekit.checking.inputs_salt` while its notebook is graded).  The salt is

    HMAC-SHA256(course secret, ["hidden-inputs/1", assignment, student, content digest])

where the content digest (:func:`grader.engine.jobs.content_digest`) covers exactly what is
executed: the sanitized notebook and every file of its working directory, among them the
``timestamp.txt`` nbgrader's collect writes.  Re-grading a submission therefore draws the same
inputs, and any change to what is handed in (a cell, a file, the time of a resubmission) draws
new ones that cannot be computed without the secret.

The secret is 32 random bytes in a file of the course (``c.InputsSecret.path``; by default
``<course root>/.secrets/inputs.key``), created with mode 0600 in a folder of mode 0700 on first
use.  It never leaves the grading coordinator: execution jobs carry the salt, not the secret.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat

from traitlets import Unicode
from traitlets.config import Configurable

__all__ = ["InputsSecret", "SecretProblem", "course_secret", "write_course_secret", "submission_salt", "SECRET_BYTES",
           "DEFAULT_PATH"]

SECRET_BYTES = 32
DEFAULT_PATH = os.path.join(".secrets", "inputs.key")   # relative to the course root
SALT_LABEL = "hidden-inputs/1"


class SecretProblem(RuntimeError):
    """The course secret cannot be used as it is (a link, the wrong size, readable by others, ...)."""


class InputsSecret(Configurable):
    """Where the course secret that seeds the hidden checks' per-submission inputs lives (``c.InputsSecret.*``)."""

    path = Unicode("", help="The course secret (32 random bytes; created with mode 0600 when missing) from which "
                            "each submission's hidden inputs are derived.  A relative path is taken from the course "
                            f"root; empty: <course root>/{DEFAULT_PATH}.  Keep it out of version control and out "
                            "of anything a sandbox mounts; replacing it changes every submission's inputs"
                   ).tag(config=True)

    def location(self, root: str) -> str:
        """The secret's absolute path for the course at ``root``."""
        return os.path.abspath(os.path.join(root, self.path or DEFAULT_PATH))

    def read(self, root: str) -> bytes:
        """The course's secret (created on first use); see :func:`course_secret`."""
        return course_secret(self.location(root))


def _visible_in_sandbox(path: str) -> str:
    """The directory a sandboxed kernel sees (read-only) that holds ``path``, or ''."""
    from .sandbox import _python_roots

    real = os.path.realpath(path)
    return next((root for root in _python_roots() if real == root or real.startswith(root.rstrip("/") + "/")), "")


def course_secret(path: str) -> bytes:
    """The secret stored at ``path``; a new one (32 random bytes, mode 0600) when there is none.

    The folder is created with mode 0700.  Creation is atomic (a complete file appears at once,
    and a concurrent grader that created it first wins), so every process of a course reads the
    same secret.  Refused with :class:`SecretProblem`: a path inside what a sandboxed kernel sees
    (the Python environment), a symbolic link or other non-regular file, a file readable or
    writable by group or others, a file of another size.
    """
    path = os.path.abspath(path)
    inside = _visible_in_sandbox(path)
    if inside:
        raise SecretProblem(f"the course secret {path} would lie in {inside}, which every sandboxed kernel sees: "
                            "choose another c.InputsSecret.path")
    folder = os.path.dirname(path)
    if not os.path.lexists(path):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        _create(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise SecretProblem(f"cannot read the course secret {path}: {exc.strerror}"
                            + (" (a symbolic link)" if os.path.islink(path) else "")) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretProblem(f"the course secret {path} is not a regular file")
        if info.st_mode & 0o077:
            raise SecretProblem(f"the course secret {path} has mode {info.st_mode & 0o777:04o}: others could read "
                                f"or replace it; make it readable by its owner only (chmod 600 {path})")
        data = os.read(fd, SECRET_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != SECRET_BYTES:
        raise SecretProblem(f"the course secret {path} holds {len(data)} bytes, not {SECRET_BYTES}; delete it to get "
                            "a new one (every submission then gets new inputs)")
    return data


def _private_copy(path: str, secret: bytes) -> str:
    """A new file of mode 0600 next to ``path`` holding ``secret``; returns its path."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _create(path: str) -> None:
    """Write a new secret to ``path`` unless one appeared meanwhile: a private temporary file, then link(2)."""
    tmp = _private_copy(path, secrets.token_bytes(SECRET_BYTES))
    try:
        os.link(tmp, path)   # fails if another process created it first: theirs is kept
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def write_course_secret(path: str, secret: bytes) -> None:
    """Store ``secret`` at ``path`` (mode 0600, folder 0700), replacing any secret there: for scratch courses
    whose verdicts must reproduce from run to run."""
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"a course secret has {SECRET_BYTES} bytes, got {len(secret)}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    os.replace(_private_copy(os.path.abspath(path), secret), path)


def submission_salt(secret: bytes, assignment: str, student: str, nb, files: dict[str, bytes]) -> bytes:
    """The salt of one submission: HMAC-SHA256 under ``secret`` of its assignment, its student and the
    :func:`~grader.engine.jobs.content_digest` of the sanitized notebook ``nb`` and its ``files``."""
    from .jobs import content_digest

    if len(secret) != SECRET_BYTES:
        raise ValueError(f"a course secret has {SECRET_BYTES} bytes, got {len(secret)}")
    identity = json.dumps([SALT_LABEL, assignment, student, content_digest(nb, files)]).encode()
    return hmac.new(secret, identity, hashlib.sha256).digest()
