"""``agentform bus permissions``: the NATS authorization a project's bus needs.

The embedded ``nats-server`` is configured by the engine itself (:mod:`agentform.runtime.bus.auth`):
one user per agent, with the permissions the spec gives it. With ``runtime.bus.url`` pointing at
a NATS you run yourself, you grant them: this prints the server configuration block, with a
placeholder for every password, for the project (and ``--env``) at PATH.
"""

from __future__ import annotations

import os
import sys

import click

from agentform.cli.options import spec_options, spec_path_argument, var_values

__all__ = ["bus_group"]


@click.group("bus")
def bus_group() -> None:
    """The project's NATS bus: the permissions its users need."""


@bus_group.command("permissions")
@spec_path_argument
@spec_options
def bus_permissions(path: str, env: str | None, variables: tuple[str, ...]) -> None:
    """Print the nats-server authorization block for the spec at PATH.

    \b
    Users: engine (everything), client (programs publishing tasks on the inbound subjects, with
    a bearer token), and agent-NAME for each agent (its own queue, the agents it delegates to,
    its heartbeat keys, the tool-lock bucket, its own inbox).
    """
    from agentform.cli.console import echo_diagnostics
    from agentform.runtime.bus.auth import permissions_block
    from agentform.runtime.host.client import runtime_project
    from agentform.spec import load_spec

    result = load_spec(path, env=env, variables=var_values(variables), environ=os.environ)
    if result.spec is None:
        echo_diagnostics([d for d in result.diagnostics if d.is_error], result.smap.texts, err=True)
        click.echo("the spec is invalid; run 'agentform validate' for details", err=True)
        sys.exit(1)
    spec = result.spec
    agents = {name: set(agent.delegates) & set(spec.agents) for name, agent in spec.agents.items()}
    reaches = {name: set(delegates) for name, delegates in agents.items()}
    for name, delegates in agents.items():
        for other in delegates:
            reaches[other].add(name)  # a child that ends resumes its parent
    project = runtime_project(spec.project, env or "default")
    click.echo(f"# nats-server authorization for project {project} (agentform bus permissions)")
    click.echo("# replace every <password of USER>; give the engine's user and password to the")
    click.echo("# engine, and each agent's to its workers")
    click.echo(permissions_block(spec.runtime.bus.stream_prefix, project, reaches))
