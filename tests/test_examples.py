"""The examples in ``examples/`` are specs a team could copy, so they must stay spotless.

Every example loads with no diagnostic (no error, no warning), as its base spec and in every
environment it declares, exactly as ``agentform validate`` checks it, except the AF219 warnings
on settings the runtime does not enforce yet: those are real, and :data:`NOT_ENFORCED` counts
them per build, so a new one (or one that disappears when a step lands) shows here. Every
stdio MCP server an example declares really starts (with the official ``mcp`` SDK client, from
the example's directory) and lists the tools we expect, including every tool a spec
``expose``s.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TypeVar

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from agentform.contract.unenforced import UNENFORCED
from agentform.spec import Spec, load_spec, read_spec

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "agentform.yaml").is_file())
SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/agentform.schema.json"
SERVER_TIMEOUT = 30.0  # seconds for a server to start, answer and shut down

# validate checks target.provider against the installed providers; so does this test
PROVIDERS = frozenset(ep.name for ep in entry_points(group="agentform.providers"))

# (example, command) -> the MCP tools its server must list
SERVERS: dict[tuple[str, tuple[str, ...]], set[str]] = {
    ("support-desk", ("python", "servers/kb.py")): {"search_kb", "get_article"},
    ("support-desk", ("python", "servers/refunds.py")): {"issue_refund"},
    ("research-crew", ("python", "servers/library.py")): {
        "search_papers",
        "get_paper",
        "search_regulations",
    },
    ("research-crew", ("python", "servers/datasets.py")): {
        "list_datasets",
        "describe_dataset",
        "compare",
    },
    ("scheduled-report", ("python", "servers/tickets.py")): {
        "ticket_stats",
        "top_topics",
        "open_backlog",
    },
}


# (example, environment) -> the AF219 warnings of that build, counted by UNENFORCED field
_SUPPORT_DESK: dict[str, int] = {}
NOT_ENFORCED: dict[tuple[str, str | None], dict[str, int]] = {
    ("hello", None): {},
    ("research-crew", None): {},
    # its schedules fire (the engine's scheduler): nothing of it is left unenforced
    ("scheduled-report", None): {},
    ("scheduled-report", "staging"): {},
    ("support-desk", None): _SUPPORT_DESK,
    ("support-desk", "staging"): {**_SUPPORT_DESK, "target.config": 1},  # docker
    ("support-desk", "prod"): {**_SUPPORT_DESK, "target.config": 1},  # kubernetes
}
_FIELD_OF = {entry.message: entry.field for entry in UNENFORCED}


def _environments(example: Path) -> list[str]:
    document = read_spec(example).document or {}
    declared = document.get("environments")
    return sorted(declared) if isinstance(declared, dict) else []


BUILDS = [
    pytest.param(example, env, id=example.name if env is None else f"{example.name}[{env}]")
    for example in EXAMPLES
    for env in [None, *_environments(example)]
]


def _load(example: Path, env: str | None) -> Spec:
    # environ={}: an AGENTFORM_VAR_* in the developer's shell must not change the result
    result = load_spec(example, env=env, environ={}, providers=PROVIDERS)
    assert result.spec is not None, f"{example.name} ({env or 'base'}) did not load"
    return result.spec


def test_every_example_is_tested() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "hello",
        "support-desk",
        "research-crew",
        "scheduled-report",
    }


@pytest.mark.parametrize(("example", "env"), BUILDS)
def test_example_loads_without_diagnostics(example: Path, env: str | None) -> None:
    result = load_spec(example, env=env, environ={}, providers=PROVIDERS)
    problems = [
        f"{d.severity.value} {d.code} {d.location}: {d.summary}"
        + (f" (hint: {d.hint})" if d.hint else "")
        for d in result.diagnostics
        if d.code != "AF219"
    ]
    assert problems == []
    assert result.ok
    not_enforced: dict[str, int] = {}
    for d in result.diagnostics:
        if d.code == "AF219":
            field = _FIELD_OF[d.summary]
            not_enforced[field] = not_enforced.get(field, 0) + 1
    assert not_enforced == NOT_ENFORCED.get((example.name, env), {})


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_layout(example: Path) -> None:
    first_line = (example / "agentform.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == SCHEMA_LINE
    readme = example / "README.md"
    assert readme.is_file(), f"{example.name} has no README.md"
    assert f"agentform validate examples/{example.name}" in readme.read_text(encoding="utf-8")


def _stdio_tools(example: Path) -> dict[tuple[str, ...], set[str]]:
    """Every stdio command the example declares, in any build, with the tools it exposes."""
    found: dict[tuple[str, ...], set[str]] = {}
    for env in [None, *_environments(example)]:
        for tool in _load(example, env).tools.values():
            if tool.mcp.command is not None:
                exposed = found.setdefault(tuple(tool.mcp.command), set())
                exposed.update(tool.expose or ())
    return found


def test_every_stdio_server_has_expected_tools() -> None:
    declared = {(p.name, command) for p in EXAMPLES for command in _stdio_tools(p)}
    assert declared == set(SERVERS), "add new servers (and their tools) to SERVERS"


def test_exposed_tools_are_expected() -> None:
    for example in EXAMPLES:
        for command, exposed in _stdio_tools(example).items():
            assert exposed <= SERVERS[example.name, command], (example.name, command)


def _parameters(example: Path, command: tuple[str, ...]) -> StdioServerParameters:
    program, *args = command
    # `python` in a spec means the interpreter agentform runs under; here, this test's
    if program == "python":
        program = sys.executable
    return StdioServerParameters(command=program, args=args, cwd=example)


async def _with_session(
    example: Path,
    command: tuple[str, ...],
    log: Path,
    use: Callable[[ClientSession], Awaitable[T]],
) -> T:
    with log.open("w", encoding="utf-8") as errlog:
        async with (
            stdio_client(_parameters(example, command), errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await use(session)


def _run(
    example: Path,
    command: tuple[str, ...],
    log: Path,
    use: Callable[[ClientSession], Awaitable[T]],
) -> T:
    """Start the server from the example's directory, run ``use`` on a session, stop it."""
    coroutine = _with_session(example, command, log, use)
    try:
        return asyncio.run(asyncio.wait_for(coroutine, SERVER_TIMEOUT))
    except Exception as exc:
        stderr = log.read_text(encoding="utf-8") if log.exists() else ""
        raise AssertionError(f"{' '.join(command)} failed: {exc!r}\n{stderr}") from exc


