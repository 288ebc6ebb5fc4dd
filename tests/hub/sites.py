"""Throw-away hub sites for the hub tests: accounts made for the run, removed with everything the hub made."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile

from grader.tools import hub


@contextlib.contextmanager
def throwaway_site(state_dir: str, student_letters: str, **options):
    """A :class:`hub.Site` for ``tt-i-<tag>`` and one ``tt-<letter>-<tag>`` per letter; cleaned on exit."""
    assert os.geteuid() == 0, "the hub tests make Linux accounts and start servers as them: run them as root"
    tag = secrets.token_hex(3)
    # the course's users read the exchange and their role's configuration here (pytest's tmp dirs are 0700)
    public = tempfile.mkdtemp(prefix="tt-hub-", dir="/tmp")
    os.chmod(public, 0o755)
    site = hub.Site(instructor=f"tt-i-{tag}", students=tuple(f"tt-{x}-{tag}" for x in student_letters),
                    public_dir=public, state_dir=state_dir, **options)
    try:
        yield site
    finally:
        hub.clean(site, log=lambda *a: None)
        shutil.rmtree(public, ignore_errors=True)
