"""``agentform tokens create|list|revoke``: bearer tokens for the agents' A2A servers.

A token authenticates a *subject* (a name in the spec's ``access.members``); the subject may
invoke the agents its roles grant ``invoke`` on. Tokens are made and kept by the project's engine
(through its control API, ``/v1/tokens``): the token is printed once, by ``create``, and only its
SHA-256 is stored. See ``docs/a2a.md``.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import click

from agentform.cli.runtime import call_engine, engine_client, project_options

__all__ = ["tokens_group"]


@click.group("tokens")
def tokens_group() -> None:
    """Make, list and revoke the bearer tokens of the agents' A2A servers."""


@tokens_group.command("create")
@click.argument("subject")
@project_options
@click.option("--json", "as_json", is_flag=True, help="Print the token and its record as JSON.")
def tokens_create(subject: str, spec: str, env: str | None, as_json: bool) -> None:
    """A new token for SUBJECT, printed once: store it now, it cannot be shown again."""
    client = engine_client(spec, env)
    made = call_engine(lambda: client.request("POST", "/v1/tokens", body={"subject": subject}))
    if as_json:
        click.echo(json.dumps(made, indent=2))
        return
    click.echo(made["token"])
    click.echo(
        f"token {made['id']} for {subject}: shown only this once; it may invoke the agents"
        f" whose invoke permission {subject} holds in access.members",
        err=True,
    )


@tokens_group.command("list")
@project_options
@click.option("--json", "as_json", is_flag=True)
def tokens_list(spec: str, env: str | None, as_json: bool) -> None:
    """Every token by subject (never the token itself)."""
    client = engine_client(spec, env)
    found = call_engine(lambda: client.request("GET", "/v1/tokens"))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"{'ID':<14} {'SUBJECT':<32} {'CREATED':<26} STATE")
    for token in found:
        state = "revoked" if token["revoked"] else "live"
        click.echo(f"{token['id']:<14} {token['subject']:<32} {token['created_at']:<26} {state}")


@tokens_group.command("revoke")
@click.argument("subject")
@project_options
def tokens_revoke(subject: str, spec: str, env: str | None) -> None:
    """Revoke every token of SUBJECT: requests with them are refused at once."""
    client = engine_client(spec, env)
    done = call_engine(lambda: client.request("DELETE", f"/v1/tokens/{quote(subject, safe='')}"))
    click.echo(f"revoked {done['revoked']} token(s) of {subject}")
