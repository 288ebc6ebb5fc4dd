"""``make hub``: a JupyterHub for the course on 127.0.0.1, set up the way nbgrader documents it.

Nothing here replaces a part of JupyterHub or nbgrader: the hub is PyPI's ``jupyterhub``, the proxy
npm's ``configurable-http-proxy`` (``make hub-proxy`` installs the pinned version into
``.hub/node``), logins go through JupyterHub's default ``PAMAuthenticator`` (real Linux accounts
and passwords), every single-user server is started by the default ``LocalProcessSpawner`` as its
user's uid (``.venv/bin/jupyterhub-singleuser``, JupyterLab at ``/lab``; a student's through
bubblewrap, below), and assignments travel through nbgrader's own multi-user exchange. What this
module does is the set-up nbgrader's "Using nbgrader with JupyterHub" page and its demos describe:

* accounts: an instructor and students (``tt-instructor``, ``tt-alice``, ``tt-bob``, ``tt-carol``),
  made with ``useradd`` (home mode 0700) and given fresh passwords with ``chpasswd`` at every start;
  the accounts carry :data:`MARKER` as their comment, so only they are ever reset or removed.
  ``existing_accounts`` uses accounts that exist as they are (their own passwords, never removed).
* the exchange: ``<public_dir>/exchange``, world-writable with the sticky bit (mode 1777: nbgrader
  creates the course's ``inbound/``, ``outbound/`` and ``feedback/`` in it with their own modes).
* the instructor's course directory: ``~<instructor>/<course_id>``, a copy of this course
  (``grader.harness.scratch``: ``source/``, ``release/``, ``nbgrader_config.py`` with the gradebook
  inside the copy), with the shared exchange and the course id appended to its configuration,
  ``nbgrader generate_assignment`` run (the gradebook knows every notebook), the students added to
  the gradebook, and owned by the instructor: formgrader, autograding included, runs as the
  instructor, never as root. A copy that exists is kept (it holds the instructor's work).
* per-role Jupyter configuration in ``<public_dir>/jupyter/<role>/``, given to each server through
  ``JUPYTER_CONFIG_PATH`` (``Spawner.environment``), the highest-priority configuration path; no
  file in anyone's home changes. The instructor's ``nbgrader_config.py`` loads the course
  directory's (nbgrader's server extensions read configuration from the Jupyter paths and the
  server's working directory, the home, never from the course directory); the students' names the
  course and the exchange, and their ``jupyter_server_config.json`` and ``labconfig/page_config.json``
  disable (and lock) nbgrader's formgrader, course list and create-assignment: students get the
  Assignments tab and Validate.
  These are the files ``jupyter server extension disable --user`` and ``jupyter labextension
  disable --level=user`` write, written directly: jupyter_server's per-user disable refuses an
  extension that is enabled only at the environment level ("could not be found").
* state: ``state_dir`` (mode 0700: the hub's sqlite database, cookie secret, proxy auth token,
  ``jupyterhub_config.py``, ``jupyterhub.log``, ``site.json`` recording what was made for
  :func:`clean`). ``jupyterhub.log`` is mode 0600 too: every server writes its log there through the
  descriptor it inherits, and a descriptor reopened through ``/proc/<pid>/fd`` skips the directory.

And one thing of its own, since the servers run from this checkout's ``.venv`` and the checkout is
readable by every account (``make shared-access``), the instructor's solutions and hidden checks with it:

* students' servers in a mount namespace that hides the checkout. The students' ``Spawner.cmd`` (every
  account's but the instructor's: a ``Spawner.pre_spawn_hook``, JupyterHub's per-user hook, gives the
  instructor the plain ``jupyterhub-singleuser``, since formgrader grades with the checkout's packages)
  is :func:`confined_command`: ``bwrap --unshare-user --disable-userns --unshare-pid --die-with-parent
  --dev-bind / / --proc /proc --tmpfs <checkout> --ro-bind <checkout>/.venv <checkout>/.venv
  --remount-ro <checkout> -- jupyterhub-singleuser``, run as the student (unprivileged user
  namespaces). In the server, its kernels and its terminals the checkout is an empty read-only
  directory holding only what a server needs (:func:`student_view`): ``.venv``, the interpreter, the
  packages, JupyterLab's static files and nbgrader's lab extension (``.venv/share/jupyter``); the
  students' role configuration and the exchange too, should they lie in the checkout. So ``source/``,
  ``assignments/`` (hidden checks, samples), ``tinytorch_ref/``, ``.git/``, the checkout's gradebook,
  ``submitted/``, ``autograded/`` and ``.hub/`` (the hub's default state) are not there, and the
  editable installs' finder in site-packages finds nothing: ``import grader`` (``gradekit``,
  ``assignments``, ``tinytorch_ref``) fails (a release's own ``gradekit`` next to its notebook imports
  as before). The rest of the machine is the host's: homes, ``/tmp``, the exchange, the network (the
  hub reaches the server on 127.0.0.1). A student who logs in some other way than the hub (ssh, a
  console: the accounts have passwords and a shell) is not confined; the hub offers no such way.
  The PID namespace has its own ``/proc``: a student's processes see only their sandbox's, and when
  the server ends so does every process left in it (what a terminal started in the background too).
  bubblewrap's monitor, the process a spawner would signal, passes no signal on
  (containers/bubblewrap#369), so the spawner's process is :mod:`grader.tools.hub_confine`, which
  starts bubblewrap and passes the hub's SIGINT and SIGTERM on to the server; killed, it takes the
  sandbox with it (``--die-with-parent``). :func:`setup` runs the same command as a student before the
  hub starts (:func:`check_confinement`: what the checkout lists, which course package imports) and
  refuses to go on otherwise, naming the sysctls that turn user namespaces off.
  Why not another way: JupyterHub's ``SystemdSpawner`` (``InaccessiblePaths``) or a container spawner
  would replace the spawner; taking the checkout's read permission from others would take it from an
  instructor who grades as an ordinary user too, and leave the ``.venv`` inside it to set apart.

And, asked for (``python -m grader hub --serve``, ``make hub SERVE=1``), the grading service:

* :func:`start_service` runs ``python -m grader serve --root <course_dir>`` (grader/engine/service/) as the
  instructor's uid, in the course copy, with the instructor's home and none of root's environment: the
  service grades rootless, as formgrader does, each submission as it arrives in the exchange, and releases
  its feedback to its student (Fetch Feedback in the Assignments tab). Its output goes to
  ``<state_dir>/grading-service.log``. It watches the exchange's ``inbound/`` from its start, so
  :func:`prepare_exchange` first makes the course's folders there as nbgrader's release would (owned by the
  instructor, nbgrader's modes). It runs in a session of its own and is stopped before the hub
  (:func:`stop_service`: SIGTERM, then SIGKILL of its session and of what it started); its queue is
  durable, so a grading cut short is picked up at the next start. Not on by default: it gives students
  their checks' results before the due date and decides which submission the gradebook counts
  (``c.ServicePolicy``), an instructor's choice.

Python API (the CLI and the tests share it)::

    site = Site(instructor="tt-i-1a2b", students=("tt-s-1a2b",), state_dir=..., public_dir=...)
    passwords = setup(site)                       # as root: accounts, exchange, course copy, role config
    with running_hub(site, passwords) as hub:     # free ports on 127.0.0.1 unless port=...
        hub.url                                   # "http://127.0.0.1:<port>/"
        hub.passwords["tt-i-1a2b"]; hub.instructor; hub.students; hub.course_dir; hub.exchange
        session = hub.login("tt-s-1a2b")          # a requests.Session logged in through /hub/login
        hub.start_server("tt-s-1a2b")             # through the hub's REST API; waits until it is ready
        session.get(hub.user_url("tt-s-1a2b", "assignments"), params={"course_id": site.course_id})
        hub.server_pid("tt-s-1a2b")               # its jupyterhub-singleuser (hub.spawner_pid: the spawner's)
        hub.set_due_date("09_spatial", "2026-03-01 17:00:00 UTC")
        hub.start_service(); hub.service; hub.stop_service()   # the grading service, as the instructor
    clean(site)                                   # accounts with their homes, exchange, role config, state

``public_dir`` must be a path every course account can reach (pytest's tmp dirs are not: the hub
test uses a folder under /tmp). ``generate=False`` copies the committed ``release/`` instead of
running ``nbgrader generate_assignment``: faster, for a test that does not grade (autograde needs
the notebooks that generation records in the gradebook).

``running_hub(..., serve=True)`` starts the grading service with the hub. Leaving the ``with`` block (or
Ctrl-C / SIGTERM on ``python -m grader hub``) stops the grading service, then the hub, which stops every
single-user server and the proxy; whatever is left after a bounded wait (a server of
this hub, found by its ``JUPYTERHUB_API_URL``, or the proxy) is killed by pid.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from ..engine import course
from ..engine.sandbox import descendants
from .hub_confine import children
from .lab import HOST, die_with_parent, file_tail

REPO = course.ROOT
HUB_DIR = os.path.join(REPO, ".hub")
PROXY = os.path.join(HUB_DIR, "node", "node_modules", ".bin", "configurable-http-proxy")
MARKER = "course hub account - make hub-clean removes it"
DEFAULT_INSTRUCTOR = "tt-instructor"
DEFAULT_STUDENTS = ("tt-alice", "tt-bob", "tt-carol")
DEFAULT_PUBLIC_DIR = "/srv/ml-systems-hub"
NBGRADER_SERVER_EXTENSIONS = ("formgrader", "validate_assignment", "assignment_list", "course_list")
# what students do not get: nbgrader's server extensions and JupyterLab plugins for instructors
STUDENT_SERVER_EXTENSIONS_OFF = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
STUDENT_LAB_PLUGINS_OFF = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                           "@jupyter/nbgrader:create-assignment")
_MADE_HERE = ".made-by-grader-hub"


class HubError(RuntimeError):
    """The hub could not be set up or did not come up (the message says why, with the log's end)."""


@dataclasses.dataclass
class Site:
    """Who uses the hub and where its files live: what :func:`setup`, :func:`running_hub` and :func:`clean` need."""

    instructor: str = DEFAULT_INSTRUCTOR
    students: tuple[str, ...] = DEFAULT_STUDENTS
    existing_accounts: bool = False
    course_id: str = "ml-systems"
    state_dir: str = os.path.join(HUB_DIR, "state")
    public_dir: str = DEFAULT_PUBLIC_DIR
    exchange: str = ""  # default: <public_dir>/exchange
    repo: str = REPO
    generate: bool = True  # nbgrader generate_assignment in a new course copy (else the committed release/)
    due: dict[str, str] = dataclasses.field(default_factory=dict)  # assignment -> due date for the gradebook

    def __post_init__(self):
        self.students = tuple(self.students)
        self.state_dir = os.path.abspath(self.state_dir)
        self.public_dir = os.path.abspath(self.public_dir)
        self.exchange = os.path.abspath(self.exchange or os.path.join(self.public_dir, "exchange"))
        if self.instructor in self.students:
            raise HubError(f"{self.instructor} cannot be the instructor and a student")

    @property
    def users(self) -> tuple[str, ...]:
        return (self.instructor, *self.students)

    def role(self, name: str) -> str:
        return "instructor" if name == self.instructor else "student"

    def role_config_dir(self, role: str) -> str:
        return os.path.join(self.public_dir, "jupyter", role)

    @property
    def course_dir(self) -> str:
        return os.path.join(pwd.getpwnam(self.instructor).pw_dir, self.course_id)

    @property
    def record_path(self) -> str:
        return os.path.join(self.state_dir, "site.json")


# ---------------------------------------------------------------------------------------------- set-up
def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise HubError(f"{what} needs root (it creates Linux accounts and starts servers as their users)")


def new_password() -> str:
    """A password to type: four groups of four lowercase letters and digits."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def is_ours(name: str) -> bool:
    """Whether ``name`` is an account this module made (its comment is :data:`MARKER`)."""
    try:
        return pwd.getpwnam(name).pw_gecos == MARKER
    except KeyError:
        return False


def ensure_account(name: str) -> str:
    """``useradd`` the account unless this module made it before; set and return a new password."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", "--comment", MARKER,
                        name], check=True, capture_output=True, text=True)
        entry = pwd.getpwnam(name)
    else:
        if entry.pw_gecos != MARKER:
            raise HubError(f"the account {name} exists and was not made by `make hub`: choose other names, "
                           "or use it as it is (HUB_INSTRUCTOR / HUB_STUDENTS, see README)")
    os.chmod(entry.pw_dir, 0o700)  # students never read each other's work
    password = new_password()
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", check=True, capture_output=True, text=True)
    return password


