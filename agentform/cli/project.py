"""Which project a command works on: the one rule every command follows to find it.

A *project root* is a directory holding ``agentform.yaml`` (or ``agentform.yml``), or a
``.agentform/`` directory (the state and engine files apply makes) beside spec ``*.yaml`` files.

Where a command looks, first match wins:

1. on the command line: the command's own form (the PATH argument of validate, plan, apply,
   destroy, graph and fmt; ``--path`` of import, rollback, state and force-unlock; ``--spec/-s``
   of the runtime verbs), used as it is, as before; or the global ``-C/--project PATH``. Both
   given and naming different projects is a usage error;
2. in the environment: ``AGENTFORM_PROJECT`` (the global option's), or ``AGENTFORM_SPEC``
   (``--spec``'s); both set and naming different projects is a usage error;
3. the current directory or its nearest parent that is a project root, as git finds ``.git``.
   When none is, a current directory holding spec ``*.yaml`` files is the project (a spec not
   called ``agentform.yaml`` keeps working from its own directory).

``-C`` names a spec file, or a directory, from which the project root is found as in 3: naming
``examples/support-desk/agents`` means ``examples/support-desk``. It does not change directory:
other paths stay relative to the current one. The option decorators in
:mod:`agentform.cli.options` and :mod:`agentform.cli.runtime` attach :func:`resolve_project` to
the per-command forms; :func:`project_option` is the root group's ``-C``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from agentform.cli.console import fail

__all__ = [
    "MARKERS",
    "NamedProject",
    "find_project",
    "given_project",
    "project_dir",
    "project_option",
    "resolve_project",
    "resolve_projects",
]

F = TypeVar("F", bound=Callable[..., Any])

MARKERS = ("agentform.yaml", "agentform.yml")
STATE_DIR = ".agentform"
_SPEC_SUFFIXES = (".yaml", ".yml")
_META_KEY = "agentform.project"
_GLOBAL_HINT = "-C/--project"


@dataclass(frozen=True, slots=True)
class NamedProject:
    """A project named on the command line or in the environment, and where it was named."""

    path: str
    source: ParameterSource
    hint: str  # how the user named it, for messages: '-C/--project' or 'AGENTFORM_PROJECT'

    @property
    def on_command_line(self) -> bool:
        return self.source is ParameterSource.COMMANDLINE


def _has_spec_files(directory: Path) -> bool:
    try:
        return any(
            p.suffix in _SPEC_SUFFIXES and not p.name.startswith(".") and p.is_file()
            for p in directory.iterdir()
        )
    except OSError:
        return False


def _is_root(directory: Path) -> bool:
    if any((directory / marker).is_file() for marker in MARKERS):
        return True
    return (directory / STATE_DIR).is_dir() and _has_spec_files(directory)


def find_project(start: Path) -> Path | None:
    """The project root for ``start`` (a directory): itself or its nearest parent that is a
    root; else ``start`` when it holds spec files; else ``None``."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if _is_root(directory):
            return directory
    return start if _has_spec_files(start) else None


def project_dir(path: str) -> Path:
    """The project a path given on the command line belongs to, to compare two of them."""
    resolved = Path(path).resolve()
    directory = resolved if resolved.is_dir() else resolved.parent
    return find_project(directory) or directory


def _shown(path: Path) -> str:
    # relative to the working directory when inside it ('.' for itself), as diagnostics show paths
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def _not_found(where: Path, named: str | None) -> NoReturn:
    place = f"{where} (from {named})" if named else str(where)
    fail(
        f"no agentform project in {place} or any directory above it (a project is a directory "
        f"with {MARKERS[0]}); cd into a project, name one with 'agentform -C PATH ...', or "
        "create one with 'agentform init'"
    )


def _locate(named: NamedProject) -> str:
    """The spec path ``named`` stands for: a file as it is, a directory's project root."""
    path = Path(named.path)
    if not path.exists():
        raise click.BadParameter(f"path {named.path!r} does not exist", param_hint=named.hint)
    if not path.is_dir():
        return named.path
    found = find_project(path)
    if found is None:
        _not_found(path.resolve(), named.hint)
    return named.path if found == path.resolve() else _shown(found)


def _discover() -> str:
    found = find_project(Path.cwd())
    if found is None:
        _not_found(Path.cwd(), None)
    return _shown(found)


def given_project(ctx: click.Context) -> NamedProject | None:
    """The project named with ``-C/--project`` or ``AGENTFORM_PROJECT``, if any."""
    named = ctx.meta.get(_META_KEY)
    return named if isinstance(named, NamedProject) else None


def _remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    source = ctx.get_parameter_source("project") or ParameterSource.COMMANDLINE
    hint = _GLOBAL_HINT if source is ParameterSource.COMMANDLINE else "AGENTFORM_PROJECT"
    ctx.meta[_META_KEY] = NamedProject(value, source, hint)


def project_option(func: F) -> F:
    """The root group's ``-C/--project PATH`` (env ``AGENTFORM_PROJECT``)."""
    return click.option(
        "-C",
        "--project",
        "project",
        metavar="PATH",
        envvar="AGENTFORM_PROJECT",
        expose_value=False,
        callback=_remember,
        help="The project to work on: its directory (or one inside it) or a spec file "
        "(default: the current directory or its nearest parent with agentform.yaml; "
        "env AGENTFORM_PROJECT).",
    )(func)


def _hint(param: click.Parameter) -> str:
    if isinstance(param, click.Option):
        return "/".join(param.opts)
    return param.human_readable_name


def _check_agree(own: str, own_hint: str, named: NamedProject) -> None:
    if project_dir(own) != project_dir(named.path):
        raise click.UsageError(
            f"{named.hint} names the project {named.path!r} but {own_hint} names {own!r}; "
            "give only one of them"
        )


def _choose(
    ctx: click.Context, own: str | None, own_source: ParameterSource | None, hint: str
) -> str:
    named = given_project(ctx)
    if own is not None:
        own_on_line = own_source is ParameterSource.COMMANDLINE
        if named is None or (own_on_line and not named.on_command_line):
            return own
        if named.on_command_line == own_on_line:
            _check_agree(own, hint, named)
            return own
    if named is not None:
        return _locate(named)
    return _discover()


def resolve_project(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Callback of a command's own project form (default ``None``): the spec path to use."""
    if ctx.resilient_parsing:
        return value
    assert param.name is not None
    hint = _hint(param)
    if param.envvar and ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
        hint = str(param.envvar)
    return _choose(ctx, value, ctx.get_parameter_source(param.name), hint)


def resolve_projects(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """Callback of ``fmt``'s PATHS: each must lie in the project ``-C`` names; none means
    the project."""
    if ctx.resilient_parsing:
        return value
    if not value:
        return (_choose(ctx, None, None, _hint(param)),)
    named = given_project(ctx)
    if named is not None and named.on_command_line:
        for path in value:
            _check_agree(path, _hint(param), named)
    return value
