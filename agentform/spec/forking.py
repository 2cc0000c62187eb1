"""Run a function in a forked child process and get its result back, pickled through a pipe.

Used where loading a large spec has independent CPU-bound work to share between CPUs: parsing
the parts of one large file (:mod:`agentform.spec.split`) and building the base spec and its
environments (:mod:`agentform.spec.parallel`). A forked child inherits everything the parent has
built without copying or pickling it; only its result crosses back. Every failure (no ``fork``,
a child that raises, dies or sends something unreadable) comes back as "no result", and the
callers then do the work themselves, so a result never depends on whether a fork worked.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Forked", "abandon", "can_fork", "collect", "fork_call", "usable_cpus"]


@dataclass
class Forked:
    """A child process computing one result, and the read end of its pipe."""

    pid: int
    fd: int


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether forking is available and safe here.

    Not on macOS (system libraries are not safe to use in a forked child) and not while other
    threads run (a forked child gets only the calling thread; locks held by others stay held).
    """
    return hasattr(os, "fork") and sys.platform != "darwin" and threading.active_count() == 1


def fork_call(fn: Callable[[], Any]) -> Forked | None:
    """Start ``fn()`` in a forked child; ``None`` when no child could be started."""
    if not hasattr(os, "fork"):
        return None
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # pragma: no cover  (the child: coverage does not follow it)
        status = 1
        try:
            os.close(read_fd)
            payload = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
            status = 0
        except BaseException:  # the parent does the work itself
            status = 1
        finally:
            os._exit(status)  # no atexit handlers, no flushing of the parent's buffers
    os.close(write_fd)
    return Forked(pid, read_fd)


def collect(job: Forked) -> tuple[bool, Any]:
    """Wait for the child: ``(True, result)``, or ``(False, None)`` when it failed."""
    status = 0
    try:
        with os.fdopen(job.fd, "rb") as pipe:
            data = pipe.read()
    finally:
        # with SIGCHLD ignored the child is reaped already: then only the data is checked
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(job.pid, 0)
    if status != 0:
        return False, None
    try:
        return True, pickle.loads(data)  # written by our own child, above
    except Exception:
        return False, None


def abandon(job: Forked) -> None:
    """Stop a child whose result is no longer wanted (the parent failed or was interrupted)."""
    with contextlib.suppress(OSError):
        os.kill(job.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.close(job.fd)
    with contextlib.suppress(OSError):
        os.waitpid(job.pid, 0)
