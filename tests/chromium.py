"""Debian's Chromium for the browser tests, driven by Playwright (never a Playwright browser download)."""
from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
# headless as root; no background connections (this machine's network is closed: they would fail, many at once)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(playwright, env: dict | None = None):
    """Chromium from /usr/bin with :data:`CHROMIUM_ARGS` (``env``: its HOME and XDG folders in the test's tmp dir)."""
    assert os.access(CHROMIUM, os.X_OK), f"Debian's Chromium is missing at {CHROMIUM} (make sysdeps installs it)"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)
