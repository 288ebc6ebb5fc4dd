"""`make hub` (grader/tools/hub.py): a real JupyterHub, PAM logins, servers as Linux users, nbgrader per role.

One hub for the module, started by the code behind ``python -m grader hub`` on free ports on
127.0.0.1, with its state in the test's tmp dir, for throwaway accounts made for this run
(``tt-i-<hex>``, ``tt-s-<hex>``) and removed in teardown with everything the hub made. The tests
run in order: what setup made, then logins and servers over HTTP as a person would (the login
form with its ``_xsrf`` token and the account's real password), then what the student's server, kernel
and terminal see of the checkout (through ``/proc/<pid>/root``), then stopping the hub.
"""
from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import socket
import stat
import sys
import time

import pytest

from grader.tools import hub, hub_confine

from .sites import throwaway_site

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]   # a silent hang ends the test, not CI

DUE = "2030-01-15 17:00:00 UTC"


def uid_of(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def proc_status(pid: int | str) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def processes_of(uids: set[int]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if int(proc_status(int(entry))["Uid"].split()[0]) in uids:
                    found.append(int(entry))
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((hub.HOST, port)) == 0


def service_port(pid: int) -> int:
    """The port a single-user server listens on: the spawner passes its URL in the environment."""
    with open(f"/proc/{pid}/environ", "rb") as fh:
        env = dict(item.split(b"=", 1) for item in fh.read().split(b"\0") if b"=" in item)
    return int(re.match(rb"http://127\.0\.0\.1:(\d+)/", env[b"JUPYTERHUB_SERVICE_URL"]).group(1))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with throwaway_site(str(tmp_path_factory.mktemp("hub") / "state"), "s", generate=False) as site:
        yield site


@pytest.fixture(scope="module")
def timings():
    return {}


@pytest.fixture(scope="module")
def stack(site, timings):
    """setup + the running hub; the last test closes it (stops the hub), teardown does if it did not."""
    with contextlib.ExitStack() as stack:
        start = time.monotonic()
        passwords = hub.setup(site, log=lambda *a: None)
        timings["setup"] = time.monotonic() - start
        start = time.monotonic()
        stack.hub = stack.enter_context(hub.running_hub(site, passwords))
        timings["hub"] = time.monotonic() - start
        print(f"\n[hub] setup {timings['setup']:.1f} s, hub answering {timings['hub']:.1f} s later")
        yield stack


@pytest.fixture(scope="module")
def running(stack):
    return stack.hub


def test_setup_makes_the_accounts_the_exchange_the_course_copy_and_the_role_configuration(site, running):
    for name in site.users:
        entry = pwd.getpwnam(name)
        assert entry.pw_gecos == hub.MARKER and entry.pw_shell == "/bin/bash", entry
        assert stat.S_IMODE(os.stat(entry.pw_dir).st_mode) == 0o700, entry.pw_dir
        assert re.fullmatch(r"([a-z2-9]{4}-){3}[a-z2-9]{4}", running.passwords[name]), running.passwords
    # nbgrader's multi-user exchange: world-writable, sticky
    assert stat.S_IMODE(os.stat(site.exchange).st_mode) == 0o1777
    # the instructor's course directory: the course, owned by the instructor, on the shared exchange
    course_dir = running.course_dir
    assert course_dir == os.path.join(pwd.getpwnam(site.instructor).pw_dir, "ml-systems")
    owners = {os.lstat(os.path.join(d, f)).st_uid for d, _, fs in os.walk(course_dir) for f in fs}
    assert owners == {uid_of(site.instructor)}
    assert sorted(os.listdir(os.path.join(course_dir, "release"))) == ["04_losses", "09_spatial"]
    config = hub.course.load_config(course_dir)
    assert config.Exchange.root == site.exchange and config.CourseDirectory.course_id == "ml-systems"
    assert config.CourseDirectory.db_url == f"sqlite:///{course_dir}/gradebook.db"
    assert config.AssignLatePenalties.plugin_class == "grader.engine.nbgrader_ext.late.SubMarks"
    # per-role configuration: students lose formgrader, the course list and create-assignment
    student = site.role_config_dir("student")
    with open(os.path.join(student, "jupyter_server_config.json")) as fh:
        assert json.load(fh) == {"ServerApp": {"jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": False, "nbgrader.server_extensions.course_list": False}}}
    with open(os.path.join(site.role_config_dir("instructor"), "nbgrader_config.py")) as fh:
        assert f"load_subconfig('nbgrader_config.py', path={course_dir!r})" in fh.read()


def test_logins_servers_and_what_each_role_gets(site, running, timings):
    import requests
    instructor, (student,) = site.instructor, site.students
    # PAM: the real password logs in, another one does not
    refused = requests.Session()
    refused.get(f"{running.url}hub/login", timeout=30)
    answer = refused.post(f"{running.url}hub/login", allow_redirects=False, timeout=60,
                          data={"username": student, "password": "not-" + running.passwords[student],
                                "_xsrf": refused.cookies.get("_xsrf", "")})
    assert answer.status_code == 403 and "Invalid username or password" in answer.text, answer.status_code
    sessions = {name: running.login(name) for name in site.users}
    assert all("jupyterhub-hub-login" in s.cookies for s in sessions.values())

    for name in site.users:
        start = time.monotonic()
        assert running.start_server(name) == f"{running.url}user/{name}/"
        timings[f"spawn {site.role(name)}"] = time.monotonic() - start
        # the server runs as the account's uid and gid, nothing else
        pid = running.server_pid(name)
        status = proc_status(pid)
        entry = pwd.getpwnam(name)
        assert status["Uid"].split() == [str(entry.pw_uid)] * 4, (name, status["Uid"])
        assert status["Gid"].split() == [str(entry.pw_gid)] * 4, (name, status["Gid"])
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().decode().split("\0")
        assert argv[1] == os.path.join(sys.prefix, "bin", "jupyterhub-singleuser"), argv
        assert os.readlink(f"/proc/{pid}/cwd") == entry.pw_dir
    print("[hub] " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))

    # the instructor: formgrader over the course copy, with the due date set in the gradebook
    teacher = sessions[instructor]
    page = teacher.get(running.user_url(instructor, "formgrader"), timeout=120)
    assert page.status_code == 200 and page.url.endswith("/formgrader/manage_assignments"), (page.status_code, page.url)
    assert "nbgrader formgrade" in page.text
    running.set_due_date("09_spatial", DUE)
    listed = teacher.get(running.user_url(instructor, "formgrader/api/assignments"), timeout=60).json()
    assert {a["name"]: a["duedate"] for a in listed} == {"04_losses": None, "09_spatial": "2030-01-15T17:00:00"}
    lab = teacher.get(running.user_url(instructor, "lab"), timeout=60)
    assert lab.status_code == 200 and "@jupyter/nbgrader:formgrader" not in lab_page_config(lab.text)

    # the student: no formgrader, the Assignments list on the shared exchange (nothing released yet)
    pupil = sessions[student]
    assert pupil.get(running.user_url(student, "formgrader"), timeout=60).status_code == 404
    assert pupil.get(running.user_url(student, "formgrader/api/assignments"), timeout=60).status_code == 404
    listing = pupil.get(running.user_url(student, "assignments"), params={"course_id": "ml-systems"}, timeout=60)
    assert listing.status_code == 200 and listing.json() == {"success": True, "value": []}, listing.text[:500]
    lab = pupil.get(running.user_url(student, "lab"), timeout=60)
    disabled = lab_page_config(lab.text)
    assert lab.status_code == 200 and set(hub.STUDENT_LAB_PLUGINS_OFF) <= disabled, disabled
    assert "@jupyter/nbgrader:assignment-list" not in disabled
    # a kernel of the student's (stopping the hub must end it too)
    kernel = pupil.post(running.user_url(student, "api/kernels"), json={"name": "python3"}, timeout=60,
                        headers={"X-XSRFToken": pupil.cookies.get("_xsrf", path=f"/user/{student}/") or ""})
    assert kernel.status_code == 201, kernel.text[:500]
    # one user's session does not open another's server
    assert pupil.get(running.user_url(instructor, "formgrader"), timeout=60).status_code in (403, 404)


