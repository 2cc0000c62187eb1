"""A throwaway agentform project for the runtime's end-to-end tests, run through the real CLI.

:class:`Project` writes a spec (``agentform.yaml``, scripted models' rule files under
``scripts/``, optionally the ``toys`` MCP server as ``server.py``) into a temporary directory,
applies it with ``agentform apply --auto-approve`` in a subprocess (so the local engine, its
embedded nats-server and the workers are real processes) and talks to the engine through
:class:`~agentform.runtime.host.client.EngineClient`. :func:`open_project` always tears down:
``agentform destroy``, then ``EngineClient.stop()``, then SIGKILL to any process still running
from the directory 5 s later, so no test leaves an orphan behind; a leftover fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agentform.runtime.host.client import EngineClient, engine_dir

__all__ = ["TERMINAL", "Project", "open_project", "processes_of", "wait_for"]

AGENTFORM = str(Path(sys.executable).parent / "agentform")
TOYS = Path(__file__).parent / "mcp_servers" / "toys.py"
TERMINAL = frozenset({"completed", "failed", "canceled", "cancelled", "rejected"})
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = probe()
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def processes_of(directory: Path) -> list[tuple[int, str]]:
    """Live processes whose command line mentions ``directory`` or that run inside it."""
    mark = str(directory)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            cwd = os.readlink(entry / "cwd")
            state = next(
                line for line in (entry / "status").read_text().splitlines() if line[:6] == "State:"
            )
        except (OSError, StopIteration):
            continue
        if "zombie" in state:
            continue  # exited, only waiting for its parent to reap it
        if mark in cmdline or cwd == mark or cwd.startswith(mark + "/"):
            found.append((int(entry.name), cmdline))
    return found


def pid_alive(pid: int) -> bool:
    try:
        state = next(
            line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if "State" in line
        )
    except (OSError, StopIteration):
        return False
    return "zombie" not in state


@dataclass
class Project:
    """One spec directory and its engine."""

    dir: Path
    client: EngineClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = EngineClient(engine_dir(self.dir))

    # -- writing ------------------------------------------------------------------------------

    def write(
        self,
        spec: Mapping[str, Any],
        scripts: Mapping[str, Any] = {},  # rule file name -> its list of rules
        *,
        toys: bool = False,
    ) -> None:
        """The spec (``version`` and ``project`` filled in), rule files, and the toys server."""
        self.dir.mkdir(parents=True, exist_ok=True)
        body = {"version": 1, "project": "rt", **spec}
        (self.dir / "agentform.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
        (self.dir / "scripts").mkdir(exist_ok=True)
        for name, rules in scripts.items():
            (self.dir / "scripts" / f"{name}.yaml").write_text(
                yaml.safe_dump({"rules": list(rules)}, sort_keys=False)
            )
        if toys:
            shutil.copy(TOYS, self.dir / "server.py")

    # -- the CLI --------------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        """``agentform ARGS`` run in the project's directory (its spec is ``.``)."""
        return subprocess.run(
            [AGENTFORM, *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
            check=False,
        )

    def apply(self) -> None:
        done = self.cli("apply", "--auto-approve")
        assert done.returncode == 0, f"apply failed:\n{done.stdout}\n{done.stderr}"

    def destroy(self) -> subprocess.CompletedProcess[str]:
        return self.cli("destroy", "--auto-approve", "--allow-data-loss")

    # -- the engine -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        found: dict[str, Any] = self.client.request("GET", "/v1/status", timeout=10)
        return found

    def agent_status(self, agent: str) -> dict[str, Any]:
        return next(a for a in self.status()["agents"] if a["agent"] == agent)

    def wait_ready(self, agent: str, replicas: int = 1, timeout: float = 30.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            found = self.agent_status(agent)
            return found if found["running"] >= replicas else None

        return wait_for(ready, timeout, f"{replicas} ready worker(s) of {agent}")

    def worker_pids(self, agent: str) -> dict[str, int]:
        """Worker id -> pid of the agent's live workers."""
        return {
            w["worker"]: int(w["pid"])
            for w in self.agent_status(agent)["workers"]
            if w["alive"] and w["pid"]
        }

    def submit(self, agent: str, text: str, task_id: str | None = None) -> dict[str, Any]:
        body = {"agent": agent, "input": text, **({"id": task_id} if task_id else {})}
        task: dict[str, Any] = self.client.request("POST", "/v1/tasks", body=body, timeout=15)
        return task

    def task(self, task_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client.request("GET", f"/v1/tasks/{task_id}", timeout=10)
        return found

    def wait_task(self, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            task = self.task(task_id)
            return task if task["status"] in TERMINAL else None

        return wait_for(finished, timeout, f"task {task_id} to finish")

    def engine_info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((self.client.dir / "engine.json").read_text())
        return info

    def nats_pid(self) -> int:
        return int(self.engine_info()["nats_pid"])

    # -- tearing down ------------------------------------------------------------------------

    def teardown(self) -> list[tuple[int, str]]:
        """Destroy, stop the engine, kill whatever still runs from the directory; returns those."""
        with contextlib.suppress(Exception):
            if (self.dir / "agentform.yaml").exists() and self.client.running():
                self.destroy()
        with contextlib.suppress(Exception):
            self.client.stop(timeout=15)
        deadline = time.monotonic() + 5
        left = processes_of(self.dir)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = processes_of(self.dir)
        for pid, _ in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return left


@contextlib.contextmanager
def open_project(directory: Path) -> Iterator[Project]:
    """A :class:`Project` in ``directory`` that is torn down however the test ends."""
    project = Project(Path(directory).resolve())
    try:
        yield project
    finally:
        left = project.teardown()
    # after the finally: a failing test keeps its own error; a leak is an error of its own
    assert not left, f"still running after destroy and engine stop (killed now): {left}"
