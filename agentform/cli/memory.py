"""``agentform memory list|show|search|export|import|forget|denials``: the memory stores' data.

The stores and their rules come from the spec's ``memory`` section (``--spec``, ``--env``); their
entries are read from the runtime store (the spec's ``runtime.store.url``, or ``--store-url``)
through :class:`agentform.runtime.store.memory.service.Memory` and
:mod:`agentform.runtime.store.memory.admin`. The commands act as the operator: the stores'
``access`` rules do not apply to them. Opening the store brings its memory schema up to date, so
they work before the first apply (on an empty store). Errors are one ``error:`` line and exit
status 1.

This module owns the group and the commands that look at the data (``list``, ``show``,
``search``, ``denials``) or erase it (``forget``); ``export`` and ``import`` are
:mod:`agentform.cli.memory_transfer`'s, added to the group here. Opening the project's memory is
:mod:`agentform.cli.memory_project`, showing entries :mod:`agentform.cli.memory_render`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import click

from agentform.cli.console import fail
from agentform.cli.memory_project import (
    Project,
    open_memory,
    scope_option,
    store_options,
)
from agentform.cli.memory_render import (
    clip,
    dump,
    entries_phrase,
    entry_json,
    expiry,
    iso_time,
    scope_of,
    table,
)
from agentform.cli.memory_transfer import export_command, import_command
from agentform.cli.runtime import acting_as_token, call_engine, engine_client

__all__ = ["memory_group"]


@click.group("memory")
def memory_group() -> None:
    """Inspect, search, export, import and forget what the agents remember.

    Memory is what the spec's 'memory' section declares: session stores (a conversation's
    turns), long_term stores (facts kept per customer, user or agent), working stores (a task's
    scratch notes) and shared stores (keys every agent reads and writes). Their entries live in
    the runtime store (runtime.store.url) under scope keys such as customer:acme-42,
    user:alice, conversation:<context id>, agent:<name>, task:<id> or global.

    These commands act as the operator: a store's access rules do not limit them, redaction and
    size limits still apply to what import writes. 'memory forget --scope KEY' answers a privacy
    request. See docs/memory.md.
    """


memory_group.add_command(export_command)
memory_group.add_command(import_command)


@memory_group.command("list")
@click.argument("store", required=False)
@store_options
@scope_option("Only entries under this scope key (e.g. customer:acme-42).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="At most N.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(
    store: str | None,
    spec: str,
    env: str | None,
    store_url: str | None,
    scope: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List the stores, or the entries of STORE.

    Without STORE, every store of the spec with its kind, scope, entries, bytes and expiry
    (expired entries count until the engine's sweep deletes them); with --scope, only what is
    kept under that scope key counts. With STORE, its live entries, newest first, one line each.
    """
    from agentform.runtime.store.memory import admin

    if acting_as_token():  # a subject reads through the engine, with read:memory
        _list_as_subject(store, spec, env, scope, limit, as_json)
        return
    with open_memory(spec, env, store_url, stores=[store] if store else [], scope=scope) as project:
        if store is None:
            sizes = (
                admin.scope_counts(project.memory, scope) if scope else admin.counts(project.memory)
            )
            _list_stores(project, sizes, as_json)
            return
        found = project.memory.entries(store, scope, limit=limit, newest_first=True)
    if as_json:
        dump([entry_json(e) for e in found])
        return
    if not found:
        under = f" under {scope}" if scope else ""
        click.echo(f"memory {store!r} holds no entries{under}")
        return
    rows = [
        [
            str(e.id),
            clip(e.scope),
            clip(e.key, 30),
            e.role or e.agent or "-",
            iso_time(e.updated_at),
            e.text,
        ]
        for e in found
    ]
    table(["ID", "SCOPE", "KEY", "ROLE/AGENT", "UPDATED", "TEXT"], rows, last_fills=True)


