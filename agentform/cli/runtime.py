"""The engine verbs (``status``, ``logs``, ``engine start|stop|status``) and how every runtime
verb reaches the project's local engine.

The engine is the project's, per environment: :func:`project_options` adds ``--spec`` (a spec file
or its directory; default: the project found as :mod:`agentform.cli.project` says) and ``--env``,
:func:`engine_client` opens its control API (:mod:`agentform.runtime.host.client`), as the
operator or, with the root group's ``--token`` (:func:`token_option`), as that token's subject,
and :func:`call_engine` turns the engine being down or refusing a request into one ``error:``
line and exit status 1. Those three are used here and by
the task verbs (:mod:`agentform.cli.tasks`), ``tokens`` (:mod:`agentform.cli.tokens`) and
``memory`` (:mod:`agentform.cli.memory_project`). Nothing here runs agents itself.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from agentform.cli.console import fail
from agentform.cli.project import resolve_project

__all__ = [
    "acting_as_token",
    "call_engine",
    "engine_client",
    "engine_group",
    "logs_command",
    "project_options",
    "status_command",
    "token_option",
]

F = TypeVar("F", bound=Callable[..., Any])

_TOKEN_KEY = "agentform.token"


def _remember_token(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[_TOKEN_KEY] = value


def token_option(func: F) -> F:
    """The root group's ``--token TOKEN`` (env ``AGENTFORM_TOKEN``); :func:`engine_client`
    reads it."""
    return click.option(
        "--token",
        metavar="TOKEN",
        envvar="AGENTFORM_TOKEN",
        expose_value=False,
        callback=_remember_token,
        help="Act as the subject of this bearer token (from 'agentform tokens create') instead "
        "of as the operator (env AGENTFORM_TOKEN).",
    )(func)


def project_options(func: F) -> F:
    """``--spec`` and ``--env``: which project's engine, for which environment."""
    func = click.option(
        "--env",
        "-e",
        "env",
        metavar="NAME",
        help="The environment whose engine to use (each environment has its own).",
    )(func)
    return click.option(
        "--spec",
        "-s",
        "spec",
        default=None,
        envvar="AGENTFORM_SPEC",
        callback=resolve_project,
        type=click.Path(exists=True, file_okay=True, dir_okay=True),
        help="The spec file or directory of the project (default: the project found from the "
        "current directory, or the global -C; env AGENTFORM_SPEC).",
    )(func)


def _base_dir(spec: str) -> Path:
    path = Path(spec).resolve()
    return path if path.is_dir() else path.parent


def acting_as_token() -> bool:
    """Whether the root group's ``--token`` was given: the command acts as that subject."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_TOKEN_KEY))


def engine_client(spec: str, env: str | None) -> Any:
    """The control-API client of the engine of ``spec``'s project in ``env``, acting as the
    subject of the root group's ``--token`` when one was given, else as the operator."""
    from agentform.runtime.host.client import EngineClient, engine_dir

    ctx = click.get_current_context(silent=True)
    token = ctx.meta.get(_TOKEN_KEY) if ctx is not None else None
    return EngineClient(engine_dir(_base_dir(spec), env or "default"), token=token)


def call_engine(action: Callable[[], Any]) -> Any:
    """``action()``; an engine that is down or refuses the request stops the command (exit 1)."""
    from agentform.runtime.host.client import EngineRequestError, EngineUnavailable

    try:
        return action()
    except (EngineUnavailable, EngineRequestError) as exc:
        fail(str(exc))


