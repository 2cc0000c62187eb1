"""The bus requires identity: the embedded nats-server refuses what the spec does not allow.

A real engine with three agents (``front`` delegates to ``back``; ``lone`` is on its own). Tried
from the attacker's side with raw nats-py clients: no credentials, a wrong password, an agent's
own credentials (taken from the engine's directory, as a compromised worker would have them)
publishing to an agent it may not delegate to, consuming another agent's queue or touching
another agent's heartbeat keys: the server itself refuses each. A program publishing a task on
the inbound subject needs a live bearer token whose subject may invoke the agent.
"""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from collections.abc import Iterator
from typing import Any

import nats
import pytest
from nats.errors import Error as NatsError

from tests.runtime.project import Project, open_project, wait_for

# nats-py leaves a refused connection's socket and transport to the garbage collector (a
# ResourceWarning in __del__): collected after every test of this module, under this filter, so
# none is left for the end of the session, where pytest raises what is left
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def _collect_leaked_sockets() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture(scope="module")
def guarded_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("guarded-bus")
    with open_project(directory) as project:
        spec: dict[str, Any] = {
            "models": {"script": {"provider": "scripted", "script": "scripts/echo.yaml"}},
            "agents": {
                "front": {"model": "script", "delegates": ["back"]},
                "back": {"model": "script"},
                "lone": {"model": "script"},
            },
            "access": {
                "roles": {"users": ["invoke:front", "invoke:lone"], "others": ["invoke:back"]},
                "members": {"tina": ["users"], "olga": ["others"]},
            },
        }
        project.write(spec, {"echo": [{"reply": "echo: {{ user }}"}]})
        project.apply()
        for agent in ("front", "back", "lone"):
            project.wait_ready(agent)
        yield project


def _users(project: Project) -> dict[str, dict[str, Any]]:
    text = (project.client.dir / "nats.conf").read_text()
    block = json.loads(text.partition("authorization")[2])
    return {u["user"]: u for u in block["users"]}


def _url(project: Project) -> str:
    return str(project.engine_info()["bus_url"])


def _run(body: Any) -> Any:
    return asyncio.run(body)


def test_files_with_passwords_are_the_owners_alone(guarded_bus: Project) -> None:
    for name in ("nats.conf", "bus.json"):
        assert (guarded_bus.client.dir / name).stat().st_mode & 0o077 == 0, name
    # no password reaches the worker's configuration file or the state
    secret = _users(guarded_bus)["agent-front"]["password"]
    for path in guarded_bus.dir.rglob("*"):
        if path.is_file() and path.name not in ("nats.conf", "bus.json"):
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("credentials", [{}, {"user": "engine", "password": "wrong"}])
def test_a_connection_without_valid_credentials_is_refused(
    guarded_bus: Project, credentials: dict[str, str]
) -> None:
    async def attempt() -> None:
        await nats.connect(
            _url(guarded_bus), allow_reconnect=False, connect_timeout=3, **credentials
        )

    with pytest.raises((NatsError, OSError)) as refused:
        _run(attempt())
    gc.collect()  # the leaked socket warns here, under this test's filter, not in a later one
    assert (
        "authorization" in str(refused.value).lower() or "no servers" in str(refused.value).lower()
    ), refused.value


async def _as_agent(project: Project, agent: str) -> nats.NATS:
    user = _users(project)[f"agent-{agent}"]
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        _url(project),
        user=user["user"],
        password=user["password"],
        inbox_prefix=f"_INBOX_agent-{agent}",
        allow_reconnect=False,
        error_cb=on_error,
    )
    nc.errors = errors  # type: ignore[attr-defined]
    return nc


def _stored(project: Project, subject: str) -> int:
    """How many messages the task stream holds on ``subject`` (asked as the engine)."""
    engine = json.loads((project.client.dir / "bus.json").read_text())["engine"]

    async def count() -> int:
        nc = await nats.connect(_url(project), allow_reconnect=False, **engine)
        try:
            info = await nc.jetstream().stream_info("AF_rt_TASKS", subjects_filter=subject)
            return int((info.state.subjects or {}).get(subject, 0))
        finally:
            await nc.close()

    return int(_run(count()))


