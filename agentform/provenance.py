"""Where an apply came from, recorded with every state serial it writes: the git commit the
spec's directory is checked out at (``+dirty`` with local changes outside ``.agentform/``), and
who ran it (the OS user, or ``AGENTFORM_USER`` in CI). Called by :mod:`agentform.workflow`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

__all__ = ["apply_user", "git_commit"]


def git_commit(directory: str | os.PathLike[str]) -> str | None:
    """The commit the spec's directory is checked out at (``+dirty`` with local changes)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(directory), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    dirty = git("status", "--porcelain", "--", ".", ":!.agentform")
    return f"{commit}+dirty" if dirty else commit


def apply_user(environ: Mapping[str, str]) -> str:
    """Who runs this apply: the OS user (``AGENTFORM_USER`` names someone else, e.g. in CI)."""
    import getpass

    named = environ.get("AGENTFORM_USER")
    if named:
        return named
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
