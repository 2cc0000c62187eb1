"""The fork server's own side: the process that imports the worker once and forks workers.

:func:`serve` is ``python -m agentform.runtime forks``, started by the engine through
:class:`agentform.runtime.host.forks.ForkServer` (whose docstring, in
:mod:`agentform.runtime.host.forks`, says how the two talk). It imports :data:`PRELOAD`, says
``ready``, then forks a worker for each request line on stdin and reports each child's end as it
reaps it. It runs no event loop and holds no connection, thread or lock, so a child inherits
nothing of the kind: :func:`_become_worker` leaves the server's descriptors, signals and
environment behind before it runs the worker.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import random
import selectors
import signal
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["PRELOAD", "serve"]

# what a worker imports before its first heartbeat, and the adapters its models and tools need
PRELOAD = (
    "agentform.runtime.worker.process",
    "agentform.runtime.models",
    "agentform.runtime.models.scripted",
    "agentform.runtime.models.openai",
    "agentform.runtime.models.anthropic",
    "agentform.runtime.tools.toolbox",
    "agentform.runtime.tools.mcp_client",
)


def serve(preload: tuple[str, ...] = PRELOAD) -> int:
    """The fork server's main loop (``python -m agentform.runtime forks``); returns at EOF."""
    started = time.monotonic()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine decides when it stops
    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional extra: its workers import it themselves
            print(f"fork server: not preloading {name}: {exc}", file=sys.stderr)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select() through the wakeup fd
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    me = os.getpid()
    _say({"ready": me, "seconds": round(time.monotonic() - started, 3)})
    pending = b""
    while True:
        for key, _ in selector.select():
            if key.fd == wake_read:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 512):
                        continue  # drain the wake-up pipe: one wake-up for any number
                continue
            data = os.read(0, 1 << 16)
            if not data:
                return 0  # the engine is gone; the workers see their parent go and stop
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    _fork(json.loads(line), me)
        _reap()


def _say(message: Mapping[str, Any]) -> None:
    data = json.dumps(message).encode() + b"\n"
    while data:
        data = data[os.write(1, data) :]


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _say({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _fork(request: Mapping[str, Any], me: int) -> None:
    try:
        pid = os.fork()
    except OSError as exc:
        _say({"ref": request.get("ref"), "error": f"fork failed: {exc}"})
        return
    if pid == 0:
        _become_worker(request, me)  # never returns
    _say({"ref": request.get("ref"), "pid": pid})


def _become_worker(request: Mapping[str, Any], server: int) -> None:
    """In the forked child: leave the fork server's state behind and run one worker."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(str(request["log"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        # the server's pipes to the engine and its wakeup pipe: nothing of it stays open
        os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 4096)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own stdin
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
        # the worker stops when its parent goes: the fork server, which goes with the engine
        os.environ["AGENTFORM_ENGINE_PID"] = str(server)
        random.seed()  # not the fork server's sequence, shared by every sibling
        from agentform.runtime.worker.process import run_worker

        code = run_worker(Path(str(request["config"])), str(request["worker"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