def test_an_agent_may_not_publish_to_an_agent_it_does_not_delegate_to(
    guarded_bus: Project,
) -> None:
    async def attempt() -> tuple[bool, list[str]]:
        nc = await _as_agent(guarded_bus, "front")
        js = nc.jetstream()
        ok = True
        try:
            await js.publish("agentform.rt.tasks.lone", b"{}", timeout=2)
        except Exception:
            ok = False
        await asyncio.sleep(0.3)
        await nc.close()
        return ok, nc.errors  # type: ignore[attr-defined]

    published, errors = _run(attempt())
    assert not published
    assert any("permissions violation" in e.lower() for e in errors), errors
    assert _stored(guarded_bus, "agentform.rt.tasks.lone") == 0


def test_an_agent_may_not_take_another_agents_tasks_or_keys(guarded_bus: Project) -> None:
    async def attempt() -> list[str]:
        nc = await _as_agent(guarded_bus, "back")
        js = nc.jetstream()
        with pytest.raises(Exception):  # noqa: B017 - the server refuses the request
            sub = await js.pull_subscribe_bind(durable="agent_lone", stream="AF_rt_TASKS")
            await sub.fetch(1, timeout=2)
        await nc.publish("$KV.AF_rt_health.lone.forged", b"{}")
        await nc.flush()
        await asyncio.sleep(0.3)
        await nc.close()
        return nc.errors  # type: ignore[attr-defined]

    errors = _run(attempt())
    assert sum("permissions violation" in e.lower() for e in errors) >= 2, errors


def test_a_delegation_the_spec_declares_works(guarded_bus: Project) -> None:
    """front may publish to back (it delegates to it), and back to front (a child resumes its
    parent): both are in their permissions; the server accepts them."""
    users = _users(guarded_bus)
    front = users["agent-front"]["permissions"]["publish"]["allow"]
    back = users["agent-back"]["permissions"]["publish"]["allow"]
    assert "agentform.rt.tasks.back" in front and "agentform.rt.tasks.lone" not in front
    assert "agentform.rt.tasks.front" in back
    lone = users["agent-lone"]["permissions"]["publish"]["allow"]
    assert not [s for s in lone if ".tasks." in s]


def _inbound(project: Project, agent: str, token: str | None) -> str:
    client = json.loads((project.client.dir / "bus.json").read_text())["client"]
    task_id = f"inbound-{uuid.uuid4().hex[:8]}"
    body = {"id": task_id, "agent": agent, "input": "from a program", "context_id": task_id}
    if token:
        body["token"] = token

    async def publish() -> None:
        nc = await nats.connect(
            _url(project), allow_reconnect=False, inbox_prefix="_INBOX_client", **client
        )
        try:
            await nc.jetstream().publish(
                f"agentform.rt.inbound.{agent}", json.dumps(body).encode(), timeout=5
            )
        finally:
            await nc.close()

    _run(publish())
    return task_id


def _ended(project: Project, task_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        try:
            task = project.task(task_id)
        except Exception:
            return None
        return task if task["status"] in ("completed", "failed", "rejected") else None

    return wait_for(ended, 30, f"task {task_id}")


def test_a_program_publishes_with_a_token_whose_subject_may_invoke(guarded_bus: Project) -> None:
    tina = guarded_bus.cli("tokens", "create", "tina").stdout.strip()
    olga = guarded_bus.cli("tokens", "create", "olga").stdout.strip()
    done = _ended(guarded_bus, _inbound(guarded_bus, "lone", tina))
    assert (done["status"], done["caller"], done["result"]) == (
        "completed",
        "tina",
        "echo: from a program",
    )
    anonymous = _ended(guarded_bus, _inbound(guarded_bus, "lone", None))
    assert anonymous["status"] == "rejected" and "bearer token" in anonymous["error"]
    forged = _ended(guarded_bus, _inbound(guarded_bus, "lone", "not-a-token"))
    assert forged["status"] == "rejected"
    not_allowed = _ended(guarded_bus, _inbound(guarded_bus, "lone", olga))
    assert not_allowed["status"] == "rejected" and "invoke:lone" in not_allowed["error"]


def test_a_program_may_not_publish_on_the_runtimes_own_subjects(guarded_bus: Project) -> None:
    client = json.loads((guarded_bus.client.dir / "bus.json").read_text())["client"]

    async def attempt() -> list[str]:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(
            _url(guarded_bus), allow_reconnect=False, inbox_prefix="_INBOX_client",
            error_cb=on_error, **client,
        )  # fmt: skip
        await nc.publish("agentform.rt.tasks.lone", b'{"recorded": true}')
        await nc.flush()
        await asyncio.sleep(0.3)
        await nc.close()
        return errors

    errors = _run(attempt())
    assert any("permissions violation" in e.lower() for e in errors), errors
