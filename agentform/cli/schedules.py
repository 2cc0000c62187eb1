"""``agentform schedules list|run|pause|resume``: the project's schedules at run time.

The spec's ``schedules`` fire as tasks with caller ``schedule:NAME``, sent by the engine that
holds the scheduler lease (one per store and bus). These commands ask the project's engine
(its control API, ``/v1/schedules``): ``list`` needs ``read:tasks``, the others ``admin:*`` for a
subject's ``--token``; the operator may do all. A pause is run-time state, kept in the runtime
store until ``resume`` (a restart or a new leader keeps it); ``enabled: false`` in the spec is
the lasting way. See ``docs/schedules.md``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import click

from agentform.cli.console import fail
from agentform.cli.runtime import call_engine, engine_client, project_options
from agentform.durations import format_duration

__all__ = ["schedules_group"]


@click.group("schedules")
def schedules_group() -> None:
    """List the schedules, fire one now, pause or resume one."""


@schedules_group.command("list")
@project_options
@click.option("--json", "as_json", is_flag=True, help="Print the schedules as JSON.")
def schedules_list(spec: str, env: str | None, as_json: bool) -> None:
    """Each schedule: when, next and last fire, the last fire's outcome."""
    client = engine_client(spec, env)
    found = call_engine(lambda: client.request("GET", "/v1/schedules"))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    schedules = found["schedules"]
    if not schedules:
        click.echo("no schedules are declared")
        return
    rows: list[tuple[str, ...]] = [("NAME", "AGENT", "WHEN", "NEXT", "LAST", "RUNS", "OUTCOME")]
    rows += [_row(s) for s in schedules]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    if not found["leader"]:
        click.echo("(this engine is a standby: another engine on the store fires the schedules)")


def _when(schedule: dict[str, Any]) -> str:
    if schedule.get("cron"):
        return f"cron {schedule['cron']} {schedule['timezone']}"
    return f"every {format_duration(timedelta(seconds=schedule['interval']))}"


def _time(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _row(schedule: dict[str, Any]) -> tuple[str, ...]:
    if not schedule["enabled"]:
        upcoming = "disabled"
    elif schedule["paused"]:
        upcoming = "paused"
    else:
        upcoming = _time(schedule["next_run_at"])
    return (
        schedule["name"],
        schedule["agent"],
        _when(schedule),
        upcoming,
        _time(schedule["last_run_at"]),
        str(schedule["runs"]),
        schedule.get("last_outcome") or "-",
    )


def _post(spec: str, env: str | None, name: str, verb: str) -> dict[str, Any]:
    client = engine_client(spec, env)
    path = f"/v1/schedules/{quote(name, safe='')}/{verb}"
    found: dict[str, Any] = call_engine(lambda: client.request("POST", path, body={}))
    return found


@schedules_group.command("run")
@project_options
@click.argument("name")
def schedules_run(spec: str, env: str | None, name: str) -> None:
    """Fire schedule NAME now (also when paused): its task, caller schedule:NAME."""
    state = _post(spec, env, name, "run")
    if state.get("last_task_id") and not str(state.get("last_outcome", "")).startswith("not"):
        click.echo(f"schedule {name} fired: task {state['last_task_id']}")
        return
    fail(f"schedule {name} fired but {state.get('last_outcome')}")


@schedules_group.command("pause")
@project_options
@click.argument("name")
def schedules_pause(spec: str, env: str | None, name: str) -> None:
    """Stop schedule NAME firing until resumed (kept across restarts)."""
    _post(spec, env, name, "pause")
    click.echo(f"schedule {name} paused")


@schedules_group.command("resume")
@project_options
@click.argument("name")
def schedules_resume(spec: str, env: str | None, name: str) -> None:
    """Let schedule NAME fire again; the fires missed meanwhile follow its catch_up."""
    _post(spec, env, name, "resume")
    click.echo(f"schedule {name} resumed")
