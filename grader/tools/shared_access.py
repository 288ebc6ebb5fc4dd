"""Let the course's other Linux users (hub accounts, an instructor who grades without root) reach the
course software: the checkout with its ``.venv`` and the Python interpreter the environment is built on.

A user runs ``.venv/bin/python`` only if every directory above the interpreter and the checkout lets it
pass (``x``).  Where one does not (a checkout or an interpreter under ``/root``, mode 0700), this adds
``o+x`` to that directory: others may then pass through it to a path they know, but not list it.
Nothing else of the directory's mode changes.
"""
from __future__ import annotations

import os
import stat
import sys

__all__ = ["blocking_directories", "open_traversal", "main"]


def software_paths(repo: str) -> list[str]:
    """What a course user must reach: the checkout and the real location of the base interpreter."""
    return [os.path.realpath(repo), os.path.realpath(sys.base_prefix), os.path.realpath(sys.executable)]


def blocking_directories(paths: list[str]) -> list[str]:
    """The directories above (and including) ``paths`` that others cannot pass through, outermost first."""
    blocked: list[str] = []
    for path in paths:
        parts = os.path.realpath(path).split(os.sep)
        for i in range(2, len(parts) + 1):
            d = os.sep.join(parts[:i]) or os.sep
            if os.path.isdir(d) and not os.stat(d).st_mode & stat.S_IXOTH and d not in blocked:
                blocked.append(d)
    return blocked


def open_traversal(paths: list[str], log=print) -> list[str]:
    """Add ``o+x`` to every directory :func:`blocking_directories` names; returns them."""
    opened = blocking_directories(paths)
    for d in opened:
        mode = stat.S_IMODE(os.stat(d).st_mode)
        os.chmod(d, mode | stat.S_IXOTH)
        log(f"shared access: {d} {mode:04o} -> {mode | stat.S_IXOTH:04o} (others may pass through, not list)")
    return opened


def main(repo: str) -> int:
    blocked = blocking_directories(software_paths(repo))
    if not blocked:
        return 0
    if os.geteuid() != 0:
        print("course users cannot reach the course software through: " + ", ".join(blocked)
              + "; as root: make shared-access", file=sys.stderr)
        return 1
    open_traversal(software_paths(repo))
    return 0


if __name__ == "__main__":
    sys.exit(main(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
