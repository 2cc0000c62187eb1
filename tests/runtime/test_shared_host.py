"""An engine on a shared host: what other users can read of it.

One real project for the module (the CLI in a subprocess, the detached engine, nats-server, the
greeter's worker, SQLite), run under umask 022, what a shared host's users usually have:

* every directory agentform makes under ``.agentform/`` is 0700 and every file 0600, after
  apply and a task, and a tree an older version left readable is tightened when the engine
  starts again.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.project import Project, open_project

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"


class Host:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.dir = project.dir / ".agentform"
        done = project.cli("tokens", "create", "demo-token")
        assert done.returncode == 0, done.stderr
        self.token = done.stdout.strip()

    def modes(self) -> dict[str, str]:
        """Every path under .agentform/ whose mode is not what it should be, with that mode."""
        wrong = {}
        for path in [self.dir, *self.dir.rglob("*")]:
            info = path.lstat()
            want = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
            if stat.S_IMODE(info.st_mode) != want:
                wrong[str(path.relative_to(self.dir))] = oct(stat.S_IMODE(info.st_mode))
        return wrong


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    directory = tmp_path_factory.mktemp("shared")
    shutil.copy(HELLO / "agentform.yaml", directory)
    shutil.copytree(HELLO / "scripts", directory / "scripts")
    previous = os.umask(0o022)
    try:
        with open_project(directory) as project:
            project.apply()
            project.wait_ready("greeter")
            yield Host(project)
    finally:
        os.umask(previous)


# -- the files (last: the engine is restarted) --------------------------------------------------


def test_every_file_under_agentform_is_its_owners_alone(host: Host) -> None:
    task = host.project.submit("greeter", "Hello, what is agentform?")
    assert host.project.wait_task(task["id"])["status"] == "completed"
    assert host.project.cli("logs", "greeter").returncode == 0
    made = {str(p.relative_to(host.dir)) for p in host.dir.rglob("*")}
    assert {"state.db", "runtime.db", "engine/engine.log", "engine/engine.token"} <= made
    assert {"engine/logs/greeter.log", "engine/resources.json", "engine/nats"} <= made
    assert any(p.startswith("engine/workers/") for p in made)
    assert host.modes() == {}


def test_the_engine_runs_under_umask_077_and_its_workers_under_the_users(host: Host) -> None:
    """Workers create nothing under .agentform/ themselves; their tools write the user's files."""
    [worker] = host.project.worker_pids("greeter").values()
    assert umask(host.project.engine_info()["pid"]) == "0077"
    assert umask(worker) == "0022"


def umask(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(line.split()[1] for line in status if line.startswith("Umask:"))


def test_a_readable_tree_is_tightened_when_the_engine_starts(host: Host) -> None:
    assert host.project.cli("engine", "stop").returncode == 0
    for path in [host.dir, *host.dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert host.modes()  # as an older version left them

    assert host.project.cli("engine", "start").returncode == 0
    assert host.project.cli("plan").returncode == 0  # the CLI opens the state too
    host.project.wait_ready("greeter")
    assert host.modes() == {}
