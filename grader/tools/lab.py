"""``make lab``: JupyterLab with the nbgrader extensions on the course repository.

``python -m grader lab [--port N] [--root DIR]`` starts JupyterLab on 127.0.0.1
(a free port unless ``--port``), with ``root_dir`` = the course repository and
the server's working directory there too (nbgrader's Validate button and
formgrader read ``nbgrader_config.py`` from the server's working directory, so
the course-local exchange and gradebook are used; the exchange folder is
created when missing). It prints the URL with its token and runs until Ctrl-C (or SIGTERM/SIGHUP),
then stops the server within a bounded time (:func:`stop`).

Jupyter's own environment variables choose where its state lives and are passed
through untouched: ``JUPYTER_CONFIG_DIR``, ``JUPYTER_DATA_DIR``,
``JUPYTER_RUNTIME_DIR``, ``IPYTHONDIR`` (and ``HOME``). :func:`isolated_env`
points all of them into one folder (the browser test does this).

Python API (the CLI and the browser test share it)::

    with running_lab(root, env=isolated_env(tmp)) as lab:
        lab.url_for("lab/tree/release/09_spatial/09_spatial.ipynb")   # token included
        lab.api("GET", "api/contents/release")                        # JSON, token in the header
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from ..engine import course

HOST = "127.0.0.1"
JUPYTER_DIR_VARS = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")
# The server extensions nbgrader ships (its pip package also enables them at sys-prefix level);
# enabled explicitly so a user-level config that disables them cannot break the course lab.
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.validate_assignment",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
)


class LabError(RuntimeError):
    """The server did not come up (the message carries the end of its log when there is one)."""


@dataclass
class LabServer:
    """A running JupyterLab: ``base_url`` ends with '/', ``token`` authenticates."""

    base_url: str
    token: str
    port: int
    root: str
    process: subprocess.Popen = field(repr=False)
    log_path: str | None = None

    def url_for(self, path: str = "lab", **query) -> str:
        """An absolute URL under the server with the token in its query string."""
        query = {**query, "token": self.token}
        return self.base_url + path.lstrip("/") + "?" + urllib.parse.urlencode(query)

    @property
    def lab_url(self) -> str:
        return self.url_for("lab")

    @property
    def formgrader_url(self) -> str:
        return self.url_for("formgrader")

    def api(self, method: str, path: str, body=None, timeout: float = 60.0):
        """A JSON request to the server's REST API (``path`` relative to the base URL)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path.lstrip("/"), data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip() else None

    def log_tail(self, chars: int = 6000) -> str:
        return file_tail(self.log_path, chars)


def isolated_env(base: str, environ: dict | None = None) -> dict:
    """A copy of ``environ`` whose Jupyter/IPython state (and HOME) lives in folders under ``base``."""
    env = dict(os.environ if environ is None else environ)
    for var, sub in [("HOME", "home"), ("JUPYTER_CONFIG_DIR", "jupyter_config"),
                     ("JUPYTER_DATA_DIR", "jupyter_data"), ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"),
                     ("IPYTHONDIR", "ipython")]:
        env[var] = os.path.join(base, sub)
        os.makedirs(env[var], exist_ok=True)
    return env


def lab_command(root: str, port: int | None = None) -> list[str]:
    """The command line of the server (the token comes through ``JUPYTER_TOKEN``, not argv)."""
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--ip={HOST}",
           f"--ServerApp.root_dir={root}",
           # port 0: the OS picks a free one; the server reports it in its jpserver-<pid>.json
           f"--port={port or 0}", f"--ServerApp.port_retries={0}",
           # no calls to the internet from the course lab (news feed, update check)
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    cmd += [f"--ServerApp.jpserver_extensions={name}=True" for name in NBGRADER_SERVER_EXTENSIONS]
    return cmd


def runtime_dir(env: dict) -> str:
    """Jupyter's runtime directory as the server will compute it from ``env``."""
    from jupyter_core import paths
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return paths.jupyter_runtime_dir()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def ensure_course_exchange(root: str) -> str | None:
    """Create the course-local exchange (``c.Exchange.root`` inside the course) when it is missing.

    nbgrader never creates its exchange; without it formgrader hides Release/Collect and the
    students' Assignment List reports an error. An exchange outside the course is left alone.
    """
    if not os.path.exists(os.path.join(root, "nbgrader_config.py")):
        return None
    exchange = course.load_config(root).Exchange.get("root")
    if not exchange:
        return None
    exchange = os.path.abspath(exchange)
    if os.path.commonpath([exchange, os.path.abspath(root)]) != os.path.abspath(root):
        return None
    if not os.path.isdir(exchange):
        os.makedirs(exchange)
        print(f"created the course-local nbgrader exchange {exchange}", file=sys.stderr)
    return exchange


def die_with_parent() -> None:
    """A server ends (SIGTERM) when the process that started it dies: no orphaned lab or hub after a killed test."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def file_tail(path: str | None, chars: int) -> str:
    """The last ``chars`` characters of a server's log ('' when there is none)."""
    if not path or not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()[-chars:]


