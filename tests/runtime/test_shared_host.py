"""An engine on a shared host: what other users can read of it, and what a token holder's
malformed requests cost it.

One real project for the module (the CLI in a subprocess, the detached engine, nats-server, the
greeter's worker, SQLite), run under umask 022, what a shared host's users usually have:

* every directory agentform makes under ``.agentform/`` is 0700 and every file 0600, after
  apply and a task, and a tree an older version left readable is tightened when the engine
  starts again;
* a malformed request to an agent's A2A server, or a refused one to the control API, is one
  short line in ``engine.log`` (never a traceback, never the body), and the engine rotates its
  log at ``AGENTFORM_LOG_MAX_BYTES``;
* every query parameter of the control API is checked: garbage is a 400 naming it, never a 500
  (nor is garbage a 500 on the A2A HTTP+JSON routes).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runtime.project import Project, open_project, wait_for

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"
REQUESTS = 500
MALFORMED = [
    b"{not json",
    b'{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": 5}}',
    b'{"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": "' + b"x" * 5000 + b'"}',
    b"[1, 2]",
    b'{"jsonrpc": "2.0", "id": 3, "method": "SendMessage", "params": {"message": {"parts": 7}}}',
]


class Host:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.dir = project.dir / ".agentform"
        self.log = project.client.dir / "engine.log"
        self.a2a = project.agent_status("greeter")["a2a"]
        done = project.cli("tokens", "create", "demo-token")
        assert done.returncode == 0, done.stderr
        self.token = done.stdout.strip()

    def api(self, path: str, params: Any = None) -> httpx.Response:
        operator = (self.project.client.dir / "engine.token").read_text().strip()
        return httpx.get(
            self.project.engine_info()["api"] + path,
            params=params,
            headers={"authorization": f"Bearer {operator}"},
            timeout=30,
        )

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


# -- the log ------------------------------------------------------------------------------------


def test_malformed_a2a_requests_cost_one_short_line_each(host: Host) -> None:
    before = host.log.stat().st_size
    headers = {"authorization": f"Bearer {host.token}", "content-type": "application/json"}
    with httpx.Client(headers={**headers, "A2A-Version": "1.0"}, timeout=30) as client:
        for i in range(REQUESTS):
            response = client.post(host.a2a, content=MALFORMED[i % len(MALFORMED)])
            assert response.status_code == 200 and "error" in response.json(), response.text
    # each line is written before its answer goes out: all are there now
    added = host.log.read_bytes()[before:].decode()
    lines = added.splitlines()
    assert sum(" a2a greeter refused POST / (200, JSON-RPC -32" in ln for ln in lines) == REQUESTS
    assert len(lines) < REQUESTS + 10  # the odd line of the engine's own, at most
    assert "Traceback" not in added and "xxxxxxxxxx" not in added
    assert len(added) / REQUESTS < 200  # bytes per request (a traceback was 1.5 to 4 KB)
    assert len(added) < 100_000


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("/v1/logs/greeter", {"offset": "abc"}, "offset must be a whole number"),
        ("/v1/logs/greeter", {"offset": "-1"}, "offset must be a whole number"),
        ("/v1/tasks", {"limit": "-1"}, "limit must be a whole number from 1 to 1,000"),
        ("/v1/tasks", {"limit": "100000"}, "limit must be a whole number from 1 to 1,000"),
        ("/v1/tasks", {"status": "done"}, "status must be one of submitted, working"),
        ("/v1/tasks", {"parent": "p" * 201}, "parent must be at most 200 characters"),
        ("/v1/tasks", {"limt": "5"}, "unknown query parameter 'limt'"),
        ("/v1/approvals", {"status": "maybe"}, "status must be one of pending, approved"),
        ("/v1/approvals", {"agent": "a" * 201}, "agent must be at most 200 characters"),
    ],
    ids=[
        "logs-offset-text", "logs-offset-negative", "tasks-limit-negative", "tasks-limit-huge",
        "tasks-status", "tasks-parent-long", "tasks-unknown", "approvals-status",
        "approvals-agent-long",
    ],
)  # fmt: skip
def test_a_bad_query_parameter_is_a_400_naming_it_in_one_line(
    host: Host, path: str, params: dict[str, str], says: str
) -> None:
    before = host.log.stat().st_size
    response = host.api(path, params)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]
    [line] = host.log.read_bytes()[before:].decode().splitlines()
    assert f"control API refused GET {path} (400): " in line


NAMES = st.sampled_from(["agent", "status", "caller", "parent", "limit", "offset", "scope"])
VALUES = (
    st.text(max_size=30)
    | st.integers().map(str)
    | st.sampled_from(["", "0", "-1", "1000", "1001", "9" * 30, "completed", "pending", "1e3"])
)
QUERY = st.lists(st.tuples(NAMES | st.text(max_size=8), VALUES), max_size=4)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/v1/tasks", "/v1/approvals", "/v1/logs/greeter", "/v1/memory"]),
    query=QUERY,
)  # fmt: skip
def test_no_query_is_a_server_error_on_the_control_api(
    host: Host, path: str, query: list[tuple[str, str]]
) -> None:
    response = host.api(path, query)
    assert response.status_code < 500, response.text
    if response.status_code == 400:
        assert response.json()["error"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(
                ["pageSize", "pageToken", "historyLength", "status", "contextId",
                 "statusTimestampAfter", "includeArtifacts"]
            ) | st.text(max_size=8),
            VALUES,
        ),
        max_size=4,
    )
)  # fmt: skip
def test_no_query_is_a_server_error_on_the_a2a_rest_routes(
    host: Host, query: list[tuple[str, str]]
) -> None:
    response = httpx.get(
        f"{host.a2a}/tasks",
        params=query,
        headers={"authorization": f"Bearer {host.token}", "A2A-Version": "1.0"},
        timeout=30,
    )
    assert response.status_code < 500, response.text


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


def test_a_readable_tree_is_tightened_and_the_log_rotated_when_the_engine_starts(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert host.project.cli("engine", "stop").returncode == 0
    for path in [host.dir, *host.dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert host.modes()  # as an older version left them
    limit = host.log.stat().st_size // 2  # the log is over the limit from the start
    monkeypatch.setenv("AGENTFORM_LOG_MAX_BYTES", str(limit))

    assert host.project.cli("engine", "start").returncode == 0
    assert host.project.cli("plan").returncode == 0  # the CLI opens the state too
    host.project.wait_ready("greeter")
    rotated = host.log.with_name("engine.log.1")
    wait_for(rotated.exists, 10, "engine.log to be rotated")
    assert rotated.stat().st_size > limit
    assert host.modes() == {}
