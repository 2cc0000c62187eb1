"""How ``agentform memory`` shows entries: times, one-line texts, tables that fit the terminal,
and JSON. Used by :mod:`agentform.cli.memory`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from agentform.runtime.store.memory.config import StoreConfig
    from agentform.runtime.store.memory.service import Entry

__all__ = [
    "clip",
    "dump",
    "entries_phrase",
    "entry_json",
    "expiry",
    "iso_time",
    "one_line",
    "scope_of",
    "table",
]


def iso_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    width = max(width, 10)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, last_fills: bool) -> None:
    """Columns padded to their widest cell; with ``last_fills`` the last column is shortened to
    what is left of the terminal's width, so every row stays one line."""
    cells = [list(headers)] + [list(r) for r in rows]
    fixed = len(headers) - 1 if last_fills else len(headers)
    widths = [max(len(row[i]) for row in cells) for i in range(fixed)]
    room = shutil.get_terminal_size((120, 24)).columns - sum(widths) - 2 * fixed
    for row in cells:
        parts = [row[i].ljust(widths[i]) for i in range(fixed)]
        if last_fills:
            parts.append(one_line(row[-1], room))
        click.echo("  ".join(parts).rstrip())


def clip(text: str | None, width: int = 40) -> str:
    return one_line(text or "", width) if text else "-"


def entry_json(entry: Entry) -> dict[str, Any]:
    data = entry.to_dict()
    data["bytes"] = entry.bytes
    return data


def entries_phrase(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def scope_of(config: StoreConfig) -> str:
    if config.kind == "session":
        return "conversation"
    if config.kind == "working":
        return "task"
    return config.scope or "global"


def expiry(values: Mapping[str, Any]) -> str:
    parts = [f"{k} {values[k]}" for k in ("ttl", "retention") if values.get(k)]
    return ", ".join(parts) or "-"
