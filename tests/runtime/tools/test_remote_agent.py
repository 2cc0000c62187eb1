"""a2a tools in the Toolbox, against a real A2A server (the SDK's server pieces, uvicorn)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.tools.toolbox import Toolbox, ToolResult, ToolStartError
from tests.a2a_echo import EchoServer, serve_echo
from tests.runtime.project import open_project

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with serve_echo(token=TOKEN, slow=3.0) as server:
        yield server


def _tool(url: str, **extra: Any) -> dict[str, Any]:
    headers = {"Authorization": "Bearer ${secret.PARTNER_TOKEN}"}
    return {"a2a": {"url": url, "headers": headers}, **extra}


def _secrets(name: str) -> str | None:
    return {"PARTNER_TOKEN": TOKEN}.get(name)


async def _calls(tools: Mapping[str, Any], *calls: tuple[str, dict[str, Any], str]) -> Any:
    async with Toolbox(tools, base_dir=Path("."), secret=_secrets) as box:
        results = [await box.call(n, a, idempotency_key=k) for n, a, k in calls]
        return box.specs(), [box.side_effects(s.name) for s in box.specs()], results


def test_an_a2a_tool_is_one_tool_named_after_it_and_answers(echo: EchoServer) -> None:
    specs, effects, results = asyncio.run(
        _calls({"partner": _tool(echo.url)}, ("partner", {"message": "hi"}, "task-1/step-1"))
    )
    assert [s.name for s in specs] == ["partner"]
    assert specs[0].description.startswith("Echoes what it is told.")
    assert "- echo: Say it back." in specs[0].description
    assert specs[0].parameters["required"] == ["message"]
    assert effects == ["unsafe"]
    assert results == [ToolResult("echo: hi", False, "partner")]
    # the bearer from the secret reached the server; the idempotency key is the messageId
    assert echo.authorizations[-1] == f"Bearer {TOKEN}"
    assert echo.message_ids[-1] == "task-1/step-1"


def test_the_card_url_itself_works_too(echo: EchoServer) -> None:
    url = f"{echo.url}/.well-known/agent-card.json"
    _, _, results = asyncio.run(_calls({"p": _tool(url)}, ("p", {"message": "yo"}, "k")))
    assert results[0].content == "echo: yo"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("fail", "partner: the agent failed: it broke"),
        ("slow", "partner timed out after 1s; the agent may still be working"),
    ],
    ids=["failed-task", "timeout"],
)
def test_remote_failures_are_errors_for_the_model(
    echo: EchoServer, message: str, expected: str
) -> None:
    tools = {"partner": _tool(echo.url, timeout="1s")}
    _, _, results = asyncio.run(_calls(tools, ("partner", {"message": message}, message)))
    assert results == [ToolResult(expected, True, "partner")]


def test_a_refused_credential_is_an_error_for_the_model(echo: EchoServer) -> None:
    tools = {"partner": {"a2a": {"url": echo.url, "headers": {"Authorization": "Bearer no"}}}}
    _, _, results = asyncio.run(_calls(tools, ("partner", {"message": "hi"}, "k")))
    assert results == [
        ToolResult(
            f"partner: the agent at {echo.url} refused the credentials (HTTP 401); the tool's "
            "a2a headers or their secret need fixing, retrying will not help",
            True,
            "partner",
        )
    ]


def test_a_call_without_a_message_is_an_error(echo: EchoServer) -> None:
    _, _, results = asyncio.run(_calls({"partner": _tool(echo.url)}, ("partner", {}, "k")))
    assert results == [
        ToolResult("partner takes one argument, message (a string)", True, "partner")
    ]


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_card_that_does_not_resolve_stops_the_start() -> None:
    url = f"http://127.0.0.1:{_unused_port()}"
    with pytest.raises(ToolStartError) as caught:
        asyncio.run(_calls({"partner": _tool(url)}))
    message = str(caught.value)
    assert message.startswith(
        f"tool 'partner': the agent card at {url}/.well-known/agent-card.json"
    )
    assert "does not resolve" in message and "check the tool's a2a url" in message


def test_a_missing_secret_stops_the_start(echo: EchoServer) -> None:
    tools = {"partner": {"a2a": {"url": echo.url, "headers": {"X": "${secret.NOPE}"}}}}
    with pytest.raises(ToolStartError, match="refers to secret 'NOPE', which is not set"):
        asyncio.run(_calls(tools))


def test_a_server_gone_after_start_is_an_error_at_call() -> None:
    async def scenario() -> ToolResult:
        with serve_echo() as server:
            box = Toolbox({"partner": _tool(server.url)}, base_dir=Path("."), secret=_secrets)
            await box.start()
        try:
            return await box.call("partner", {"message": "hi"}, idempotency_key="k")
        finally:
            await box.aclose()

    result = asyncio.run(scenario())
    assert result.is_error and result.tool == "partner"
    assert result.content.startswith("partner: could not connect to the agent at http://127.0.0.1:")
    assert result.content.endswith("the message was not delivered, retrying later may help")


# -- end to end: the real engine, a worker, a scripted model and the echo agent --------------


def test_an_agent_delegates_to_an_outside_agent(
    echo: EchoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {
        "models": {"m": {"provider": "scripted", "script": "scripts/m.yaml"}},
        "tools": {
            "partner": {
                "a2a": {
                    "url": echo.url,
                    "headers": {"Authorization": "Bearer ${secret.PARTNER_TOKEN}"},
                },
                "side_effects": "idempotent",
                "timeout": "10s",
            }
        },
        "agents": {"asker": {"model": "m", "instructions": "Ask.", "tools": ["partner"]}},
        "access": {"roles": {"users": ["invoke:asker"]}, "members": {"tester": ["users"]}},
    }
    rules = [
        {"match": {"tool_result": "."}, "reply": "{{ tool_result }}"},
        {"call": {"tool": "partner", "arguments": {"message": "hi"}}},
    ]
    monkeypatch.setenv("PARTNER_TOKEN", TOKEN)  # the CLI subprocesses inherit it
    with open_project(tmp_path) as project:
        project.write(spec, {"m": rules})
        planned = project.cli("plan")
        assert planned.returncode == 0, planned.stderr
        assert "card" in planned.stdout and "sha256:" in planned.stdout
        project.apply()
        done = project.cli("send", "asker", "go")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "echo: hi"

        echo.description = "Echoes, with a new card."
        try:
            replanned = project.cli("plan")
        finally:
            echo.description = "Echoes what it is told."
        assert replanned.returncode == 0, replanned.stderr
        assert "~ tool.partner" in replanned.stdout, replanned.stdout
    assert echo.authorizations[-1] == f"Bearer {TOKEN}"
