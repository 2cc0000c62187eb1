"""``agentform graph``: draw the resource dependencies or the coordination graph."""

from __future__ import annotations

import os
import sys

import click

from agentform.cli.options import spec_options, spec_path_argument, var_values

__all__ = ["command"]


@click.command("graph")
@spec_path_argument
@spec_options
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["dot", "mermaid", "text"]),
    default="dot",
    show_default=True,
    help="Graphviz dot, Mermaid flowchart, or text for a terminal (resources: the apply "
    "order; coordination: who delegates to whom, and the schedules).",
)
@click.option(
    "--view",
    type=click.Choice(["resources", "coordination"]),
    default="resources",
    show_default=True,
    help="resources: what depends on what (apply order); "
    "coordination: who delegates to whom, what schedules run.",
)
def command(path: str, env: str | None, variables: tuple[str, ...], fmt: str, view: str) -> None:
    """Draw the graph of the spec at PATH.

    PATH is a spec file or directory; by default, the project found from the current directory
    (or named with the global -C).

    \b
    agentform graph | dot -Tsvg > graph.svg
    agentform graph --view coordination --format mermaid
    agentform graph --view coordination --format text
    """
    from agentform.cli.console import echo_diagnostics
    from agentform.graph import build_graph, to_dot, to_mermaid, to_text
    from agentform.spec import load_spec

    result = load_spec(path, env=env, variables=var_values(variables), environ=os.environ)
    if result.spec is None:
        echo_diagnostics([d for d in result.diagnostics if d.is_error], result.smap.texts, err=True)
        click.echo("the spec is invalid; run 'agentform validate' for details", err=True)
        sys.exit(1)
    graph = build_graph(result.spec)
    if fmt == "dot":
        click.echo(to_dot(graph, view), nl=False)  # type: ignore[arg-type]
    elif fmt == "mermaid":
        click.echo(to_mermaid(graph, view), nl=False)  # type: ignore[arg-type]
    else:
        click.echo(to_text(graph, view), nl=False)  # type: ignore[arg-type]
