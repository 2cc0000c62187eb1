"""``agentform memory export|import``: moving the memory stores' entries out and back in.

``export`` writes every live entry of a store (or of all of them) as JSON Lines, oldest first,
to standard output or to a file that is written whole or not at all; ``import`` reads such a
file back, here or into another project: every line is checked before anything is written, and
entries already there are skipped, so an interrupted import can be run again. The rows and
their checks are :mod:`agentform.runtime.store.memory.admin`'s. Both commands belong to the
``memory`` group of :mod:`agentform.cli.memory`, which adds them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from agentform.cli.console import fail
from agentform.cli.memory_project import open_memory, scope_option, store_options
from agentform.cli.memory_render import entries_phrase

__all__ = ["export_command", "import_command"]


@click.command("export")
@click.argument("store", required=False)
@store_options
@scope_option("Only entries under this scope key.")
@click.option(
    "--output",
    "-o",
    default="-",
    show_default=True,
    metavar="FILE",
    help="Write to FILE ('-' is standard output); written whole or not at all.",
)
def export_command(
    store: str | None,
    spec: str,
    env: str | None,
    store_url: str | None,
    scope: str | None,
    output: str,
) -> None:
    """Export entries as JSON Lines.

    Every live entry of STORE (or of every store), oldest first, one JSON object a line. The
    file can be read back with 'agentform memory import', here or into another project.
    """
    from agentform.runtime.store.memory import admin

    with open_memory(spec, env, store_url, stores=[store] if store else [], scope=scope) as project:
        rows = admin.export_rows(project.memory, store, scope)
        if output == "-":
            count = _write_lines(sys.stdout, rows)
        else:
            count = _export_to_file(Path(output), rows)
    click.echo(f"exported {entries_phrase(count)}", err=True)


def _write_lines(stream: IO[str], rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for row in rows:
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    stream.flush()
    return count


def _export_to_file(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    """Write to ``FILE.tmp`` and rename it, so an interrupted export leaves no partial FILE."""
    partial = path.with_name(path.name + ".tmp")
    try:
        with partial.open("w", encoding="utf-8") as stream:
            count = _write_lines(stream, rows)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"cannot write {path}: {exc.strerror or exc}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


@click.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@store_options
@click.option("--into", metavar="STORE", help="Put every entry into STORE, whatever the file says.")
def import_command(
    file: IO[str], spec: str, env: str | None, store_url: str | None, into: str | None
) -> None:
    """Import entries from an export file.

    Reads the JSON Lines written by 'agentform memory export' from FILE ('-' is standard input).
    Every line is checked before anything is written: a bad line stops the import with its
    number and nothing is imported. The destination store's redaction and size limits apply.
    Entries already there are skipped, so an interrupted import can simply be run again.
    """
    from agentform.runtime.store.memory import admin

    try:
        lines = file.readlines()
    except UnicodeDecodeError as exc:
        fail(f"{file.name} is not UTF-8 text ({exc.reason} at byte {exc.start})")
    with open_memory(spec, env, store_url, stores=[into] if into else []) as project:
        done = admin.import_rows(project.memory, lines, into=into)
    click.echo(
        f"imported {entries_phrase(done['imported'])}, skipped {done['skipped']} already present"
    )
