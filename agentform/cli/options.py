"""Options shared by the commands: the spec path, ``--env``, ``--var`` and ``--state-url``.

The spec path (the PATH argument, or ``--path`` for commands whose arguments are something
else) defaults to the project found as :mod:`agentform.cli.project` says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from agentform.cli.project import resolve_project

__all__ = [
    "spec_options",
    "spec_path_argument",
    "spec_path_option",
    "state_url_option",
    "var_values",
]

F = TypeVar("F", bound=Callable[..., Any])


def spec_path_argument(func: F) -> F:
    """PATH: a spec file or directory (default: the project, found from the current directory)."""
    return click.argument(
        "path",
        required=False,
        default=None,
        callback=resolve_project,
        type=click.Path(exists=True, file_okay=True, dir_okay=True, readable=True),
    )(func)


def spec_path_option(help_text: str) -> Callable[[F], F]:
    """``--path PATH``, the spec path of commands whose arguments name something else."""
    return click.option(
        "--path",
        "path",
        default=None,
        callback=resolve_project,
        type=click.Path(exists=True),
        help=f"{help_text} (default: the project, found from the current directory).",
    )


def spec_options(func: F) -> F:
    func = click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a variable (repeatable); the value is parsed as YAML. "
        "AGENTFORM_VAR_NAME works too.",
    )(func)
    return click.option(
        "--env",
        "-e",
        "env",
        metavar="NAME",
        help="Merge the environment overlay NAME over the base spec.",
    )(func)


def var_values(items: tuple[str, ...]) -> dict[str, str]:
    """Parse ``--var`` items or stop with a usage error naming the malformed one."""
    if not items:
        return {}
    from agentform.spec.loader import parse_var_assignments

    values, bad = parse_var_assignments(items)
    if bad:
        raise click.BadParameter(f"{bad[0]!r} is not NAME=VALUE", param_hint="--var")
    return values


def state_url_option(func: F) -> F:
    return click.option(
        "--state-url",
        envvar="AGENTFORM_STATE_URL",
        metavar="URL",
        help="State store: sqlite:///path or postgresql+psycopg://... "
        "(default: SQLite in the spec's .agentform/; env AGENTFORM_STATE_URL).",
    )(func)