def update_gradebook(site: Site, students: tuple[str, ...] = (), due: dict[str, str] | None = None) -> None:
    """Add students and set due dates in the course's gradebook (what ``nbgrader db student add`` and
    ``nbgrader db assignment add --duedate=...`` do), then give a sqlite gradebook back to the instructor."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc
    db_url = course.load_config(site.course_dir).CourseDirectory.db_url
    with course.chdir(site.course_dir), Gradebook(db_url) as gb:
        for student in students:
            gb.update_or_create_student(student)
        for assignment, when in (due or {}).items():
            gb.update_or_create_assignment(assignment, duedate=parse_utc(when))
    db_file = db_url.removeprefix("sqlite:///")
    if db_file != db_url and os.path.exists(db_file):
        entry = pwd.getpwnam(site.instructor)
        os.chown(db_file, entry.pw_uid, entry.pw_gid)


def _chown_tree(path: str, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def course_config_block(site: Site) -> str:
    """What the instructor's course copy adds to the course's nbgrader_config.py."""
    return ("# JupyterHub course (grader/tools/hub.py): every account shares this exchange.\n"
            f"c.CourseDirectory.course_id = {site.course_id!r}\n"
            f"c.Exchange.root = {site.exchange!r}\n")


def ensure_course(site: Site, log=print) -> str:
    """The instructor's course directory: made (owned by the instructor) unless it exists; returns its path."""
    from ..harness.scratch import scratch_course
    path = site.course_dir
    entry = pwd.getpwnam(site.instructor)
    if os.path.exists(os.path.join(path, "nbgrader_config.py")):
        log(f"course directory {path} exists: kept as it is")
    elif os.path.exists(path):
        raise HubError(f"{path} exists but is not a course directory (no nbgrader_config.py)")
    else:
        start = time.monotonic()
        scratch_course(path, repo=site.repo, release=site.generate, local_gradebook=True,
                       config=course_config_block(site))
        _chown_tree(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o700)
        log(f"course directory {path} made for {site.instructor} in {time.monotonic() - start:.1f} s")
    update_gradebook(site, site.students, site.due)
    return path


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)


