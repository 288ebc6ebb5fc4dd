"""Unit: what ``python -m grader hub`` makes of its options, and the jupyterhub_config.py it writes
(read back with traitlets, as JupyterHub reads it). No root, no accounts, no servers."""
from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest
from traitlets.config.loader import PyFileConfigLoader

from grader.tools import hub


@pytest.fixture(autouse=True)
def no_hub_env(monkeypatch):
    for var in ("HUB_INSTRUCTOR", "HUB_STUDENTS", "HUB_EXCHANGE"):
        monkeypatch.delenv(var, raising=False)


def test_by_default_the_command_makes_its_own_accounts():
    site = hub.site_from_options()
    assert (site.instructor, site.students, site.existing_accounts) == (
        "tt-instructor", ("tt-alice", "tt-bob", "tt-carol"), False)
    assert site.exchange == "/srv/ml-systems-hub/exchange"
    assert site.state_dir == os.path.join(hub.REPO, ".hub", "state")
    assert site.role_config_dir("student") == "/srv/ml-systems-hub/jupyter/student"


def test_existing_accounts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HUB_INSTRUCTOR", "prof")
    monkeypatch.setenv("HUB_STUDENTS", "ann, ben  cid")
    monkeypatch.setenv("HUB_EXCHANGE", "/srv/nbgrader/exchange")
    site = hub.site_from_options(due=["09_spatial=2026-03-01 17:00:00 UTC"])
    assert (site.instructor, site.students, site.existing_accounts) == ("prof", ("ann", "ben", "cid"), True)
    assert site.exchange == "/srv/nbgrader/exchange"
    assert site.due == {"09_spatial": "2026-03-01 17:00:00 UTC"}
    assert [site.role(n) for n in site.users] == ["instructor", "student", "student", "student"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(instructor="prof"), "need both an instructor and at least one student"),
    (dict(students=["ann"]), "need both an instructor and at least one student"),
    (dict(due=["09_spatial"]), "expected ASSIGNMENT=DATE"),
    (dict(instructor="ann", students=["ann"]), "cannot be the instructor and a student"),
])
def test_wrong_options_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(hub.HubError, match=message):
        hub.site_from_options(**kwargs)


def test_the_hub_configuration_names_the_proxy_the_spawner_and_each_role(tmp_path):
    site = hub.Site(instructor="prof", students=("ann", "ben"), existing_accounts=True,
                    state_dir=str(tmp_path / "state"), public_dir=str(tmp_path / "public"))
    os.makedirs(site.state_dir)
    (tmp_path / "state" / "proxy_auth_token").write_text("proxy-secret\n")
    text = hub.hub_config(site, port=8100, hub_port=8101, proxy_api_port=8102, service_token="t" * 64)
    path = tmp_path / "state" / "jupyterhub_config.py"
    path.write_text(text)
    c = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8100/"
    assert c.JupyterHub.hub_bind_url == "http://127.0.0.1:8101"
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:8102"
    assert c.ConfigurableHTTPProxy.command == [hub.PROXY]
    assert c.ConfigurableHTTPProxy.auth_token == "proxy-secret"
    assert c.JupyterHub.db_url == f"sqlite:///{site.state_dir}/jupyterhub.sqlite"
    assert c.JupyterHub.authenticator_class == "pam" and c.JupyterHub.spawner_class == "localprocess"
    assert c.Authenticator.allowed_users == {"prof", "ann", "ben"} and c.Authenticator.admin_users == {"prof"}
    # students' servers in bubblewrap, the checkout hidden but for the environment; the instructor's as it is
    singleuser = [os.path.join(sys.prefix, "bin", "jupyterhub-singleuser")]
    assert c.Spawner.cmd == hub.confined_command(site, singleuser)
    repo = os.path.realpath(hub.REPO)
    assert c.Spawner.cmd[:4] == [sys.executable, "-I", "-S", os.path.join(repo, "grader", "tools", "hub_confine.py")]
    bwrap = c.Spawner.cmd[4:]
    assert bwrap[bwrap.index("--tmpfs") + 1] == repo and bwrap[-2:] == ["--", *singleuser]
    assert hub.student_view(site) == [(os.path.join(repo, ".venv"), False)]
    assert bwrap[bwrap.index("--ro-bind") + 1:][:2] == [os.path.join(repo, ".venv")] * 2
    spawners = {name: SimpleNamespace(user=SimpleNamespace(name=name), cmd=list(c.Spawner.cmd)) for name in site.users}
    for spawner in spawners.values():
        c.Spawner.pre_spawn_hook(spawner)
    assert {name: s.cmd for name, s in spawners.items()} == {
        "prof": singleuser, "ann": c.Spawner.cmd, "ben": c.Spawner.cmd}
    assert c.Spawner.default_url == "/lab"
    role_path = c.Spawner.environment["JUPYTER_CONFIG_PATH"]
    assert {name: role_path(SimpleNamespace(user=SimpleNamespace(name=name))) for name in site.users} == {
        "prof": str(tmp_path / "public" / "jupyter" / "instructor"),
        "ann": str(tmp_path / "public" / "jupyter" / "student"),
        "ben": str(tmp_path / "public" / "jupyter" / "student")}
    assert c.JupyterHub.services == [{"name": "course-tools", "api_token": "t" * 64}]


def test_what_students_see_of_the_checkout_follows_where_the_hub_s_files_are(tmp_path):
    """The environment always; the students' configuration and the exchange when they lie in the checkout."""
    repo = os.path.realpath(hub.REPO)
    venv = (os.path.realpath(sys.prefix), False)
    outside = hub.Site(instructor="prof", students=("ann",), existing_accounts=True, public_dir=str(tmp_path))
    assert hub.student_view(outside) == [venv]
    inside = hub.Site(instructor="prof", students=("ann",), existing_accounts=True,
                      public_dir=os.path.join(repo, ".hub", "public"))
    assert hub.student_view(inside) == sorted([
        venv, (os.path.join(repo, ".hub", "public", "exchange"), True),
        (os.path.join(repo, ".hub", "public", "jupyter", "student"), False)])
    bwrap = hub.confined_command(inside, ["jupyterhub-singleuser"])
    assert bwrap.index("--tmpfs") < bwrap.index("--bind") < bwrap.index("--remount-ro")
    with pytest.raises(hub.HubError, match="is the checkout"):
        hub.student_view(hub.Site(instructor="prof", students=("ann",), existing_accounts=True, exchange=repo))
