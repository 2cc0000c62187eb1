"""A throwaway PostgreSQL cluster on 127.0.0.1, for tests and benchmarks of the SQL backends.

:func:`throwaway_cluster` runs ``initdb`` into a temporary directory, starts it with ``pg_ctl`` on
a free port (``fsync=off``: nothing here must survive a crash of the machine), creates the
database ``agentform`` for the user ``agentform`` (trust authentication, loopback only), yields
its URL, and always stops and removes it. The binaries come from ``PATH`` or Debian's
``/usr/lib/postgresql/*/bin`` (``.ci/run`` installs the ``postgresql`` package); as root the
server runs as ``nobody`` (PostgreSQL refuses to run as root). Used by the state, runtime and
memory test fixtures and by ``benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PostgresUnavailable", "binaries", "throwaway_cluster"]


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, if any."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _as_postgres_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--", *argv]
    return ["su", "-s", "/bin/sh", "nobody", "-c", " ".join(argv)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster(prefix: str = "agentform-pg-") -> Iterator[str]:
    """``postgresql+psycopg://agentform@127.0.0.1:PORT/agentform``, removed afterwards."""
    bindir = binaries()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL binaries (initdb) not found on PATH or under /usr/lib/postgresql;"
            " install the postgresql package"
        )
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    data, sockets, log = root / "data", root / "sockets", root / "log"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        shutil.chown(sockets, "nobody")
    port = _free_port()
    user = "agentform"

    def run(*argv: str) -> None:
        subprocess.run(_as_postgres_user(list(argv)), check=True, capture_output=True, cwd=root)

    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        started = True
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, "agentform"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/agentform"
    finally:
        if started:
            with contextlib.suppress(subprocess.CalledProcessError):
                run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