def write_role_configs(site: Site) -> None:
    """``<public_dir>/jupyter/{instructor,student}/``: each role's nbgrader and Jupyter configuration."""
    instructor = site.role_config_dir("instructor")
    shutil.rmtree(instructor, ignore_errors=True)
    _write(os.path.join(instructor, "nbgrader_config.py"),
           "# The instructor's nbgrader configuration (grader/tools/hub.py): the course directory's own.\n"
           "c = get_config()  # noqa: F821\n"
           f"load_subconfig('nbgrader_config.py', path={site.course_dir!r})  # noqa: F821\n")
    _write(os.path.join(instructor, "jupyter_server_config.json"), json.dumps(
        {"ServerApp": {"jpserver_extensions": {f"nbgrader.server_extensions.{e}": True
                                               for e in NBGRADER_SERVER_EXTENSIONS}}}, indent=2))
    student = site.role_config_dir("student")
    shutil.rmtree(student, ignore_errors=True)
    _write(os.path.join(student, "nbgrader_config.py"),
           "# The students' nbgrader configuration (grader/tools/hub.py): one course, the shared exchange.\n"
           "c = get_config()  # noqa: F821\n"
           f"c.CourseDirectory.course_id = {site.course_id!r}\n"
           f"c.Exchange.root = {site.exchange!r}\n")
    _write(os.path.join(student, "jupyter_server_config.json"), json.dumps(
        {"ServerApp": {"jpserver_extensions": {e: False for e in STUDENT_SERVER_EXTENSIONS_OFF}}}, indent=2))
    _write(os.path.join(student, "labconfig", "page_config.json"), json.dumps(
        {"disabledExtensions": {p: True for p in STUDENT_LAB_PLUGINS_OFF},
         "lockedExtensions": {p: True for p in STUDENT_LAB_PLUGINS_OFF}}, indent=2))
    for dirpath, _, _ in os.walk(site.role_config_dir("")):
        os.chmod(dirpath, 0o755)


