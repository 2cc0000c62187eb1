"""The client of a local engine: find it, start it detached, and call its control API.

Owns the engine directory convention (``<spec dir>/.agentform/engine`` for the default
environment, ``engine-<env>`` for others), starting the engine as a detached process when absent,
and the synchronous HTTP calls (httpx2) with the token from ``engine.token``. Used by the local
provider (:mod:`agentform_providers.local`) and the runtime verbs of the CLI (``send``,
``status``, ``tasks``, ``logs``, ``engine``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx2

from agentform import private
from agentform.runtime.errors import EngineError, TemporaryError
from agentform.runtime.host.files import env_suffix

__all__ = [
    "EngineClient",
    "EngineRequestError",
    "EngineUnavailable",
    "engine_dir",
    "runtime_project",
]


_detached: list[subprocess.Popen[bytes]] = []  # engines this process started


class EngineUnavailable(TemporaryError):
    """No engine answers for this project (not started, or it died); the message says what to do."""


class EngineRequestError(EngineError):
    """The engine answered with an error; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, status)


def runtime_project(project: str, environment: str = "default") -> str:
    """The name the runtime knows a project by: environments other than default are apart."""
    return f"{project}{env_suffix(environment)}"


def engine_dir(base_dir: Path, environment: str = "default") -> Path:
    return Path(base_dir).resolve() / ".agentform" / f"engine{env_suffix(environment)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EngineClient:
    """The control API of the engine in ``workdir``. With ``token`` (a subject's bearer token
    from ``agentform tokens create``) requests act as that subject, with the permissions its
    roles grant; without, as the operator, with the engine's own token from ``engine.token``."""

    def __init__(self, workdir: Path, *, token: str | None = None) -> None:
        self.dir = Path(workdir)
        self.token = token

    def _info(self) -> dict[str, Any] | None:
        try:
            info = json.loads((self.dir / "engine.json").read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and _alive(int(info.get("pid", 0))) else None

    @property
    def pid(self) -> int | None:
        info = self._info()
        return int(info["pid"]) if info else None

    def running(self) -> bool:
        if self._info() is None:
            return False
        try:
            self.request("GET", "/v1/status", timeout=5)
        except (EngineUnavailable, EngineRequestError):
            return False
        return True

    def start(self, *, project: str, base_dir: Path, timeout: float = 30.0) -> None:
        """Start the engine detached and wait until its API answers."""
        if self.running():
            return
        private.directory(self.dir)
        log = private.file(self.dir / "engine.log").open("ab")
        with log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agentform.runtime",
                    "engine",
                    "--dir",
                    str(self.dir),
                    "--project",
                    project,
                    "--base-dir",
                    str(Path(base_dir).resolve()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # detached: outlives the CLI, ignores its Ctrl-C
                cwd=str(Path(base_dir).resolve()),
            )
        # keep it: a long-lived caller (the provider in-process) polls it so an engine that
        # stopped is reaped, and a dropped Popen of a running child is a ResourceWarning
        _detached[:] = [p for p in _detached if p.poll() is None] + [process]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                tail = (self.dir / "engine.log").read_text(errors="replace").strip().splitlines()
                reason = tail[-1] if tail else f"exit code {code}"
                if code == 3 and self.running():  # another CLI started it a moment earlier
                    return
                raise EngineUnavailable(f"the engine did not start: {reason}")
            if self.running():
                return
            time.sleep(0.05)
        raise EngineUnavailable(
            f"the engine did not answer within {timeout:.0f}s; see {self.dir / 'engine.log'}"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the engine to stop (workers, bus and all); returns False if none ran."""
        pid = self.pid
        if pid is None:
            return False
        try:
            self.request("POST", "/v1/shutdown", timeout=5)
        except EngineRequestError as exc:
            if exc.status in (401, 403):  # refused: a token without admin:* stops nothing
                raise
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        except EngineUnavailable:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return True

    def wait_gone(self, pid: int, timeout: float = 30.0) -> bool:
        """Wait until process ``pid`` (the engine) has exited; False if it is still there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in list(_detached):  # reap it if this process started it
                process.poll()
            if not _alive(pid):
                return True
            time.sleep(0.05)
        return False

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        response = self._send(
            method, path, body=body, params=params, timeout=timeout, headers=headers
        )
        if response.status_code == 204:
            return None
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response

    def text(self, path: str, *, timeout: float = 600.0) -> str:
        """The body of ``GET path`` as text (JSON lines, say), however it is typed."""
        return self._send("GET", path, timeout=timeout).text

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
    ) -> httpx2.Response:
        info, token = self._address()
        try:
            response = httpx2.request(
                method,
                f"{info['api']}{path}",
                json=dict(body) if body is not None else None,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers={**(headers or {}), "authorization": f"Bearer {token}"},
                timeout=timeout,
            )
        except httpx2.HTTPError as exc:
            raise EngineUnavailable(f"the engine at {info['api']} does not answer: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = str(response.json()["error"])
            except (ValueError, KeyError, TypeError):
                message = response.text[:500] or f"HTTP {response.status_code}"
            raise EngineRequestError(message, response.status_code)
        return response

    def _address(self) -> tuple[dict[str, Any], str]:
        """The running engine's info and token, or :class:`EngineUnavailable` saying why not."""
        info = self._info()
        if info is None:
            raise EngineUnavailable(
                f"no engine runs for this project ({self.dir}); 'agentform apply' or"
                " 'agentform engine start' starts it"
            )
        if self.token:
            return info, self.token
        try:
            token = (self.dir / "engine.token").read_text().strip()
        except OSError as exc:
            raise EngineUnavailable(f"cannot read the engine's token: {exc}") from exc
        return info, token

    def events(self, task_id: str, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """The task's steps as they are recorded, ending with its final status."""
        info, token = self._address()
        try:
            with httpx2.stream(
                "GET",
                f"{info['api']}/v1/tasks/{task_id}/events",
                headers={"authorization": f"Bearer {token}"},
                timeout=httpx2.Timeout(10.0, read=timeout),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise EngineRequestError(response.text[:500], response.status_code)
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx2.HTTPError as exc:
            raise EngineUnavailable(
                f"lost the engine while following task {task_id}: {exc}"
            ) from exc
