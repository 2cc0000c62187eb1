"""``agentform state ...`` and ``agentform force-unlock``: inspect and edit recorded state.

State belongs to one project (from the spec at ``--path``, by default the project found from the
current directory) and one environment (``--env``, default ``default``), in the store at
``--state-url`` / ``AGENTFORM_STATE_URL`` (default: SQLite under the spec's ``.agentform/``).
Edits (``rm``, ``mv``) take the state lock and write a new serial; nothing is ever overwritten,
so ``state history`` shows every step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from agentform.addresses import Address
from agentform.cli.console import fail
from agentform.cli.options import spec_path_option, state_url_option

if TYPE_CHECKING:
    from agentform.state import StateStore

__all__ = ["force_unlock_command", "group"]

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_ENVIRONMENT = "default"


def _store_options(func: F) -> F:
    func = state_url_option(func)
    func = click.option(
        "--env",
        "-e",
        "env",
        default=DEFAULT_ENVIRONMENT,
        show_default=True,
        metavar="NAME",
        help="Environment whose state to use.",
    )(func)
    return spec_path_option("The spec (file or directory) that names the project")(func)


def _open(path: str, env: str, state_url: str | None) -> StateStore:
    from agentform.spec import read_spec
    from agentform.state import open_store

    raw = read_spec(path)
    project = raw.document.get("project") if raw.document else None
    if not isinstance(project, str) or not project:
        fail(f"cannot tell the project from the spec at {path}; run 'agentform validate'")
    try:
        return open_store(state_url, str(project), env, raw.base_dir)
    except Exception as exc:  # the store explains what it could not open
        fail(str(exc))


def _run(action: Callable[[], None]) -> None:
    from agentform.state import StateError

    try:
        action()
    except StateError as exc:
        fail(str(exc))


@click.group("state")
def group() -> None:
    """Inspect and edit recorded state (list, show, history, rm, mv)."""


@group.command("list")
@_store_options
def list_command(path: str, env: str, state_url: str | None) -> None:
    """List the resources recorded in the latest state."""

    def action() -> None:
        with _open(path, env, state_url) as store:
            snapshot = store.read()
            if snapshot is None:
                click.echo(f"no state yet for this project in environment {env!r}")
                return
            for address, resource in sorted(snapshot.resources.items()):
                click.echo(f"{address:<40} {resource.provider:<12} {resource.id or '-'}")

    _run(action)


@group.command("show")
@click.argument("address")
@_store_options
def show_command(address: str, path: str, env: str, state_url: str | None) -> None:
    """Show the recorded values of ADDRESS (kind.name) as JSON."""

    def action() -> None:
        with _open(path, env, state_url) as store:
            snapshot = store.read()
            resource = snapshot.resources.get(address) if snapshot else None
            if resource is None:
                fail(f"{address} is not in the state; 'agentform state list' shows what is")
            click.echo(json.dumps(resource.model_dump(mode="json"), indent=2, sort_keys=True))

    _run(action)


@group.command("history")
@_store_options
def history_command(path: str, env: str, state_url: str | None) -> None:
    """List every serial written, oldest first."""

    def action() -> None:
        with _open(path, env, state_url) as store:
            entries = store.history()
            if not entries:
                click.echo(f"no state yet for this project in environment {env!r}")
            for entry in entries:
                when = entry.written_at.strftime("%Y-%m-%d %H:%M:%S UTC")
                click.echo(f"{entry.serial:>6}  {when}  {entry.summary}")

    _run(action)


def _edit(
    path: str,
    env: str,
    state_url: str | None,
    operation: str,
    change: Callable[[dict[str, Any]], str],
) -> None:
    def action() -> None:
        with _open(path, env, state_url) as store, store.lock(operation):
            snapshot = store.read()
            if snapshot is None:
                fail(f"no state yet for this project in environment {env!r}")
            resources = dict(snapshot.resources)
            message = change(resources)
            store.write(snapshot.next(resources), expected_serial=snapshot.serial)
            click.echo(f"{message} (state serial {snapshot.serial + 1})")

    _run(action)


@group.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@_store_options
def rm_command(addresses: tuple[str, ...], path: str, env: str, state_url: str | None) -> None:
    """Forget ADDRESSES: remove them from state without touching what runs.

    The next plan will propose to create them again; use 'agentform import' to adopt them.
    """

    def change(resources: dict[str, Any]) -> str:
        missing = [a for a in addresses if a not in resources]
        if missing:
            fail(f"not in the state: {', '.join(missing)}; nothing was changed")
        for address in addresses:
            del resources[address]
        return f"removed {len(addresses)} resource{'s' if len(addresses) != 1 else ''}"

    _edit(path, env, state_url, "state rm", change)


@group.command("mv")
@click.argument("source")
@click.argument("destination")
@_store_options
def mv_command(source: str, destination: str, path: str, env: str, state_url: str | None) -> None:
    """Rename SOURCE to DESTINATION in state (after renaming it in the spec)."""

    def change(resources: dict[str, Any]) -> str:
        if source not in resources:
            fail(f"{source} is not in the state; nothing was changed")
        if destination in resources:
            fail(f"{destination} is already in the state; nothing was changed")
        kind, name = Address.parts(destination)
        recorded = resources.pop(source)
        if kind != recorded.kind or not name:
            fail(
                f"{destination} is not a valid address for this {recorded.kind}: use "
                f"{recorded.kind}.NAME"
            )
        resources[destination] = recorded.model_copy(update={"name": name})
        return f"moved {source} to {destination}"

    _edit(path, env, state_url, "state mv", change)


@click.command("force-unlock")
@click.argument("lock_id")
@_store_options
def force_unlock_command(lock_id: str, path: str, env: str, state_url: str | None) -> None:
    """Release the state lock LOCK_ID held by a process that is gone.

    Only do this when the holder named in the "state is locked" message is really not running:
    two processes writing state at once is what the lock prevents.
    """

    def action() -> None:
        with _open(path, env, state_url) as store:
            holder = store.force_unlock(lock_id)
            click.echo(f"released the lock held by {holder.describe()}")

    _run(action)
