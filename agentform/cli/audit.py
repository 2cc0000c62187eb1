"""``agentform audit list|verify|export``: the hash-chained audit log of the project's runtime.

Every task submitted, policy decision, held call and its decision, tool call and outcome,
delegation, token made or revoked, resource applied or deleted, and refused request is a record
in the runtime store, each carrying the hash of the one before it. These commands read it through
the project's engine (its control API, ``/v1/audit``): as the operator, or with the root group's
``--token`` as a subject whose roles grant ``read:audit``. ``verify`` recomputes the chain and
names the first record that was edited, deleted or reordered (exit 1). See ``docs/audit.md``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from agentform.cli.runtime import call_engine, engine_client, project_options

__all__ = ["audit_group"]


@click.group("audit")
def audit_group() -> None:
    """Read, verify and export the audit log (who did what, hash-chained)."""


@audit_group.command("list")
@project_options
@click.option("--agent", metavar="NAME", help="Only records about this agent.")
@click.option("--caller", "actor", metavar="SUBJECT", help="Only what this subject did.")
@click.option("--kind", metavar="KIND", help="A kind (tool.call) or a prefix (tool, approval).")
@click.option("--task", metavar="ID", help="Only records about this task.")
@click.option("--since", metavar="TIME", help="From this ISO 8601 time on (2026-12-01T09:00).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
def audit_list(
    spec: str,
    env: str | None,
    agent: str | None,
    actor: str | None,
    kind: str | None,
    task: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest records first."""
    client = engine_client(spec, env)
    params = {"agent": agent, "actor": actor, "kind": kind, "task": task, "since": since}
    params = {k: v for k, v in params.items() if v}
    found = call_engine(
        lambda: client.request("GET", "/v1/audit", params={**params, "limit": limit})
    )
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no audit records" + (" match" if params else ""))
        return
    for record in found:
        click.echo(_line(record))


def _line(record: dict[str, Any]) -> str:
    about = " ".join(
        part
        for part in (
            f"agent {record['agent']}" if record.get("agent") else "",
            f"task {record['task']}" if record.get("task") else "",
        )
        if part
    )
    data = json.dumps(record.get("data") or {}, sort_keys=True)
    if len(data) > 120:
        data = data[:117] + "..."
    return (
        f"{record['seq']:>8}  {record['at'][:23]}  {record['kind']:<18}  {record['actor']:<20}"
        f"  {about}  {data}"
    ).rstrip()


@audit_group.command("verify")
@project_options
def audit_verify(spec: str, env: str | None) -> None:
    """Recompute the hash chain; a record that was edited, deleted or reordered is named and
    the exit status is 1."""
    client = engine_client(spec, env)
    found = call_engine(lambda: client.request("GET", "/v1/audit/verify", timeout=600))
    if found["ok"]:
        click.echo(f"the audit log holds: {found['checked']} record(s) checked, chain intact")
        return
    broken = found["broken"]
    click.echo(
        f"error: the audit log is broken at record {broken['seq']}: {broken['reason']}"
        f" ({found['checked']} record(s) checked)",
        err=True,
    )
    sys.exit(1)


@audit_group.command("export")
@project_options
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to FILE."
)
def audit_export(spec: str, env: str | None, output: str | None) -> None:
    """Every record in order, as JSON lines (to standard output, or --output FILE)."""
    client = engine_client(spec, env)
    text: str = call_engine(lambda: client.text("/v1/audit/export"))
    if output:
        with open(output, "w", encoding="utf-8") as out:
            out.write(text)
        click.echo(f"wrote {text.count(chr(10))} record(s) to {output}", err=True)
        return
    click.echo(text, nl=False)