@click.command("status")
@project_options
@click.option("--json", "as_json", is_flag=True, help="Print the engine's status as JSON.")
def status_command(spec: str, env: str | None, as_json: bool) -> None:
    """Show the local engine, its bus and store, and every agent's workers and health."""
    client = engine_client(spec, env)
    status = call_engine(lambda: client.request("GET", "/v1/status"))
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    bus = status["bus"]
    click.echo(
        f"engine   pid {status['pid']}, up {status['uptime']:.0f}s, project {status['project']}"
    )
    kind = "embedded nats-server" if bus["embedded"] else "external NATS"
    state = "connected" if bus["connected"] else "DISCONNECTED"
    click.echo(f"bus      {bus['url']} ({kind}, {state})")
    click.echo(f"store    {status['store']}")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(status["tasks"].items()) if n) or "none yet"
    click.echo(f"tasks    {counts}")
    click.echo("")
    click.echo(f"{'AGENT':<24} {'READY':>7} {'RESTARTS':>8}  HEALTH")
    for agent in status["agents"]:
        health = (
            "crash-looping"
            if agent["crash_looping"]
            else ("ok" if agent["running"] >= agent["replicas"] else "starting")
        )
        ready = f"{agent['running']}/{agent['replicas']}"
        click.echo(f"{agent['agent']:<24} {ready:>7} {agent['restarts']:>8}  {health}")
        if agent.get("a2a"):
            click.echo(f"    a2a {agent['a2a']}")
        if agent.get("breaker"):  # every tool call of the agent trips until it closes
            opened = agent["breaker"]
            click.echo(f"    circuit breaker OPEN until {opened['until']}: {opened['reason']}")
        if agent.get("trips_last_hour"):
            click.echo(
                f"    circuit breaker tripped {agent['trips_last_hour']} time(s) in the last hour"
                " ('agentform audit list --kind breaker')"
            )
        for event in agent["events"][-3:]:
            click.echo(f"    {event}")
    for event in status.get("events", [])[-5:]:
        click.echo(f"engine: {event}")


@click.command("logs")
@click.argument("agent")
@project_options
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option("--tail", default=50, show_default=True, help="Start with the last N lines.")
def logs_command(agent: str, spec: str, env: str | None, follow: bool, tail: int) -> None:
    """Print AGENT's worker logs (all replicas)."""
    client = engine_client(spec, env)

    def fetch(offset: int) -> tuple[bytes, int]:
        response = call_engine(
            lambda: client._send("GET", f"/v1/logs/{agent}", params={"offset": offset})
        )
        return response.content, int(response.headers.get("x-offset", offset))

    data, offset = fetch(0)
    lines = data.decode(errors="replace").splitlines()
    for line in lines[-tail:] if tail else lines:
        click.echo(line)
    try:
        while follow:
            time.sleep(0.5)
            data, offset = fetch(offset)
            if data:
                sys.stdout.write(data.decode(errors="replace"))
                sys.stdout.flush()
    except KeyboardInterrupt:
        return


@click.group("engine")
def engine_group() -> None:
    """Start, stop or inspect the project's local engine (apply starts it when needed)."""


@engine_group.command("start")
@project_options
def engine_start(spec: str, env: str | None) -> None:
    """Start the engine detached; it restores what it ran before it stopped."""
    from agentform.runtime.host.client import runtime_project
    from agentform.spec import load_spec

    result = load_spec(spec, env=env, variables={}, environ={})
    if result.spec is None:
        fail("the spec is invalid; run 'agentform validate' for details")
    client = engine_client(spec, env)
    project = runtime_project(result.spec.project, env or "default")
    call_engine(lambda: client.start(project=project, base_dir=_base_dir(spec)))
    click.echo(f"engine running (pid {client.pid}) for {project}")


@engine_group.command("stop")
@project_options
def engine_stop(spec: str, env: str | None) -> None:
    """Stop the engine, its workers and its embedded NATS (tasks stay queued and recorded)."""
    client = engine_client(spec, env)
    if call_engine(client.stop):
        click.echo("engine stopped")
    else:
        click.echo("no engine was running")


@engine_group.command("status")
@project_options
def engine_status(spec: str, env: str | None) -> None:
    """Say whether the engine runs (exit 0) or not (exit 3)."""
    client = engine_client(spec, env)
    if client.running():
        click.echo(f"engine running (pid {client.pid})")
        return
    click.echo("engine not running")
    sys.exit(3)
