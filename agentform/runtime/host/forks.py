"""The fork server: workers started by forking a process that has already imported them.

A worker started as ``python -m agentform.runtime worker`` pays for an interpreter and the
runtime's imports every time (half a second on a quiet machine, seconds on a loaded one), and a
rollout or a crash restart waits for it. Instead the engine keeps one fork server
(``python -m agentform.runtime forks``, started from a clean interpreter, never forked from the
engine itself): a single-threaded process that imports the worker's modules once and forks a
worker for each request, as application servers do (gunicorn's preload, Android's zygote).

* :func:`agentform.runtime.host.fork_server.serve` is the fork server's whole life: preload,
  then read one JSON request a line on stdin (``{"ref", "config", "worker", "cwd", "env",
  "log"}``), fork, answer ``{"ref", "pid"}`` on stdout, and report each child's end
  (``{"exited": pid, "code": code}``) as it reaps it. It runs no event loop and holds no
  connection, thread or lock, so a child inherits nothing of the kind; the child points its
  stdin at ``/dev/null`` and stdout/stderr at the agent's log, closes every other descriptor,
  takes the environment, directory and umask a worker started by the engine would have, and
  runs :func:`~agentform.runtime.worker.process.run_worker`. It stays in the engine's process
  group, as an exec'd worker does. EOF on stdin means the engine is gone: the server exits, and
  its workers notice that their parent went away and stop, exactly as exec'd workers do when
  the engine dies.
* :class:`ForkServer` is the engine's side (used by :mod:`agentform.runtime.host.supervisor`):
  it starts the server, sends requests and hands back a :class:`ForkedProcess` per worker,
  which the supervisor waits for, signals and kills by pid like an ``asyncio`` subprocess. The
  engine holds a pidfd of each worker, so a signal never reaches a recycled pid and an exit is
  seen even if the fork server itself died.

``AGENTFORM_WORKER_START=exec`` (read by :func:`enabled`) turns forking off: workers are exec'd
as before. Forking is also off where ``os.fork`` or pidfds are missing (not Linux), and a fork
server that cannot start or dies is noted and replaced by exec'd workers until it starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "START",
    "ForkError",
    "ForkServer",
    "ForkedProcess",
    "Forks",
    "enabled",
    "forks_of",
]

log = logging.getLogger("agentform.engine")
START = "AGENTFORM_WORKER_START"  # "exec": no fork server, every worker is a new interpreter
READY_TIMEOUT = 120.0  # seconds for the fork server to import everything (a loaded machine)


class ForkError(Exception):
    """The fork server could not start a worker; the caller starts it as a new process."""


def enabled() -> bool:
    """Whether workers are forked: on unless ``AGENTFORM_WORKER_START=exec`` or unsupported."""
    if os.environ.get(START, "fork").strip().lower() == "exec":
        return False
    needed = (hasattr(os, "fork"), hasattr(os, "pidfd_open"), hasattr(signal, "pidfd_send_signal"))
    return all(needed)


# -- the engine's side --------------------------------------------------------------------------


class ForkedProcess:
    """A worker forked by the fork server, seen by the engine as a subprocess is: ``pid``,
    ``returncode`` (None while it runs; -1 when it ended but its code is unknown), ``wait``,
    ``send_signal`` and ``kill`` (through a pidfd: never a recycled pid)."""

    def __init__(self, pid: int, server: ForkServer) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._server = server
        self._ended = asyncio.Event()
        self._gone = False  # the pidfd says it ended; its code comes from the fork server
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._gone = True  # ended and reaped already: its exit report is on its way
        else:
            asyncio.get_running_loop().add_reader(self._pidfd, self._on_pidfd)

    def _on_pidfd(self) -> None:
        self._gone = True
        self._close_pidfd()
        if not self._server.alive:
            self.ended(-1)

    def ended(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._close_pidfd()
        self._ended.set()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    async def wait(self) -> int:
        await self._ended.wait()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None or self._pidfd is None:
            raise ProcessLookupError(f"worker pid {self.pid} has ended")
        signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The engine's fork server: :meth:`start` it, :meth:`spawn` workers, :meth:`close` it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._early: dict[int, int] = {}  # exits reported before their spawn reply was read
        self._count = 0
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        self.alive = True

    @classmethod
    async def start(cls, workdir: Path) -> ForkServer:
        """Start the fork server and wait until it has imported the worker's modules."""
        server = await cls.launch(workdir)
        await server.until_ready()
        return server

    async def until_ready(self) -> None:
        """Wait until the launched server has imported the worker's modules; if it does not
        within :data:`READY_TIMEOUT`, close it and raise :class:`ForkError`."""
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT)
        except (TimeoutError, ForkError) as exc:
            await self.close()
            raise ForkError(f"the fork server did not start: {exc or 'timed out'}") from None
        log.info("fork server up (pid %d)", self._process.pid)

    @classmethod
    async def launch(cls, workdir: Path) -> ForkServer:
        """Start the fork server process; it imports while the caller goes on."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agentform.runtime",
            "forks",
            "--dir",
            str(workdir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # its own complaints go to the engine's log
        )
        return cls(process)

    async def spawn(
        self, *, config: Path, worker: str, cwd: str, env: Mapping[str, str], log_path: Path
    ) -> ForkedProcess:
        """Fork one worker; raises :class:`ForkError` when the fork server cannot."""
        if not self.alive or self._process.stdin is None:
            raise ForkError("the fork server has exited")
        self._count += 1
        ref = str(self._count)
        reply = self._replies[ref] = asyncio.get_running_loop().create_future()
        request = {
            "ref": ref,
            "config": str(config),
            "worker": worker,
            "cwd": cwd,
            "env": dict(env),
            "log": str(log_path),
        }
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            await self._process.stdin.drain()
            answer = await asyncio.wait_for(reply, 30.0)
        except (OSError, TimeoutError) as exc:
            raise ForkError(f"the fork server did not answer ({exc!r})") from None
        finally:
            self._replies.pop(ref, None)
        if "pid" not in answer:
            raise ForkError(str(answer.get("error") or "the fork server could not fork"))
        pid = int(answer["pid"])
        child = self._children[pid] = ForkedProcess(pid, self)
        if pid in self._early:
            child.ended(self._early.pop(pid))
            self._children.pop(pid, None)
        return child

    async def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "ready" in message and not self._ready.done():
                    self._ready.set_result(None)
                elif "exited" in message:
                    pid, code = int(message["exited"]), int(message["code"])
                    child = self._children.pop(pid, None)
                    if child is not None:
                        child.ended(code)
                    else:
                        self._early[pid] = code
                elif "ref" in message:
                    waiting = self._replies.get(str(message["ref"]))
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message)
        finally:
            self._gone()

    def _gone(self) -> None:
        """The fork server exited: nothing more will be reported through it."""
        self.alive = False
        if not self._ready.done():
            self._ready.set_exception(ForkError("it exited while importing"))
            self._ready.exception()  # retrieved: start() raises its own error
        for waiting in self._replies.values():
            if not waiting.done():
                waiting.set_result({"error": "the fork server exited"})
        for pid, child in list(self._children.items()):
            if child._gone:  # ended already; its code went down with the server
                child.ended(-1)
                del self._children[pid]

    async def close(self) -> None:
        """Stop the fork server (its workers are the supervisor's to stop, before this)."""
        self.alive = False
        stdin = self._process.stdin
        if stdin is not None:
            with contextlib.suppress(Exception):
                stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Forks:
    """One engine's fork server: started on first use (or ahead: :meth:`launch`,
    :meth:`prestart`), started again after it died, and None (exec the worker) while it cannot
    start or forking is off."""

    RETRY = 30.0  # seconds before a fork server that failed to start is tried again

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._server: ForkServer | None = None
        self._lock: asyncio.Lock | None = None
        self._retry_at = 0.0
        self._prestart: asyncio.Task[ForkServer | None] | None = None

    def prestart(self) -> None:
        """Start the fork server in the background, so the first worker need not wait."""
        if enabled() and self._prestart is None and self._server is None:
            self._prestart = asyncio.get_running_loop().create_task(self.server())

    async def launch(self) -> None:
        """Start the fork server's process now, and return: it imports the worker's modules
        while the caller goes on (the engine, importing its own: on two cores, side by side);
        the first worker waits for it to be ready."""
        if not enabled() or self._prestart is not None or self._server is not None:
            return
        try:
            server = await ForkServer.launch(self.workdir)
        except OSError as exc:
            log.warning("the fork server did not start: %s; it is tried again later", exc)
            return

        async def ready() -> ForkServer | None:
            try:
                await server.until_ready()
            except ForkError as exc:
                log.warning("%s; workers start as new processes for %.0fs", exc, self.RETRY)
                self._retry_at = time.monotonic() + self.RETRY
                return None
            self._server = server
            return server

        self._prestart = asyncio.get_running_loop().create_task(ready())

    async def server(self) -> ForkServer | None:
        if not enabled():
            return None
        early = self._prestart
        if early is not None and early is not asyncio.current_task() and not early.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(early)  # launched or prestarted: let it finish
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._server is not None and self._server.alive:
                return self._server
            if time.monotonic() < self._retry_at:
                return None
            try:
                self._server = await ForkServer.start(self.workdir)
            except (ForkError, OSError) as exc:
                log.warning("%s; workers start as new processes for %.0fs", exc, self.RETRY)
                self._server, self._retry_at = None, time.monotonic() + self.RETRY
            return self._server

    async def close(self) -> None:
        if self._prestart is not None:
            with contextlib.suppress(BaseException):
                await self._prestart
        if self._server is not None:
            await self._server.close()
            self._server = None


_forks: weakref.WeakKeyDictionary[object, Forks] = weakref.WeakKeyDictionary()


def forks_of(engine: object, workdir: Path, *, adopt: Forks | None = None) -> Forks:
    """The fork server of ``engine`` (one per engine: its workers' parent); ``adopt`` makes
    one launched before the engine existed its own."""
    found = _forks.get(engine)
    if found is None:
        found = _forks[engine] = adopt or Forks(workdir)
    return found
