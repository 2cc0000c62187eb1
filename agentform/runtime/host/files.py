"""The files of a local engine's directory, and the small rules about them.

:class:`EngineFiles` names them (``engine.json`` with the pid and addresses, the control API's
token, the one-engine lock, the engine's log and the agents' (rotated by :mod:`.logfiles`),
``resources.json`` with what apply registered, the embedded NATS server's store);
:func:`write_atomic` replaces one without a reader ever seeing half of it, private to its owner;
:func:`ordered` is the order a restarted engine brings resources back in (the bus and store
first, agents last); :func:`resolve_store_url` makes a relative SQLite URL relative to the spec's
directory. Used by :mod:`agentform.runtime.host.engine` and the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentform import private
from agentform.addresses import Address
from agentform.contract.values import DEFAULT_STORE_URL

__all__ = [
    "EngineFiles",
    "env_suffix",
    "ordered",
    "resolve_store_url",
    "store_url_for",
    "tail",
    "write_atomic",
]


class EngineFiles:
    """The files of one engine directory (``.agentform/engine`` or ``engine-<env>``)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = Path(workdir)
        self.info = self.dir / "engine.json"
        self.token = self.dir / "engine.token"
        self.lock = self.dir / "engine.lock"
        self.log = self.dir / "engine.log"
        self.logs = self.dir / "logs"  # AGENT.log: the agent's workers (supervisor)
        self.resources = self.dir / "resources.json"
        self.nats = self.dir / "nats"

    @property
    def environment(self) -> str:
        """The environment this engine runs (its directory says, :func:`env_suffix`)."""
        name = self.dir.name
        return name.removeprefix("engine-") if name.startswith("engine-") else "default"


def env_suffix(environment: str) -> str:
    """What names an environment's own engine directory, runtime project and default store:
    nothing for the default environment, ``-ENV`` for the others."""
    return "" if environment in ("", "default") else f"-{environment}"


def write_atomic(path: Path, text: str, mode: int = private.FILE_MODE) -> None:
    """Replace ``path`` with ``text``; the file and its directory are the owner's alone."""
    private.directory(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)


def tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


def ordered(saved: Mapping[str, Any]) -> list[str]:
    rank = {"runtime": 0, "model": 1, "tool": 1, "memory": 1, "policy": 1, "filter": 1, "agent": 2}
    return sorted(saved, key=lambda a: (rank.get(Address.kind_of(a), 3), a))


def store_url_for(url: str | None, environment: str) -> str:
    """The runtime store of ``environment`` when the spec says ``url``: the default store is
    each environment's own file (``.agentform/runtime-<env>.db`` beside the default
    environment's ``runtime.db``), as each has its own engine, bus and schedules; a store the
    spec names is used as named."""
    if url and url != DEFAULT_STORE_URL:
        return url
    return DEFAULT_STORE_URL.replace("runtime.db", f"runtime{env_suffix(environment)}.db")


def resolve_store_url(url: str, base_dir: Path) -> str:
    """``sqlite:///relative.db`` is relative to the spec's directory, not the process's cwd."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        return prefix + str((base_dir / url[len(prefix) :]).resolve())
    return url
