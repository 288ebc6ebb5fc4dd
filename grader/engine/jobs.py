"""Execution jobs: the expensive, parallel part of grading, separable from nbgrader's bookkeeping.

Grading a submission is split in two:

1. *Execution* (this module): run the sanitized notebook in the sandbox and
   compute every verdict (TrustedExecute).  A job carries everything it needs
   (the notebook and the files of its working directory), so it can run in a
   local process pool or on any Dask worker that has this package installed.
   The result is stored in a content-addressed cache under ``.grading/cache``.
2. *Bookkeeping*: ``nbgrader autograde`` for the student.  TrustedExecute finds
   the cached result for exactly this notebook and these files, and nbgrader
   records the grades (one writer, so sqlite stays safe).

The cache key covers the sanitized notebook, the files, the code that decides a
verdict (the engine, its in-kernel half, the assignment's content and what it
declares it depends on), the sandbox policy and the submission's inputs salt
(grader.engine.inputs), so a change to any of them re-executes and a cached
result is never reused under other hidden inputs.  A job carries the salt,
never the course secret it is derived from.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile

import nbformat

ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
KIT_DIR = os.path.join(os.path.dirname(os.path.dirname(ENGINE_DIR)), "gradekit")
MAX_JOB_FILE_BYTES = 20 * 1024 ** 2  # extra files a submission may carry into the kernel's directory


@functools.lru_cache(maxsize=16)
def grader_version(*content: str) -> str:
    """Digest of the Python source that decides a verdict: the engine, ``gradekit`` and the ``content`` folders.

    ``content``: an assignment's content package and the folders it depends on
    (:meth:`grader.engine.assignment.Assignment.verdict_dirs`).
    """
    digest = hashlib.sha256()
    for root in (ENGINE_DIR, KIT_DIR, *content):
        digest.update(b"\0" + os.path.basename(root).encode())
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")   # pruned before the walk descends
            for name in sorted(filenames):
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    digest.update(os.path.relpath(path, root).encode())
                    with open(path, "rb") as fh:
                        digest.update(fh.read())
    return digest.hexdigest()[:16]


def directory_files(path: str | None, limit: int = MAX_JOB_FILE_BYTES) -> dict[str, bytes]:
    """Every non-notebook file under ``path`` (relative path -> bytes), up to ``limit`` bytes in all."""
    files: dict[str, bytes] = {}
    if not path or not os.path.isdir(path):
        return files
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints"))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if name.endswith(".ipynb") or os.path.islink(full) or not os.path.isfile(full):
                continue
            size = os.path.getsize(full)
            if total + size > limit:
                continue  # too much extra data: it stays out of the kernel's directory
            total += size
            with open(full, "rb") as fh:
                files[os.path.relpath(full, path)] = fh.read()
    return files


def content_digest(nb, files: dict[str, bytes]) -> str:
    """SHA-256 (hex) of what a job executes: the notebook (JSON, keys sorted) and its files (names and contents)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(nb, sort_keys=True, default=str).encode())
    for name in sorted(files):
        digest.update(os.fsencode(name) + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def fingerprint(nb, files: dict[str, bytes], policy: str, version: str, salt: bytes = b"") -> str:
    """The execution key: the notebook, its files, the sandbox policy, the verdict code's ``version``
    and the hidden inputs' ``salt`` (empty: name-only inputs)."""
    digest = hashlib.sha256()
    digest.update(version.encode() + b"\0")
    digest.update(policy.encode() + b"\0")
    digest.update(b"salt:" + salt.hex().encode() + b"\0")
    digest.update(content_digest(nb, files).encode())
    return digest.hexdigest()


@dataclasses.dataclass
class ExecutionJob:
    key: str
    student: str
    assignment: str
    notebook: str
    nb_json: str
    files: dict
    policy: dict      # SandboxPolicy trait values
    root: str         # the course directory (where the assignment's content is found)
    salt: str         # the hidden inputs' salt, hex (grader.engine.inputs); part of ``key``


@dataclasses.dataclass
class ExecutionResult:
    key: str
    student: str
    nb_json: str
    record_json: str


def policy_values(policy, assignment: str | None = None) -> dict:
    """The sandbox policy's configured values; with ``assignment``, its library list only (the other
    assignments' lists do not decide this one's verdicts, so they stay out of its cache keys)."""
    values = {name: getattr(policy, name) for name in policy.trait_names() if policy.trait_metadata(name, "config")}
    if assignment is not None and "forbidden_modules" in values:
        values["forbidden_modules"] = {k: v for k, v in values["forbidden_modules"].items() if k == assignment}
    return values


def execute_job(job: ExecutionJob) -> ExecutionResult:
    """Run one job (in whatever process or Dask worker calls this)."""
    from threadpoolctl import threadpool_limits
    from traitlets.config import Config

    from .nbgrader_ext.execute import TrustedExecute

    config = Config()
    config.CourseDirectory.root = job.root
    for name, value in job.policy.items():
        config.SandboxPolicy[name] = value
    nb = nbformat.reads(job.nb_json, as_version=4)
    resources = {"nbgrader": {"student": job.student, "assignment": job.assignment, "notebook": job.notebook}}
    executor = TrustedExecute(config=config)
    try:
        # the checks' reference computations are small, and the workers already fill every core: BLAS
        # threads would only contend with them (OpenBLAS's idle threads spin)
        with threadpool_limits(limits=1):
            nb, record = executor.run_notebook(nb, job.files, resources, salt=bytes.fromhex(job.salt))
    except Exception as exc:  # noqa: BLE001 - cross the process boundary as plain text
        raise RuntimeError(f"{type(exc).__name__}: {exc}"[:1000]) from None
    if record.key != job.key:
        raise RuntimeError(f"job {job.student}: the worker computed key {record.key[:12]}, expected {job.key[:12]} "
                           "(different grader version or policy on this worker?)")
    return ExecutionResult(job.key, job.student, nbformat.writes(nb), record.to_json())


class ResultCache:
    """Content-addressed store of execution results (atomic writes; safe to kill at any moment)."""

    def __init__(self, directory: str):
        self.directory = directory

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key + ".json")

    def get(self, key: str) -> ExecutionResult | None:
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                return ExecutionResult(**json.load(fh))
        except (OSError, ValueError, TypeError):
            return None

    def put(self, result: ExecutionResult) -> None:
        path = self._path(result.key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dataclasses.asdict(result), fh)
        os.replace(tmp, path)