def _get(url: str, token: str, timeout: float = 10.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _wait_ready(process: subprocess.Popen, info_file: str, token: str, deadline: float,
                log_path: str | None) -> dict:
    """Wait for the server's info file, then for its API and nbgrader's handlers to answer."""
    def failed(why: str) -> LabError:
        tail = file_tail(log_path, 6000)
        return LabError(f"JupyterLab {why}" + (f"\n--- end of {log_path} ---\n{tail}" if tail else ""))

    info = None
    while True:
        code = process.poll()
        if code is not None:
            raise failed(f"exited with status {code} before it was ready")
        if time.monotonic() > deadline:
            raise failed("did not become ready in time")
        if info is None and os.path.exists(info_file):
            try:
                with open(info_file, encoding="utf-8") as fh:
                    info = json.load(fh)
            except (OSError, ValueError):
                info = None  # being written
        if info is not None:
            base = f"http://{HOST}:{info['port']}{info['base_url']}"
            try:
                status, _ = _get(base + "api/status", token, timeout=5)
            except OSError:
                status = None
            if status == 200:
                from nbgrader import __version__ as nbgrader_version
                checks = {
                    "validate_assignment": base + "nbgrader_version?version=" + nbgrader_version,
                    "formgrader": base + "formgrader/api/status",
                }
                for name, url in checks.items():
                    code, body = _get(url, token)
                    if code != 200:
                        raise failed(f"answers, but nbgrader's {name} extension does not ({url}: HTTP {code})")
                    if name == "validate_assignment" and not json.loads(body).get("success"):
                        raise failed(f"has an nbgrader extension of another version: {body}")
                return info
        time.sleep(0.2)


@contextlib.contextmanager
def running_lab(root: str = course.ROOT, port: int | None = None, env: dict | None = None,
                log: str | IO | None = None, startup_timeout: float = 180.0,
                token: str | None = None) -> Iterator[LabServer]:
    """Start JupyterLab as a subprocess, wait until it answers, yield a :class:`LabServer`, stop it.

    ``env``: the server's environment (default: this process's); ``log``: a path or an open file
    for its output (default: inherited). The server runs with ``cwd=root`` so nbgrader finds the
    course's ``nbgrader_config.py``.
    """
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise LabError(f"no such directory: {root}")
    env = dict(os.environ if env is None else env)
    token = token or secrets.token_hex(24)
    env["JUPYTER_TOKEN"] = token
    env.pop("JUPYTER_PORT", None)
    for var in JUPYTER_DIR_VARS:
        if env.get(var):
            os.makedirs(env[var], exist_ok=True)
    run_dir = runtime_dir(env)
    os.makedirs(run_dir, exist_ok=True)
    ensure_course_exchange(root)

    log_path = log if isinstance(log, str) else getattr(log, "name", None)
    out = open(log, "a", encoding="utf-8") if isinstance(log, str) else log
    process = subprocess.Popen(lab_command(root, port), cwd=root, env=env, stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT if out is not None else None,
                               start_new_session=True, preexec_fn=die_with_parent)
    try:
        info = _wait_ready(process, os.path.join(run_dir, f"jpserver-{process.pid}.json"), token,
                           time.monotonic() + startup_timeout, log_path)
        yield LabServer(base_url=f"http://{HOST}:{info['port']}{info['base_url']}", token=token,
                        port=int(info["port"]), root=root, process=process, log_path=log_path)
    finally:
        stop(process)
        if isinstance(log, str) and out is not None:
            out.close()


def stop(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL the whole session if it lingers: at most ``timeout`` + 5 seconds.

    On SIGTERM the server shuts its extensions and kernels down and exits (about 2 s with two
    kernels; jupyter_client waits at most ``KernelManager.shutdown_wait_time``, 5 s, per kernel, all
    in parallel). Its stdin is not a terminal, so it never asks for confirmation.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # leftovers of its process group
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(root: str = course.ROOT, port: int | None = None) -> int:
    """``python -m grader lab``: run until Ctrl-C (SIGINT), SIGTERM or SIGHUP, then stop the server.

    Each of the three gets this process's own handler. SIGINT needs one too: a process started with
    SIGINT ignored (every background job of a non-interactive shell, e.g. ``make test &`` in a
    script; an ignored signal stays ignored across exec) gets no KeyboardInterrupt handler from
    Python, and Ctrl-C or ``kill -INT`` would never stop it. The server runs in its own session, so
    a terminal's Ctrl-C reaches this process alone, which stops the server (:func:`stop`, bounded).
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        with running_lab(root, port=port) as lab:
            dirs = ", ".join(f"{var}={os.environ[var]}" for var in JUPYTER_DIR_VARS if os.environ.get(var))
            print(f"\nJupyterLab (course root {lab.root}) with the nbgrader extensions"
                  + (f"; {dirs}" if dirs else "") + ":\n"
                  f"  {lab.lab_url}\n"
                  f"  formgrader: {lab.formgrader_url}\n"
                  "Ctrl-C stops it.", flush=True)
            try:
                while lab.process.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                print("\nstopping JupyterLab", file=sys.stderr, flush=True)
                stopping = time.monotonic()
            else:
                print(f"JupyterLab exited with status {lab.process.returncode}", file=sys.stderr)
                return lab.process.returncode or 1
        # leaving the `with` stopped it
        print(f"JupyterLab stopped (status {lab.process.returncode}) in {time.monotonic() - stopping:.1f} s",
              file=sys.stderr)
        return 0
    except KeyboardInterrupt:   # while starting, or a second signal while stopping
        print("\nstopping JupyterLab", file=sys.stderr)
        return 0
    except LabError as err:
        print(err, file=sys.stderr)
        return 1
