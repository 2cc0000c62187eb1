"""``agentform init``: scaffold a project from a template."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["command"]


def _directory(ctx: click.Context, directory: str | None) -> str:
    """``--dir``, or the directory the global ``-C`` names (both given: they must agree)."""
    from click.core import ParameterSource

    from agentform.cli.project import given_project

    named = given_project(ctx)
    if named is None:
        return directory or "."
    if directory is None:
        return named.path
    on_line = ctx.get_parameter_source("directory") is ParameterSource.COMMANDLINE
    if (
        on_line
        and named.on_command_line
        and Path(directory).resolve() != Path(named.path).resolve()
    ):
        raise click.UsageError(
            f"{named.hint} names {named.path!r} but --dir names {directory!r}; "
            "give only one of them"
        )
    return directory


@click.command("init")
@click.argument("template", required=False, default="hello")
@click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False),
    help="Where to create the project (default: the global -C, else the current directory).",
)
@click.option("--name", help="Project name (default: the directory's name).")
@click.option("--list", "list_only", is_flag=True, help="List the templates and exit.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.pass_context
def command(
    ctx: click.Context,
    template: str,
    directory: str | None,
    name: str | None,
    list_only: bool,
    force: bool,
) -> None:
    """Create a project from TEMPLATE (default: hello) in --dir.

    Templates are complete, valid specs: hello, support-desk, research-crew,
    scheduled-report. Run 'agentform init --list' to see them.
    """
    from agentform.names import did_you_mean, is_valid_name
    from agentform.scaffold import ScaffoldError, copy_template, first_agent, templates
    from agentform.spec.schema import render_schema

    available = templates()
    if list_only:
        from rich.console import Console
        from rich.table import Table

        from agentform.cli.console import use_color

        table = Table("template", "what it shows", box=None, pad_edge=False)
        for t in available.values():
            table.add_row(t.name, t.summary)
        Console(no_color=not use_color(), highlight=False, soft_wrap=True).print(table)
        return
    if template not in available:
        hint = did_you_mean(template, available, "template") or ""
        raise click.BadParameter(
            f"unknown template {template!r}. {hint}".strip(), param_hint="TEMPLATE"
        )
    directory = _directory(ctx, directory)
    target = Path(directory)
    project = name or target.resolve().name.lower().replace(" ", "-")
    if not is_valid_name(project):
        raise click.BadParameter(
            f"{project!r} is not a valid project name (lower-case letters, digits, '-', '_')",
            param_hint="--name",
        )
    try:
        written = copy_template(
            available[template], target, project=project, schema_text=render_schema(), force=force
        )
    except ScaffoldError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for path in written:
        click.echo(f"  created {target / path}")
    here = directory == "."
    cd = "" if here else f"  cd {directory}\n"
    agent = first_agent(target) or "AGENT"
    readme = "README.md" if here else f"{directory}/README.md"
    click.echo(
        f"\nProject {project!r} created from template {template!r}. Next:\n"
        f"{cd}"
        "  agentform validate\n"
        "  agentform apply --auto-approve\n"
        f'  agentform send {agent} "Hello"\n'
        "  agentform destroy --auto-approve\n"
        f"{readme} walks through what to send and what to look at "
        "(every command finds the project from the directory you are in, or from -C PATH)."
    )
