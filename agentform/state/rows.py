"""Recorded resources in their own rows: one row per version of a resource (state layout 2).

A row holds one resource's recorded values for the serials ``[serial_from, serial_to)``
(``serial_to`` empty: it is in the latest serial), so writing a serial costs the resources it
changed, not all of them, and any serial is read back by joining the rows that span it. This
module owns those two operations and the statements they run (built once, with bound parameters:
apply writes hundreds of serials). Used by :class:`agentform.state.store.SqlStateStore` only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from agentform.state.snapshot import RecordedResource, StateCorrupt, StateSnapshot
from agentform.state.tables import resource_table, state_table

__all__ = ["HEAD", "resources_at", "write_rows"]

_P: Any = bindparam("b_project")
_E: Any = bindparam("b_environment")
HEAD = (
    select(state_table.c.serial, state_table.c.lineage, state_table.c.body)
    .where(state_table.c.project == _P, state_table.c.environment == _E)
    .order_by(state_table.c.serial.desc())
    .limit(1)
)
_OPEN = (
    resource_table.c.project == _P,
    resource_table.c.environment == _E,
    resource_table.c.serial_to.is_(None),
)
_OPEN_ROWS = select(resource_table.c.address, resource_table.c.body).where(*_OPEN)
_OPEN_ROWS_OF = _OPEN_ROWS.where(
    resource_table.c.address.in_(bindparam("addresses", expanding=True))
)
_CLOSE_ROWS = (
    update(resource_table)
    .where(*_OPEN, resource_table.c.address.in_(bindparam("addresses", expanding=True)))
    .values(serial_to=bindparam("b_serial"))
)


def write_rows(
    conn: Connection,
    key: Mapping[str, str],
    snapshot: StateSnapshot,
    changed: Collection[str] | None,
) -> None:
    """Close the rows of resources that changed or went, open rows for new versions.

    ``changed`` None: compare every resource with the open rows (the first write after a
    layout-1 serial finds none, so it writes every resource once).
    """
    table, serial = resource_table, snapshot.serial
    if changed is None:
        rows = conn.execute(_OPEN_ROWS, key)
    else:
        rows = conn.execute(_OPEN_ROWS_OF, {**key, "addresses": sorted(changed)})
    current = {r.address: r.body for r in rows}
    candidates = set(snapshot.resources) | set(current) if changed is None else set(changed)
    closing: list[str] = []
    opening: list[dict[str, Any]] = []
    for address in sorted(candidates):
        resource = snapshot.resources.get(address)
        body = None if resource is None else resource.model_dump_json()
        if current.get(address) == body:
            continue
        if address in current:
            closing.append(address)
        if body is not None:
            opening.append(
                {
                    "project": key["b_project"],
                    "environment": key["b_environment"],
                    "address": address,
                    "serial_from": serial,
                    "serial_to": None,
                    "body": body,
                }
            )
    for chunk in _chunks(closing, 500):
        conn.execute(_CLOSE_ROWS, {**key, "addresses": chunk, "b_serial": serial})
    if opening:
        conn.execute(insert(table), opening)


def resources_at(
    conn: Connection, key: Mapping[str, str], serial: int, *, latest: bool
) -> dict[str, RecordedResource]:
    table = resource_table
    query = select(table.c.address, table.c.body).where(
        table.c.project == key["b_project"], table.c.environment == key["b_environment"]
    )
    if latest:
        query = query.where(table.c.serial_to.is_(None))
    else:
        query = query.where(
            table.c.serial_from <= serial,
            or_(table.c.serial_to.is_(None), table.c.serial_to > serial),
        )
    out: dict[str, RecordedResource] = {}
    for row in conn.execute(query):
        try:
            out[row.address] = RecordedResource.model_validate_json(row.body)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise StateCorrupt(serial, f"resource {row.address}: {first['msg']}") from exc
    return out


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