@pytest.mark.parametrize(
    ("example", "command"),
    [pytest.param(ROOT / "examples" / ex, cmd, id=f"{ex}:{cmd[-1]}") for ex, cmd in SERVERS],
)
def test_stdio_server_lists_its_tools(
    example: Path, command: tuple[str, ...], tmp_path: Path
) -> None:
    async def list_names(session: ClientSession) -> set[str]:
        listed = await session.list_tools()
        return {tool.name for tool in listed.tools}

    names = _run(example, command, tmp_path / "server.log", list_names)
    assert names == SERVERS[example.name, command]


def test_refunds_server_deduplicates_by_idempotency_key(tmp_path: Path) -> None:
    example, command = ROOT / "examples" / "support-desk", ("python", "servers/refunds.py")
    refund = {"order_id": "A-1002", "amount": 42.5, "idempotency_key": "A-1002-refund-1"}

    async def refund_twice_then_reuse_key(session: ClientSession) -> list[CallToolResult]:
        return [
            await session.call_tool("issue_refund", refund),
            await session.call_tool("issue_refund", refund),
            await session.call_tool("issue_refund", {**refund, "amount": 10.0}),
        ]

    log = tmp_path / "server.log"
    first, again, reused = _run(example, command, log, refund_twice_then_reuse_key)
    assert not first.is_error and not again.is_error
    one, two = (json.loads(_text(r)) for r in (first, again))
    assert (one["duplicate"], two["duplicate"]) == (False, True)
    assert one["refund_id"] == two["refund_id"]
    assert reused.is_error  # same key, different refund: refused, never paid


def _text(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text