def _record(site: Site) -> dict:
    try:
        with open(site.record_path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def setup(site: Site, log=print) -> dict[str, str]:
    """Everything the hub needs before it starts (as root); returns the new passwords by account
    (none for existing accounts). Running it again resets the passwords and keeps the course directory."""
    _require_root("setting up the course hub")
    from ..engine.assignment import names
    unknown = sorted(set(site.due) - set(names(site.repo)))
    if unknown:
        raise HubError(f"no assignment {', '.join(unknown)} in the course (it has {', '.join(names(site.repo))})")
    from .shared_access import open_traversal, software_paths
    open_traversal(software_paths(site.repo), log=log)
    record = _record(site)
    os.makedirs(site.state_dir, exist_ok=True)
    os.chmod(site.state_dir, 0o700)
    made_accounts = set(record.get("accounts_made", []))
    passwords: dict[str, str] = {}
    for name in site.users:
        if site.existing_accounts:
            if not _exists(name):
                raise HubError(f"no Linux account {name}")
        else:
            passwords[name] = ensure_account(name)
            made_accounts.add(name)
    public_made = record.get("public_dir_made", False) or not os.path.exists(site.public_dir)
    os.makedirs(site.public_dir, exist_ok=True)
    os.chmod(site.public_dir, 0o755)
    if public_made:
        _write(os.path.join(site.public_dir, _MADE_HERE), "made by `make hub`; `make hub-clean` removes it\n")
    exchange_made = record.get("exchange_made", False) or not os.path.exists(site.exchange)
    os.makedirs(site.exchange, exist_ok=True)
    os.chmod(site.exchange, 0o1777)  # nbgrader's exchange: everyone writes; nobody removes another's entries
    record.update(instructor=site.instructor, students=list(site.students), course_id=site.course_id,
                  existing_accounts=site.existing_accounts, public_dir=site.public_dir, exchange=site.exchange,
                  accounts_made=sorted(made_accounts), public_dir_made=public_made, exchange_made=exchange_made)
    _write(site.record_path, json.dumps(record, indent=2), mode=0o600)
    record["course_dir"] = ensure_course(site, log=log)
    _write(site.record_path, json.dumps(record, indent=2), mode=0o600)
    write_role_configs(site)
    if site.students:
        check_confinement(site, site.students[0])
    return passwords


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# ------------------------------------------------------------------------ what students see of the checkout
def _under(path: str, root: str) -> bool:
    return path.startswith(root.rstrip(os.sep) + os.sep)


def student_view(site: Site) -> list[tuple[str, bool]]:
    """What of the checkout a student's server sees: ``(path, writable)`` for each path it needs that
    lies in the checkout (the environment the servers run from, and the students' role configuration
    and the exchange should they be there), outermost first. The rest of the checkout is an empty,
    read-only directory to it."""
    repo = os.path.realpath(site.repo)
    needed = [(sys.prefix, False), (sys.base_prefix, False), (site.role_config_dir("student"), False),
              (site.exchange, True)]
    view: list[tuple[str, bool]] = []
    for path, writable in needed:
        real = os.path.realpath(path)
        if real == repo:
            raise HubError(f"{path} is the checkout {repo}: the students' servers could not be kept from it")
        if _under(real, repo) and not any(real == p or _under(real, p) for p, _ in view):
            view.append((real, writable))
    return sorted(view)


def confined_command(site: Site, command: list[str]) -> list[str]:
    """``command`` run by a student: in bubblewrap, through :mod:`grader.tools.hub_confine` (which passes
    the hub's signals on), with the checkout replaced by an empty read-only tmpfs except
    :func:`student_view`; the rest of the machine (homes, ``/tmp``, the exchange, the network) as it is."""
    repo = os.path.realpath(site.repo)
    confine = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hub_confine.py")
    binds = [arg for path, writable in student_view(site)
             for arg in ("--bind" if writable else "--ro-bind", path, path)]
    return [sys.executable, "-I", "-S", confine, shutil.which("bwrap") or "bwrap",
            "--unshare-user", "--disable-userns", "--unshare-pid", "--die-with-parent",
            "--dev-bind", "/", "/", "--proc", "/proc",
            "--perms", "0555", "--tmpfs", repo, *binds, "--remount-ro", repo,
            "--", *command]


_PROBE = ("import importlib.util, json, os, sys; print(json.dumps({'listing': sorted(os.listdir(sys.argv[1])), "
          "'importable': [m for m in ('grader', 'gradekit', 'assignments', 'tinytorch_ref') "
          "if importlib.util.find_spec(m)]}))")


def check_confinement(site: Site, name: str) -> dict:
    """Run :func:`confined_command` as ``name`` (as the spawner does) and look at the checkout from inside:
    what it lists and which of the course's packages import; a :class:`HubError` unless it is only
    :func:`student_view`, nothing importable."""
    entry = pwd.getpwnam(name)

    def as_user():
        os.setgid(entry.pw_gid)
        os.initgroups(name, entry.pw_gid)
        os.setuid(entry.pw_uid)

    if shutil.which("bwrap") is None:
        raise HubError("bubblewrap (bwrap) is missing: the students' servers run in it, to keep them from the "
                       "checkout (apt-get install bubblewrap)")
    repo = os.path.realpath(site.repo)
    done = subprocess.run(confined_command(site, [sys.executable, "-c", _PROBE, repo]), preexec_fn=as_user,
                          cwd=entry.pw_dir, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": entry.pw_dir, "LANG": "C.UTF-8"})
    if done.returncode != 0:
        raise HubError(f"a student's server cannot start in bubblewrap ({done.stderr.strip()[-500:]}); it needs "
                       "unprivileged user namespaces: check `sysctl user.max_user_namespaces` (must be > 0), "
                       "`sysctl kernel.unprivileged_userns_clone` (Debian: must be 1) and "
                       "`sysctl kernel.apparmor_restrict_unprivileged_userns` (Ubuntu: must be 0)")
    try:
        seen = json.loads(done.stdout)
    except ValueError:
        raise HubError(f"checking a student's view of the checkout printed {done.stdout[-300:]!r}") from None
    expected = sorted({os.path.relpath(path, repo).split(os.sep)[0] for path, _ in student_view(site)})
    if seen["listing"] != expected or seen["importable"]:
        raise HubError(f"{name} sees {seen['listing']} of the checkout (expected {expected}) and can import "
                       f"{seen['importable'] or 'nothing'} of the course's packages")
    return seen


# ------------------------------------------------------------------------------------------ the hub
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def hub_config(site: Site, port: int, hub_port: int, proxy_api_port: int, service_token: str) -> str:
    """The text of ``jupyterhub_config.py`` for one run."""
    state = site.state_dir
    venv_bin = os.path.join(sys.prefix, "bin")
    roles = {name: site.role_config_dir(site.role(name)) for name in site.users}
    singleuser = [os.path.join(venv_bin, "jupyterhub-singleuser")]
    return f'''"""JupyterHub for the course {site.course_id} (written by grader/tools/hub.py at every start)."""
c = get_config()  # noqa: F821

c.JupyterHub.bind_url = "http://{HOST}:{port}/"
c.JupyterHub.hub_bind_url = "http://{HOST}:{hub_port}"
c.JupyterHub.db_url = "sqlite:///" + {os.path.join(state, "jupyterhub.sqlite")!r}
c.JupyterHub.cookie_secret_file = {os.path.join(state, "jupyterhub_cookie_secret")!r}
c.JupyterHub.pid_file = {os.path.join(state, "jupyterhub.pid")!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# the proxy: npm's configurable-http-proxy, installed by `make hub-proxy`
c.ConfigurableHTTPProxy.command = [{PROXY!r}]
c.ConfigurableHTTPProxy.api_url = "http://{HOST}:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {os.path.join(state, "jupyterhub-proxy.pid")!r}
with open({os.path.join(state, "proxy_auth_token")!r}) as fh:
    c.ConfigurableHTTPProxy.auth_token = fh.read().strip()

# logins: Linux accounts and passwords through PAM
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set({sorted(site.users)!r})
c.Authenticator.admin_users = {{{site.instructor!r}}}

# servers: one process per user, as that user, from the course's environment
ROLE_CONFIG = {roles!r}
c.JupyterHub.spawner_class = "localprocess"
# students' servers (every account but the instructor's) in bubblewrap, the checkout hidden but for
# what a server needs (grader/tools/hub.py: confined_command); the instructor's server as it is
c.Spawner.cmd = {confined_command(site, singleuser)!r}
INSTRUCTOR = {site.instructor!r}


def instructor_unconfined(spawner):
    """The instructor's server grades with the course's packages: JupyterHub's own command line."""
    if spawner.user.name == INSTRUCTOR:
        spawner.cmd = {singleuser!r}


c.Spawner.pre_spawn_hook = instructor_unconfined
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.environment = {{
    "PATH": {os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin"])!r},
    # each role's nbgrader and Jupyter configuration, ahead of every other configuration path
    "JUPYTER_CONFIG_PATH": lambda spawner: ROLE_CONFIG[spawner.user.name],
}}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.LocalProcessSpawner.interrupt_timeout = 5
c.LocalProcessSpawner.term_timeout = 5
c.LocalProcessSpawner.kill_timeout = 5

# the course tools' API token (grader/tools/hub.py starts and inspects servers with it)
c.JupyterHub.services = [{{"name": "course-tools", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "course-tools", "services": ["course-tools"],
                             "scopes": ["admin:users", "admin:servers", "admin:server_state"]}}]
'''


@dataclasses.dataclass
class Hub:
    """A running hub: ``url`` ends with '/'; ``passwords`` by account (empty for existing accounts)."""

    site: Site
    url: str
    port: int
    hub_port: int
    proxy_api_port: int
    passwords: dict[str, str]
    token: str = dataclasses.field(repr=False)
    process: subprocess.Popen = dataclasses.field(repr=False)
    log_path: str = ""
    service: subprocess.Popen | None = dataclasses.field(default=None, repr=False)   # the grading service
    service_started: float = 0.0   # time.monotonic() of its last start

    @property
    def service_log_path(self) -> str:
        return os.path.join(self.site.state_dir, "grading-service.log")

    def start_service(self, timeout: float = 120.0) -> None:
        """Start the grading service (:func:`start_service`) unless it runs; return once it watches the exchange."""
        if self.service is None or self.service.poll() is not None:
            self.service_started = time.monotonic()
            self.service = start_service(self.site, self.service_log_path, timeout)

    def restart_service_if_exited(self, min_interval: float = 60.0) -> str:
        """Start the grading service again if it exited, at most once per ``min_interval`` seconds (a service that
        cannot start is not retried in a tight loop). Its queue is durable, so nothing is lost or graded twice.
        Returns what happened, for the hub's console (empty: the service runs, or is not due to restart yet)."""
        if self.service is None or self.service.poll() is None or \
                time.monotonic() - self.service_started < min_interval:
            return ""
        said = (f"the grading service exited with status {self.service.returncode}\n"
                f"{file_tail(self.service_log_path, 2000)}\nstarting it again")
        try:
            self.start_service()
        except HubError as err:
            return f"{said}\nerror: {err}"
        return f"{said}: it watches the exchange again"

    def stop_service(self, timeout: float = 30.0) -> None:
        if self.service is not None:
            stop_service(self.service, timeout)

    @property
    def instructor(self) -> str:
        return self.site.instructor

    @property
    def students(self) -> tuple[str, ...]:
        return self.site.students

    @property
    def course_dir(self) -> str:
        return self.site.course_dir

    @property
    def exchange(self) -> str:
        return self.site.exchange

    def user_url(self, name: str, path: str = "") -> str:
        return f"{self.url}user/{name}/{path.lstrip('/')}"

    def api(self, method: str, path: str, body=None, timeout: float = 30.0):
        """A request to the hub's REST API (``path`` under /hub/api/) with the course tools' token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}hub/api/{path.lstrip('/')}", data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip() else None

    def login(self, name: str, password: str | None = None):
        """A ``requests.Session`` logged in through the hub's login form (``_xsrf`` included)."""
        import requests
        session = requests.Session()
        session.get(f"{self.url}hub/login", timeout=30).raise_for_status()
        answer = session.post(f"{self.url}hub/login",
                              data={"username": name, "password": password or self.passwords[name],
                                    "_xsrf": session.cookies.get("_xsrf", "")},
                              allow_redirects=False, timeout=60)
        if answer.status_code != 302:
            raise HubError(f"logging in as {name} answered HTTP {answer.status_code}")
        return session

    def server(self, name: str) -> dict | None:
        return (self.api("GET", f"users/{name}") or {}).get("servers", {}).get("")

    def start_server(self, name: str, timeout: float = 120.0) -> str:
        """Start ``name``'s server (unless it runs) and wait until the hub says it is ready; its URL."""
        if not (self.server(name) or {}).get("ready"):
            with contextlib.suppress(urllib.error.HTTPError):  # 400: it is starting already
                self.api("POST", f"users/{name}/server")
        deadline = time.monotonic() + timeout
        while True:
            server = self.server(name)
            if server and server.get("ready"):
                return self.user_url(name)
            if not server:  # neither ready nor pending: the spawn failed
                raise HubError(f"{name}'s server did not start\n{self.log_tail()}")
            if self.process.poll() is not None:
                raise HubError(f"the hub exited while {name}'s server started\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise HubError(f"{name}'s server was not ready in {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.25)

    def spawner_pid(self, name: str) -> int:
        """The pid of the process the spawner started for ``name`` (its state): the server itself for the
        instructor, :mod:`grader.tools.hub_confine` for a student."""
        return int((self.server(name) or {}).get("state", {})["pid"])

    def server_pid(self, name: str) -> int:
        """The pid of ``name``'s ``jupyterhub-singleuser`` process (for a student, inside bubblewrap)."""
        singleuser = os.path.join(sys.prefix, "bin", "jupyterhub-singleuser").encode()
        todo = [self.spawner_pid(name)]
        while todo:
            pid = todo.pop(0)
            if singleuser in _read(f"/proc/{pid}/cmdline", binary=True).split(b"\0")[:2]:
                return pid
            todo += children(pid)
        raise HubError(f"{name}'s server has no jupyterhub-singleuser process")

    def set_due_date(self, assignment: str, due: str) -> None:
        """Set ``assignment``'s due date in the course's gradebook (e.g. "2026-03-01 17:00:00 UTC")."""
        update_gradebook(self.site, due={assignment: due})

    def log_tail(self, chars: int = 6000) -> str:
        return file_tail(self.log_path, chars)


def _read(path: str, binary: bool = False):
    with contextlib.suppress(OSError):
        with open(path, "rb" if binary else "r") as fh:
            return fh.read()
    return b"" if binary else ""


def leftovers(site: Site, hub_port: int, port: int, proxy_api_port: int) -> list[int]:
    """Processes of this hub still alive: single-user servers and their kernels (a course user's process
    whose environment names this hub's API) and the proxy (its command line names both ports)."""
    uids = {pwd.getpwnam(n).pw_uid for n in site.users if _exists(n)}
    api = f"JUPYTERHUB_API_URL=http://{HOST}:{hub_port}/hub/api".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        uid = _uid(int(entry))
        if uid in uids and api in _read(f"/proc/{entry}/environ", binary=True).split(b"\0"):
            found.append(int(entry))
        elif uid == 0:
            cmdline = _read(f"/proc/{entry}/cmdline", binary=True).split(b"\0")
            if any(b"configurable-http-proxy" in part for part in cmdline) and str(proxy_api_port).encode() in \
                    cmdline and str(port).encode() in cmdline:
                found.append(int(entry))
    return found


def _kill(pids: list[int], grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while any(os.path.exists(f"/proc/{p}") and _status(p, "State") != "Z" for p in alive) and \
                time.monotonic() < deadline:
            time.sleep(0.1)


def _status(pid: int, field: str) -> str:
    """The first value of ``field`` in ``/proc/<pid>/status`` ('' once the process is gone)."""
    status = _read(f"/proc/{pid}/status")
    return next((line.split()[1] for line in status.splitlines() if line.startswith(f"{field}:")), "")


def _uid(pid: int) -> int | None:
    uid = _status(pid, "Uid")
    return int(uid) if uid else None


def stop(hub: Hub, timeout: float = 30.0) -> None:
    """SIGTERM the hub (it stops every server and the proxy), SIGKILL it if it lingers past ``timeout``,
    then end whatever of this hub is left, by pid."""
    hub.stop_service()
    terminate_session(hub.process, timeout)
    _kill(leftovers(hub.site, hub.hub_port, hub.port, hub.proxy_api_port), grace=3.0)


def terminate_session(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM ``process``; if it is still running after ``timeout`` seconds, SIGKILL its session (it was
    started in a session of its own) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def _wait_ready(hub: Hub, deadline: float) -> None:
    while True:
        code = hub.process.poll()
        if code is not None:
            raise HubError(f"JupyterHub exited with status {code} before it was ready\n{hub.log_tail()}")
        if time.monotonic() > deadline:
            raise HubError(f"JupyterHub did not answer at {hub.url} in time\n{hub.log_tail()}")
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"{hub.url}hub/api/", timeout=5) as response:
                if response.status == 200 and "version" in json.loads(response.read()):
                    return
        time.sleep(0.2)


@contextlib.contextmanager
def running_hub(site: Site, passwords: dict[str, str] | None = None, port: int | None = None,
                startup_timeout: float = 90.0, serve: bool = False) -> Iterator[Hub]:
    """Start JupyterHub (as root, after :func:`setup`), wait until it answers, yield a :class:`Hub`, stop it.

    Its log goes to ``<state_dir>/jupyterhub.log`` (the single-user servers' logs too). ``serve``: the
    grading service too, as the instructor (:func:`start_service`), stopped before the hub."""
    _require_root("JupyterHub with local accounts")
    if not os.access(PROXY, os.X_OK):
        raise HubError(f"JupyterHub's proxy is missing at {PROXY}: run `make hub-proxy`")
    os.makedirs(site.state_dir, exist_ok=True)
    os.chmod(site.state_dir, 0o700)
    token_file = os.path.join(site.state_dir, "proxy_auth_token")
    if not os.path.exists(token_file):
        _write(token_file, secrets.token_hex(32) + "\n", mode=0o600)
    port = port or free_port()
    hub_port, proxy_api_port = free_port(), free_port()
    while len({port, hub_port, proxy_api_port}) < 3:
        hub_port, proxy_api_port = free_port(), free_port()
    service_token = secrets.token_hex(32)
    config = os.path.join(site.state_dir, "jupyterhub_config.py")
    _write(config, hub_config(site, port, hub_port, proxy_api_port, service_token), mode=0o600)
    log_path = os.path.join(site.state_dir, "jupyterhub.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER_", "JPY_"))}
    env["PATH"] = os.pathsep.join([os.path.join(sys.prefix, "bin"), env.get("PATH", "/usr/bin:/bin")])
    # root's only: every server writes its log here, through the descriptor it inherits
    with open(log_path, "a", encoding="utf-8", opener=lambda path, flags: os.open(path, flags, 0o600)) as log:
        os.fchmod(log.fileno(), 0o600)
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", config], cwd=site.state_dir,
                                   env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=die_with_parent)
    hub = Hub(site=site, url=f"http://{HOST}:{port}/", port=port, hub_port=hub_port,
              proxy_api_port=proxy_api_port, passwords=dict(passwords or {}), token=service_token,
              process=process, log_path=log_path)
    try:
        _wait_ready(hub, time.monotonic() + startup_timeout)
        if serve:
            hub.start_service()
        yield hub
    finally:
        stop(hub)


# ------------------------------------------------------------------------------------ the grading service
# The course's folders in nbgrader's exchange and the modes nbgrader's release_assignment (the course,
# outbound/, inbound/: students write their submissions into it but cannot list it) and release_feedback
# (feedback/: students open the pages whose names they can derive, and list nothing) give them.
EXCHANGE_COURSE_DIRS = (("", 0o755), ("outbound", 0o755), ("inbound", 0o2733), ("feedback", 0o711))
SERVICE_READY = "grading service for "   # the service's first log line once it watches the exchange


def prepare_exchange(site: Site) -> list[str]:
    """The course's folders in the exchange (:data:`EXCHANGE_COURSE_DIRS`), made as nbgrader's release
    would make them, owned by the instructor, unless they exist; the folders made.

    The grading service watches ``inbound/`` from its start, before the instructor has released anything
    (until then nbgrader has not made it). A folder that exists must be the instructor's: nbgrader's own
    release refuses one that is not ("You don't own the directory")."""
    entry = pwd.getpwnam(site.instructor)
    made = []
    for name, mode in EXCHANGE_COURSE_DIRS:
        path = os.path.join(site.exchange, site.course_id, name).rstrip(os.sep)
        try:
            os.mkdir(path, 0o700)   # never through a link: mkdir fails on any existing entry
        except FileExistsError:
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != entry.pw_uid:
                raise HubError(f"{path} exists and is not a folder of {site.instructor}: nbgrader's release "
                               "would refuse it too; remove it (make hub-clean) or choose another exchange") from None
            continue
        # through a descriptor of what was made: the instructor owns the folder above once it is handed over,
        # and a link put in its place between mkdir and here is refused, never followed
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as err:
            raise HubError(f"{path} changed while it was made: {err}") from None
        try:
            os.fchown(fd, entry.pw_uid, entry.pw_gid)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        made.append(path)
    return made


def service_command(site: Site) -> list[str]:
    """The grading service for the instructor's course copy (what ``make serve COURSE=<course_dir>`` runs)."""
    return [sys.executable, "-m", "grader", "serve", "--root", site.course_dir]


def start_service(site: Site, log_path: str, timeout: float = 120.0) -> subprocess.Popen:
    """Start ``python -m grader serve`` on the instructor's course copy, as the instructor's uid (never root:
    it grades rootless, in user namespaces, as formgrader does) and in a session of its own; its output is
    appended to ``log_path`` (root's only, as the hub's log). Returns once it watches the exchange, or raises
    :class:`HubError` with its log's end."""
    _require_root("starting the grading service as the instructor")
    entry = pwd.getpwnam(site.instructor)
    prepare_exchange(site)
    env = {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name, "SHELL": entry.pw_shell,
           "LANG": os.environ.get("LANG", "C.UTF-8"), "PYTHONUNBUFFERED": "1",
           "PATH": os.pathsep.join([os.path.join(sys.prefix, "bin"), "/usr/local/bin", "/usr/bin", "/bin"])}
    with open(log_path, "a", encoding="utf-8", opener=lambda path, flags: os.open(path, flags, 0o600)) as log:
        os.fchmod(log.fileno(), 0o600)
        start = log.tell()
        process = subprocess.Popen(service_command(site), cwd=site.course_dir, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   user=entry.pw_uid, group=entry.pw_gid,
                                   extra_groups=os.getgrouplist(entry.pw_name, entry.pw_gid),
                                   preexec_fn=die_with_parent)   # after the uid change, which clears it
    deadline = time.monotonic() + timeout
    while True:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            fh.seek(start)
            text = fh.read()
        if SERVICE_READY in text:
            return process
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                stop_service(process)
                why = f"did not start watching the exchange in {timeout:.0f} s"
            else:
                why = f"exited with status {process.returncode}"
            raise HubError(f"the grading service ({' '.join(service_command(site))}, as {site.instructor}) {why}"
                           f"\n{text[-3000:]}")
        time.sleep(0.2)


def stop_service(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the service (it ends its loop; a grading in progress is resumed at its next start, its queue
    being durable), SIGKILL it and its session after ``timeout``; then whatever it started that is left."""
    started = sorted(descendants(process.pid))
    terminate_session(process, timeout)
    _kill(started, grace=3.0)


# ------------------------------------------------------------------------------------------ clean-up
def clean(site: Site, log=print) -> None:
    """Remove what :func:`setup` made (as root): the accounts it made, with their homes (and the course
    directory in them), the exchange, the role configuration and the hub's state. Existing accounts and
    their homes stay; so does an exchange that was there before (only this course's folder in it goes)."""
    _require_root("removing the course hub")
    record = _record(site)
    users = list(dict.fromkeys([*record.get("accounts_made", []), *site.users]))
    ours = [name for name in users if is_ours(name)]
    uids = {pwd.getpwnam(n).pw_uid for n in ours}
    running = [int(p) for p in os.listdir("/proc") if p.isdigit() and _uid(int(p)) in uids]
    _kill(running, grace=3.0)
    for name in ours:
        entry = pwd.getpwnam(name)
        home = entry.pw_dir
        done = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        if _exists(name):
            raise HubError(f"userdel {name} failed: {done.stderr.strip()}")
        if os.path.isdir(home) and os.stat(home).st_uid == entry.pw_uid:  # userdel left it (files of others)
            shutil.rmtree(home)
        log(f"removed the account {name} and its home {home}")
    if record.get("existing_accounts") and record.get("course_dir"):
        log(f"kept {record['course_dir']} (the course directory in an existing account's home)")
    exchange = record.get("exchange", site.exchange)
    public_dir = record.get("public_dir", site.public_dir)
    if record.get("exchange_made"):
        shutil.rmtree(exchange, ignore_errors=True)
    else:
        shutil.rmtree(os.path.join(exchange, record.get("course_id", site.course_id)), ignore_errors=True)
    if record.get("public_dir_made") or os.path.exists(os.path.join(public_dir, _MADE_HERE)):
        shutil.rmtree(public_dir, ignore_errors=True)
        log(f"removed {public_dir} (exchange and role configuration)")
    else:
        shutil.rmtree(os.path.join(public_dir, "jupyter"), ignore_errors=True)
    if os.path.isdir(site.state_dir):
        shutil.rmtree(site.state_dir)
        log(f"removed the hub's state {site.state_dir}")


# ------------------------------------------------------------------------------------------ the command
_INTERRUPTED: list[float] = []


def _interrupt(signum, frame):
    """Ctrl-C, SIGTERM or SIGHUP: note when, ignore the next ones (stopping takes a few seconds), unwind."""
    _INTERRUPTED.append(time.monotonic())
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    print("\nstopping JupyterHub, its proxy and every user's server", file=sys.stderr, flush=True)
    raise KeyboardInterrupt


def banner(hub: Hub) -> str:
    site = hub.site
    rows = [("instructor", site.instructor)] + [("student", s) for s in site.students]
    lines = [f"JupyterHub for the course {site.course_id}: {hub.url}", ""]
    for role, name in rows:
        password = hub.passwords.get(name, "(the account's own password)")
        lines.append(f"  {role:<10}  {name:<16}  password: {password}")
    lines += ["",
              f"formgrader (instructor): {hub.user_url(site.instructor, 'formgrader')}",
              f"course directory: {site.course_dir} (owned by {site.instructor})",
              f"exchange: {site.exchange}",
              f"state: {site.state_dir} (log: {hub.log_path})"]
    if hub.service is not None:
        lines += [f"grading service: grades each submission as it arrives and releases its feedback to its "
                  f"student; runs as {site.instructor} in {site.course_dir} (log: {hub.service_log_path}; "
                  f"queue: python -m grader status --root {site.course_dir})"]
    else:
        lines += ["grading service: off (feedback when the instructor releases it in formgrader); "
                  "`make hub SERVE=1` (--serve) starts it with the hub"]
    lines.append("Ctrl-C stops the hub, its proxy" + (", the grading service" if hub.service is not None else "")
                 + " and every user's server; `make hub-clean` removes the accounts, their homes, the exchange "
                 "and the state.")
    return "\n".join(lines)


SERVICE_RESTART_SECONDS = 60.0   # a grading service that exits is started again, at most this often


def main(site: Site, port: int | None = None, serve: bool = False) -> int:
    """``python -m grader hub``: set up, start, print the URL and the logins, run until Ctrl-C/SIGTERM.

    ``serve``: the grading service too (:func:`start_service`); should it exit, its log's end is printed
    and it is started again (its queue is durable: nothing is lost or graded twice)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        passwords = setup(site)
        start = time.monotonic()
        with running_hub(site, passwords, port=port, serve=serve) as hub:
            print(f"\n{banner(hub)}\n(JupyterHub answered {time.monotonic() - start:.1f} s after its start)",
                  flush=True)
            while hub.process.poll() is None:
                time.sleep(0.5)
                said = hub.restart_service_if_exited(SERVICE_RESTART_SECONDS) if serve else ""
                if said:
                    print(said, file=sys.stderr, flush=True)
            print(f"JupyterHub exited with status {hub.process.returncode}\n{hub.log_tail(2000)}", file=sys.stderr)
            return hub.process.returncode or 1
    except KeyboardInterrupt:
        if _INTERRUPTED:
            print(f"stopped in {time.monotonic() - _INTERRUPTED[0]:.1f} s", file=sys.stderr)
        return 0
    except HubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def site_from_options(instructor: str | None = None, students: list[str] | None = None,
                      exchange: str | None = None, due: list[str] | None = None) -> Site:
    """The :class:`Site` of ``python -m grader hub``: the default accounts, or existing ones named by
    ``--instructor``/``--student`` (or ``HUB_INSTRUCTOR`` and ``HUB_STUDENTS``, names separated by spaces
    or commas); ``--exchange`` or ``HUB_EXCHANGE``; ``--due ASSIGNMENT=DATE`` (repeatable)."""
    instructor = instructor or os.environ.get("HUB_INSTRUCTOR") or None
    if not students and os.environ.get("HUB_STUDENTS"):
        students = os.environ["HUB_STUDENTS"].replace(",", " ").split()
    if bool(instructor) != bool(students):
        raise HubError("existing accounts need both an instructor and at least one student "
                       "(HUB_INSTRUCTOR=name HUB_STUDENTS='name name')")
    dates = {}
    for item in due or []:
        assignment, sep, when = item.partition("=")
        if not sep or not when.strip():
            raise HubError(f"--due {item!r}: expected ASSIGNMENT=DATE, e.g. 09_spatial='2026-03-01 17:00:00 UTC'")
        dates[assignment.strip()] = when.strip()
    site = Site(exchange=exchange or os.environ.get("HUB_EXCHANGE", ""), due=dates)
    if instructor:
        site = dataclasses.replace(site, instructor=instructor, students=tuple(students), existing_accounts=True)
    return site


def clean_main(site: Site) -> int:
    try:
        clean(site)
    except HubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