def _list_as_subject(
    store: str | None, spec: str, env: str | None, scope: str | None, limit: int, as_json: bool
) -> None:
    """``memory list`` with ``--token``: through the engine's control API, which lets the
    token's subject read only with ``read:memory``."""
    from urllib.parse import quote

    client = engine_client(spec, env)
    if store is None:
        found = call_engine(lambda: client.request("GET", "/v1/memory"))
        if as_json:
            dump(found)
            return
        rows = [[s["name"], s["kind"] or "?", s["scope"] or "?", str(s["entries"]),
                 str(s["bytes"])] for s in found]  # fmt: skip
        table(["STORE", "KIND", "SCOPE", "ENTRIES", "BYTES"], rows, last_fills=False)
        return
    params = {"limit": limit, **({"scope": scope} if scope else {})}
    path = f"/v1/memory/{quote(store, safe='')}"
    entries = call_engine(lambda: client.request("GET", path, params=params))
    if as_json:
        dump(entries)
        return
    if not entries:
        click.echo(f"memory {store!r} holds no entries{f' under {scope}' if scope else ''}")
        return
    rows = [[str(e["id"]), clip(e["scope"]), clip(e["key"], 30), e["role"] or e["agent"] or "-",
             str(e["updated_at"]), e["text"]] for e in entries]  # fmt: skip
    table(["ID", "SCOPE", "KEY", "ROLE/AGENT", "UPDATED", "TEXT"], rows, last_fills=True)


def _list_stores(project: Project, sizes: Mapping[str, Mapping[str, int]], as_json: bool) -> None:
    listed: list[dict[str, Any]] = []
    for name in sorted(project.configs):
        config, values = project.configs[name], project.values[name]
        size = sizes.get(name, {})
        listed.append(
            {
                "name": name,
                "kind": config.kind,
                "scope": scope_of(config),
                "entries": size.get("entries", 0),
                "bytes": size.get("bytes", 0),
                "ttl": values.get("ttl"),
                "retention": values.get("retention"),
                "in_spec": True,
            }
        )
    for name in sorted(set(sizes) - set(project.configs)):  # left behind by a removed store
        size = sizes[name]
        listed.append(
            {"name": name, "kind": None, "scope": None, "entries": size["entries"],
             "bytes": size["bytes"], "ttl": None, "retention": None, "in_spec": False}
        )  # fmt: skip
    if as_json:
        dump(listed)
        return
    if not listed:
        click.echo("the spec declares no memory stores")
        return
    rows = [
        [
            s["name"],
            s["kind"] or "?",
            s["scope"] or "?",
            str(s["entries"]),
            str(s["bytes"]),
            expiry(s) if s["in_spec"] else "not in the spec",
        ]
        for s in listed
    ]
    table(["STORE", "KIND", "SCOPE", "ENTRIES", "BYTES", "TTL/RETENTION"], rows, last_fills=False)


@memory_group.command("show")
@click.argument("store")
@click.argument("id_or_key")
@store_options
@scope_option("The scope key the entry is under (needed to find it by key).")
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON.")
def show_command(
    store: str,
    id_or_key: str,
    spec: str,
    env: str | None,
    store_url: str | None,
    scope: str | None,
    as_json: bool,
) -> None:
    """Show one entry in full.

    ID_OR_KEY is the entry's numeric id (as 'memory list' shows it), or its key within the
    scope key given with --scope.
    """
    is_id = id_or_key.isdigit()
    if not is_id and scope is None:
        fail(f"{id_or_key!r} is not an entry id; to find it by key, give --scope KEY")
    with open_memory(spec, env, store_url, stores=[store], scope=scope) as project:
        entry = None
        if scope is not None:
            entry = project.memory.get(store, scope, id_or_key)
        if entry is None and is_id:
            number = int(id_or_key)
            near = project.memory.entries(store, scope, after_id=number - 1, limit=1)
            entry = near[0] if near and near[0].id == number else None
    if entry is None:
        under = f" under {scope}" if scope else ""
        fail(f"memory {store!r} has no entry {id_or_key!r}{under} (see 'agentform memory list')")
    if as_json:
        dump(entry_json(entry))
        return
    fields = [
        ("id", str(entry.id)),
        ("store", f"{entry.store} ({entry.kind})"),
        ("scope", entry.scope),
        ("key", entry.key or "-"),
        ("agent", entry.agent or "-"),
        ("role", entry.role or "-"),
        ("version", str(entry.version)),
        ("bytes", str(entry.bytes)),
        ("created", iso_time(entry.created_at)),
        ("updated", iso_time(entry.updated_at)),
        ("expires", iso_time(entry.expires_at) or "never"),
    ]
    if entry.value is not None:
        fields.append(("value", json.dumps(entry.value, ensure_ascii=False, sort_keys=True)))
    if entry.meta:
        fields.append(("meta", json.dumps(dict(entry.meta), ensure_ascii=False, sort_keys=True)))
    for name, value in fields:
        click.echo(f"{name:<8} {value}")
    click.echo("")
    click.echo(entry.text)


