"""Opening a project's memory from the CLI: the ``agentform memory`` options, the spec, the store.

:func:`open_memory` loads the spec (``--spec``, ``--env``, ``--var``), takes the stores' rules from
its ``memory`` section and the database from ``runtime.store.url`` (or ``--store-url``), checks
the store names and scope key a command was given, and opens
:class:`agentform.runtime.store.memory.service.Memory` with its schema brought up to date;
memory and database errors inside the block stop the command with their message (exit 1). Used by
:mod:`agentform.cli.memory`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from agentform.cli.console import fail
from agentform.cli.runtime import acting_as_token, project_options

if TYPE_CHECKING:
    from agentform.runtime.store.memory.config import StoreConfig
    from agentform.runtime.store.memory.service import Memory

__all__ = [
    "SCOPE_FORM",
    "Project",
    "check_scope",
    "check_store",
    "open_memory",
    "scope_option",
    "store_options",
]

F = TypeVar("F", bound=Callable[..., Any])

SCOPE_FORM = (
    "'global' or KIND:KEY with KIND one of conversation, user, customer, agent, task"
    " (e.g. customer:acme-42)"
)


def remember_vars(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
    ctx.meta["agentform_vars"] = value


def store_options(func: F) -> F:
    func = click.option(
        "--var",
        multiple=True,
        metavar="NAME=VALUE",
        expose_value=False,
        callback=remember_vars,
        help="Set a spec variable (repeatable), as for plan and apply; AGENTFORM_VAR_NAME works"
        " too.",
    )(func)
    func = click.option(
        "--store-url",
        envvar="AGENTFORM_STORE_URL",
        metavar="URL",
        help="The runtime store holding the memory: sqlite:///path or postgresql+psycopg://..."
        " (default: the spec's runtime.store.url; a relative SQLite path is relative to the"
        " spec's directory; env AGENTFORM_STORE_URL).",
    )(func)
    return project_options(func)


def scope_option(help_text: str) -> Callable[[F], F]:
    return click.option("--scope", metavar="KEY", help=help_text)


@dataclass
class Project:
    """The memory of the loaded spec: every store's rules and spec values, and the open store."""

    memory: Memory
    configs: dict[str, StoreConfig]
    values: dict[str, dict[str, Any]]
    url: str


def check_store(configs: Mapping[str, StoreConfig], name: str) -> None:
    if name not in configs:
        known = ", ".join(sorted(configs)) or "none: the spec has no memory section"
        fail(f"no memory store named {name!r} in the spec (stores: {known})")


def check_scope(scope: str | None) -> None:
    from agentform.runtime.store.memory.config import InvalidScope, validate_scope

    if scope is None:
        return
    try:
        validate_scope(scope)
    except InvalidScope:
        fail(f"invalid scope key {scope[:80]!r}: expected {SCOPE_FORM}")


@contextmanager
def open_memory(
    spec: str,
    env: str | None,
    store_url: str | None,
    *,
    stores: Sequence[str] = (),
    scope: str | None = None,
) -> Iterator[Project]:
    """Load the spec, check ``stores`` and ``scope``, and open its memory; always closed.

    Memory and database errors inside the block stop with their message (exit 1).
    """
    from agentform.cli.console import echo_diagnostics

    if acting_as_token():
        # this opens the runtime store itself, as the operator: a subject's token would be
        # silently ignored, so it is refused instead
        fail(
            "this memory command reads the runtime store directly, as the operator, and does"
            " not take --token; a subject reads memory with 'agentform --token TOKEN memory"
            " list [STORE]' (through the engine, with read:memory)"
        )
    from agentform.cli.options import var_values
    from agentform.database import DatabaseError
    from agentform.runtime.host.files import resolve_store_url, store_url_for
    from agentform.runtime.store.memory.config import StoreConfig
    from agentform.runtime.store.memory.service import Memory, MemoryStoreError
    from agentform.spec import load_spec

    assigned = click.get_current_context().meta.get("agentform_vars", ())
    result = load_spec(spec, env=env, variables=var_values(assigned), environ=os.environ)
    if result.spec is None:
        echo_diagnostics([d for d in result.diagnostics if d.is_error], result.smap.texts, err=True)
        fail("the spec is invalid; run 'agentform validate' for details")
    loaded = result.spec
    values = {name: store.model_dump(mode="json") for name, store in loaded.memory.items()}
    configs = {name: StoreConfig.of(name, store) for name, store in loaded.memory.items()}
    url = resolve_store_url(
        store_url or store_url_for(loaded.runtime.store.url, env or "default"),
        Path(result.base_dir),
    )
    for name in stores:
        check_store(configs, name)
    check_scope(scope)
    try:
        memory = Memory(url, configs, migrate=True)
    except (MemoryStoreError, DatabaseError) as exc:
        fail(str(exc))
    try:
        yield Project(memory=memory, configs=configs, values=values, url=url)
    except (MemoryStoreError, DatabaseError) as exc:
        fail(str(exc))
    finally:
        memory.close()