def lab_page_config(html: str) -> set[str]:
    """The JupyterLab plugins a lab page says are disabled (its jupyter-config-data)."""
    data = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert data, html[:500]
    return set(json.loads(data.group(1)).get("disabledExtensions", []))


def descendants(pid: int) -> list[int]:
    found, todo = [], hub_confine.children(pid)
    while todo:
        found.append(todo.pop(0))
        todo += hub_confine.children(found[-1])
    return found


def argv_of(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().decode(errors="replace").split("\0")


def sandbox_proc(pid: int, spawned: int) -> tuple[set[str], bool]:
    """What the /proc of ``pid``'s sandbox lists: the uids of its processes, and whether they are exactly the
    processes below bubblewrap's monitor (by their pids in the namespace; asked again while a login shell's
    short-lived children come and go)."""
    owners: set[str] = set()
    for _ in range(20):
        inside = {e for e in os.listdir(f"/proc/{pid}/root/proc") if e.isdigit()}
        with contextlib.suppress(OSError, KeyError):
            owners = {proc_status(f"{pid}/root/proc/{n}")["Uid"].split()[0] for n in inside}
            below = {proc_status(p)["NSpid"].split()[-1] for p in descendants(spawned)[1:]}  # not the monitor
            if inside == below:
                return owners, True
        time.sleep(0.25)
    return owners, False


def test_students_servers_kernels_and_terminals_see_nothing_of_the_checkout_but_its_environment(site, running):
    """What a process of the student's sees, read from the host through /proc/<pid>/root (its mount namespace)."""
    instructor, (student,) = site.instructor, site.students
    repo = os.path.realpath(hub.REPO)
    hidden = os.path.join(repo, "assignments", "09_spatial", "hidden_checks.py")
    assert os.path.isfile(hidden)
    assert stat.S_IMODE(os.stat(running.log_path).st_mode) == 0o600   # the servers' log, through their stdout

    # the instructor's server: started as it is, the checkout as it is (formgrader grades with its packages)
    teacher = running.server_pid(instructor)
    assert running.spawner_pid(instructor) == teacher
    assert os.path.isfile(f"/proc/{teacher}/root{hidden}")
    assert os.listdir(f"/proc/{teacher}/root{repo}") == os.listdir(repo)

    # the student's: the spawner's process passes signals to bubblewrap's command, the server
    server = running.server_pid(student)
    spawned = running.spawner_pid(student)
    assert argv_of(spawned)[2:4] == ["-S", os.path.join(repo, "grader", "tools", "hub_confine.py")]
    assert server in descendants(spawned) and server != spawned
    session = running.login(student)
    lab = session.get(running.user_url(student, "lab"), timeout=60)
    assert lab.status_code == 200 and set(hub.STUDENT_LAB_PLUGINS_OFF) <= lab_page_config(lab.text)
    xsrf = {"X-XSRFToken": session.cookies.get("_xsrf", path=f"/user/{student}/") or ""}
    before = set(descendants(server))
    kernel = session.post(running.user_url(student, "api/kernels"), json={"name": "python3"}, headers=xsrf,
                          timeout=60)
    assert kernel.status_code == 201, kernel.text[:500]
    terminal = session.post(running.user_url(student, "api/terminals"), headers=xsrf, timeout=60)
    assert terminal.status_code == 200, terminal.text[:500]
    started = [p for p in hub_confine.children(server) if p not in before]   # not a login shell's short-lived ones
    kernels = [p for p in started if any(f"kernel-{kernel.json()['id']}.json" in a for a in argv_of(p))]
    shells = [p for p in started if os.path.basename(argv_of(p)[0]) in ("bash", "sh")]
    assert len(kernels) == 1 and len(shells) == 1, [argv_of(p) for p in started]

    student_uid = str(uid_of(student))
    for pid in (server, *kernels, *shells):
        assert os.listdir(f"/proc/{pid}/root{repo}") == [".venv"], argv_of(pid)
        assert not os.path.exists(f"/proc/{pid}/root{hidden}")
        assert os.path.isfile(f"/proc/{pid}/root{repo}/.venv/bin/jupyterhub-singleuser")
        assert os.readlink(f"/proc/{pid}/cwd") == pwd.getpwnam(student).pw_dir
        # its /proc: the processes of the student's sandbox, nothing of the host's or the instructor's
        assert sandbox_proc(pid, spawned) == ({student_uid}, True)
    # the course's packages do not import, as the student: what setup checked before the hub started
    assert hub.check_confinement(site, student) == {"listing": [".venv"], "importable": []}
    # the server still answers: nbgrader's Assignments list over the shared exchange
    listing = session.get(running.user_url(student, "assignments"), params={"course_id": "ml-systems"}, timeout=60)
    assert listing.status_code == 200 and listing.json()["success"], listing.text[:500]


def test_stopping_the_hub_ends_every_process_of_its_users_and_frees_the_ports(site, stack, running):
    uids = {uid_of(name) for name in site.users}
    pids = {name: running.server_pid(name) for name in site.users}
    ports = [running.port, running.hub_port, running.proxy_api_port] + [service_port(p) for p in pids.values()]
    assert all(listening(port) for port in ports), ports
    assert len(processes_of({uid_of(site.students[0])})) >= 2, "the student's server and kernel should run"
    start = time.monotonic()
    stack.close()
    took = time.monotonic() - start
    print(f"[hub] stopped in {took:.1f} s")
    assert running.process.returncode is not None
    assert took < 30, f"stopping took {took:.1f} s"
    # what stop() killed last may need a moment to be reaped: wait a little, never long
    deadline = time.monotonic() + 5
    while (processes_of(uids) or any(listening(port) for port in ports)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert describe(processes_of(uids)) == []
    assert [port for port in ports if listening(port)] == []


def describe(pids: list[int]) -> list[str]:
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().decode(errors="replace").split("\0")
            found.append(f"{pid} {proc_status(pid)['State']} {' '.join(argv)[:120]}")
    return found