@memory_group.command("search")
@click.argument("store")
@click.argument("query")
@store_options
@scope_option("Only entries under this scope key.")
@click.option(
    "--limit", default=10, show_default=True, type=click.IntRange(1, 100), help="At most N hits."
)
@click.option("--json", "as_json", is_flag=True, help="Print the hits and scores as JSON.")
def search_command(
    store: str,
    query: str,
    spec: str,
    env: str | None,
    store_url: str | None,
    scope: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Search STORE for QUERY; best hits first.

    Shows the entries of STORE matching QUERY with their scores (higher is better), ranked by
    full-text relevance: entries matching more of the words, and rarer words, first. Scores
    compare the hits of one search only. A QUERY starting with '-' goes after '--'.
    """
    with open_memory(spec, env, store_url, stores=[store], scope=scope) as project:
        hits = project.memory.search(store, query, scope=scope, limit=limit)
    if as_json:
        dump([{"score": h.score, "entry": entry_json(h.entry)} for h in hits])
        return
    if not hits:
        click.echo("no entries match")
        return
    rows = [
        [str(rank), f"{h.score:.6f}", str(h.entry.id), clip(h.entry.scope), h.entry.text]
        for rank, h in enumerate(hits, 1)
    ]
    table(["#", "SCORE", "ID", "SCOPE", "TEXT"], rows, last_fills=True)


@memory_group.command("forget")
@click.argument("stores", nargs=-1, metavar="[STORE]...")
@store_options
@click.option(
    "--scope", required=True, metavar="KEY", help="Forget everything under this scope key."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def forget_command(
    stores: tuple[str, ...],
    spec: str,
    env: str | None,
    store_url: str | None,
    scope: str,
    yes: bool,
) -> None:
    """Delete everything kept under one scope key.

    Deletes every entry under --scope KEY (e.g. user:alice) in every store, or in the STOREs
    named: the answer to a privacy request. Conversation turns, facts and shared keys all go,
    expired ones too. Shows how many entries each store would lose and asks first, unless --yes.
    """
    from agentform.runtime.store.memory import admin

    names = list(dict.fromkeys(stores))
    with open_memory(spec, env, store_url, stores=names, scope=scope) as project:
        pending = admin.scope_counts(project.memory, scope, names or None)
        if not pending:
            where = f" in {', '.join(names)}" if names else ""
            click.echo(f"nothing is kept under {scope}{where}")
            return
        if not yes:
            click.echo(f"Under {scope}, this would delete:")
            for name, size in sorted(pending.items()):
                click.echo(f"  {name}: {entries_phrase(size['entries'])} ({size['bytes']} bytes)")
            if not click.confirm("Delete them?", default=False):
                click.echo("Nothing was deleted.")
                sys.exit(1)
        gone = admin.forget_subject(project.memory, scope, names or None)
    total = sum(gone.values())
    for name, count in sorted(gone.items()):
        click.echo(f"deleted {entries_phrase(count)} from {name}")
    click.echo(f"forgot {scope}: {entries_phrase(total)} deleted")


@memory_group.command("denials")
@store_options
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="At most N.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def denials_command(
    spec: str, env: str | None, store_url: str | None, limit: int, as_json: bool
) -> None:
    """List refused memory requests.

    The most recent requests of agents that a store's access rules refused, newest first.
    """
    from agentform.runtime.store.memory import admin

    with open_memory(spec, env, store_url) as project:
        found = admin.denials(project.memory, limit)
    if as_json:
        dump(found)
        return
    if not found:
        click.echo("no memory request has been refused")
        return
    rows = [
        [
            iso_time(d.get("at")),
            str(d.get("store")),
            str(d.get("agent")),
            str(d.get("action")),
            clip(d.get("scope")),
            str(d.get("reason") or ""),
        ]
        for d in found
    ]
    table(["AT", "STORE", "AGENT", "ACTION", "SCOPE", "REASON"], rows, last_fills=True)
