"""``agentform schema``: print, write or check the spec's JSON Schema."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["command"]


@click.command("schema")
@click.option(
    "--write", "write", is_flag=True, help="Write the schema to --path instead of printing it."
)
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 if the file at --path differs from the generated schema (CI).",
)
@click.option(
    "--path",
    "target",
    default="schemas/agentform.schema.json",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where --write and --check look.",
)
def command(write: bool, check: bool, target: str) -> None:
    """Print the JSON Schema of agentform specs (generated from the models).

    Point editors at it with a first line such as
    "# yaml-language-server: $schema=schemas/agentform.schema.json".
    """
    from agentform.spec.schema import render_schema

    text = render_schema()
    path = Path(target)
    if check:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            click.echo(f"{target} is stale; run: agentform schema --write", err=True)
            sys.exit(1)
        click.echo(f"{target} is up to date")
        return
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}")
        return
    click.echo(text, nl=False)
