"""Files only their owner may read: the project's ``.agentform/`` and what agentform keeps in it.

``.agentform/`` holds the recorded state, the runtime store (task inputs and answers, memory,
token hashes), the engine's token, logs and the workers' configurations: on a shared host no
other user may read them. This module owns the modes (:data:`DIR_MODE` 0700, :data:`FILE_MODE`
0600) and the ways to keep to them: :func:`directory` and :func:`file` make one private (or
tighten the one that is there), :func:`tighten` walks a tree an older version left readable, and
the engine runs under :data:`UMASK`, so what it, SQLite or nats-server creates is private from
the start. Tightening only takes bits away (group and others'), never adds the owner's.

Used by the state store and the runtime store (their SQLite files, :mod:`agentform.database`),
the engine's client (the engine directory and its log) and the engine (its whole tree, at start).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "UMASK", "directory", "file", "tighten"]

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077  # the bits taken away: the engine runs under it, tightening clears them


def _tighten_one(path: Path) -> None:
    # not through a symbolic link: a link under .agentform/ may point at a user's own file
    with contextlib.suppress(OSError):  # gone meanwhile, or another user's: nothing to do
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & UMASK:
            path.chmod(stat.S_IMODE(mode) & ~UMASK)


def directory(path: Path) -> Path:
    """``path`` as a directory only its owner may enter: made (with missing parents) or
    tightened. Parents that existed keep their modes; the ones made here are private too."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for made in missing:  # mkdir gives parents the default mode
        _tighten_one(made)
    _tighten_one(path)
    return path


def file(path: Path) -> Path:
    """``path`` as a file only its owner may read: made empty (its directory must exist) or
    tightened. A file made here is never readable by others, not even for an instant."""
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _tighten_one(path)
    return path


def tighten(root: Path) -> None:
    """Take group and others' bits off ``root`` and everything under it (links are left)."""
    root = Path(root)
    if not root.is_dir() or root.is_symlink():
        _tighten_one(root)
        return
    _tighten_one(root)
    for folder, dirs, files in os.walk(root):  # does not follow links to directories
        for name in (*dirs, *files):
            _tighten_one(Path(folder) / name)
