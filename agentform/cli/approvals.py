"""``agentform approvals list|show|approve|deny|resolve``: what waits for a human's decision.

A ``require_approval`` policy holds a matching call: the task waits in ``input-required`` and
an approval request records the call (tool, arguments, the policies and the roles that may
approve, its deadline). These commands read and decide them through the project's engine
(its control API, ``/v1/approvals``), as the operator: the engine's token may decide any
request. An approved call is made once; a denied or expired one is refused and the agent is told
why. With the root group's ``--token``, they act as that token's subject instead, who sees and
decides only the requests of the policies its roles grant ``approve:`` on.

A tool with ``on_unknown_outcome: ask_human`` files a request of another kind when a crash left
one of its unsafe calls with an unknown outcome: ``resolve ID happened --result TEXT`` (the call
did happen; TEXT is its result), ``resolve ID retry`` (make it again, same idempotency key) or
``resolve ID fail``. See ``docs/policies-and-access.md``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import click

from agentform.cli.runtime import call_engine, engine_client, project_options

__all__ = ["approvals_group"]


@click.group("approvals")
def approvals_group() -> None:
    """List, show and decide the tool calls held for approval."""


@approvals_group.command("list")
@project_options
@click.option(
    "--status",
    type=click.Choice(["pending", "approved", "denied", "expired", "happened", "all"]),
    default="pending",
    show_default=True,
)
@click.option("--agent", help="Only this agent's requests.")
@click.option("--json", "as_json", is_flag=True, help="Print the requests as JSON.")
def approvals_list(
    spec: str, env: str | None, status: str, agent: str | None, as_json: bool
) -> None:
    """The approval requests, newest first (pending ones by default)."""
    client = engine_client(spec, env)
    params = {k: v for k, v in {"status": status, "agent": agent}.items() if v and v != "all"}
    found = call_engine(lambda: client.request("GET", "/v1/approvals", params=params))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo(f"no {'' if status == 'all' else status + ' '}approval requests")
        return
    for approval in found:
        click.echo(_line(approval))


@approvals_group.command("show")
@click.argument("approval_id")
@project_options
@click.option("--json", "as_json", is_flag=True)
def approvals_show(approval_id: str, spec: str, env: str | None, as_json: bool) -> None:
    """One request: the call, why it is held, who may approve, and its decision."""
    client = engine_client(spec, env)
    found = call_engine(lambda: client.request("GET", f"/v1/approvals/{_path(approval_id)}"))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(_line(found))
    click.echo(f"  task:      {found['task_id']} (agent {found['agent']})")
    click.echo(f"  call:      {found['tool']}.{found['function']}")
    click.echo(f"  arguments: {json.dumps(found['arguments'], sort_keys=True)}")
    click.echo(f"  why:       {found['reason']}")
    click.echo(f"  approvers: {', '.join(found['approvers']) or '(roles with approve:)'}")
    if found["expires_at"]:
        click.echo(f"  expires:   {found['expires_at']}")
    if found["decided_by"]:
        note = f": {found['note']}" if found["note"] else ""
        click.echo(f"  decided:   {found['status']} by {found['decided_by']}{note}")


def _decide(
    approval_id: str,
    spec: str,
    env: str | None,
    decision: str,
    reason: str,
    result: str | None = None,
) -> None:
    client = engine_client(spec, env)
    body = {"decision": decision, **({"reason": reason} if reason else {})}
    if result is not None:
        body["result"] = result
    done = call_engine(
        lambda: client.request("POST", f"/v1/approvals/{_path(approval_id)}", body=body)
    )
    click.echo(
        f"{done['status']} {done['id']}: the task goes on ({done['tool']}.{done['function']})"
    )


@approvals_group.command("approve")
@click.argument("approval_id")
@project_options
@click.option("--reason", default="", help="Why: recorded with the decision.")
def approvals_approve(approval_id: str, spec: str, env: str | None, reason: str) -> None:
    """Approve a held call: it is made once, and the task goes on."""
    _decide(approval_id, spec, env, "approve", reason)


@approvals_group.command("deny")
@click.argument("approval_id")
@project_options
@click.option("--reason", default="", help="Why: recorded, and told to the agent.")
def approvals_deny(approval_id: str, spec: str, env: str | None, reason: str) -> None:
    """Deny a held call: it is not made, and the agent is told why."""
    _decide(approval_id, spec, env, "deny", reason)


@approvals_group.command("resolve")
@click.argument("approval_id")
@click.argument("answer", type=click.Choice(["happened", "retry", "fail"]))
@project_options
@click.option("--result", help="With happened: the call's result, as the tool's system shows it.")
@click.option("--reason", default="", help="Why: recorded with the answer.")
def approvals_resolve(
    approval_id: str, answer: str, spec: str, env: str | None, result: str | None, reason: str
) -> None:
    """Answer an unsafe call whose outcome a crash left unknown (on_unknown_outcome: ask_human).

    \b
    happened  it did happen: the task goes on with --result as the call's result
    retry     it did not: make it again, with the same idempotency key
    fail      fail the task
    """
    if answer == "happened" and not (result or "").strip():
        raise click.UsageError("happened needs --result TEXT: what the call returned")
    if answer != "happened" and result is not None:
        raise click.UsageError("--result goes with happened only")
    _decide(approval_id, spec, env, answer, reason, result)


def _path(approval_id: str) -> str:
    return quote(approval_id, safe="/")


def _line(approval: dict[str, Any]) -> str:
    why = (
        "unknown outcome" if approval.get("kind") == "outcome" else ", ".join(approval["policies"])
    )
    return (
        f"{approval['id']}  {approval['status']:<8}  {approval['agent']}"
        f" -> {approval['tool']}.{approval['function']}  ({why})"
    )
