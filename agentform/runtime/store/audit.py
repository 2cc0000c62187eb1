"""The audit log's table: appended in the writers' own transactions, read, verified, pruned.

Owns ``agentform_audit`` (one row per record: ``seq``, the time as ISO text, kind, actor,
agent, task, canonical JSON data, ``prev`` and ``hash``; see :mod:`agentform.runtime.audit` for
the chain) and ``agentform_audit_head`` (one row: the last ``seq`` and hash). :func:`append`
adds records inside a caller's transaction: it locks the head row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's writers already take turns), numbers and chains the records, inserts them
and moves the head, so appends from the engine and every worker form one chain, and a record
commits with what it records (a task's creation, a step) or not at all.

:class:`AuditLog` is what the engine reads with: ``list`` (filters: agent, actor, kind or kind
prefix, since, task), ``export`` (every record, in order), ``verify`` (recomputes the chain in
pages; a checkpoint left by pruning says what the first remaining record's ``prev`` is) and
``prune`` (deletes what is older than the retention, appends the checkpoint).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from agentform.runtime.audit import (
    GENESIS,
    AuditEvent,
    Broken,
    Chained,
    canonical,
    record_hash,
)
from agentform.runtime.audit import (
    verify as verify_chain,
)
from agentform.runtime.store import cursor
from agentform.runtime.store.records import StoreError
from agentform.runtime.store.tables import SideTable, audit_table, metadata
from agentform.runtime.store.tables import audit_head_table as head_table

__all__ = ["AuditLog", "append"]

PAGE = 5000  # records read per query while verifying or exporting


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# the append's statements, written once for each parameter mark and run on the driver's cursor
# (:mod:`.cursor`): built anew as Core statements they were most of an append's cost, and
# appends run in every step transaction that makes a tool call
_COLUMNS = "seq, at, kind, actor, agent, task, data, prev, hash"
_SQL = {
    mark: (
        "SELECT seq, hash FROM agentform_audit_head WHERE id = 1",
        f"INSERT INTO agentform_audit_head (id, seq, hash) VALUES (1, {mark}, {mark})",
        f"INSERT INTO agentform_audit ({_COLUMNS}) VALUES ({', '.join([mark] * 9)})",
        f"UPDATE agentform_audit_head SET seq = {mark}, hash = {mark} WHERE id = 1",
    )
    for mark in ("?", "%s")
}


def _head(conn: Connection, sql: tuple[str, ...]) -> tuple[int, str]:
    """The last ``seq`` and hash, the head row locked until the commit (made at the first
    append: two first appends race on its primary key, and the loser's transaction retries)."""
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    found = cursor.rows(conn, sql[0] + lock, ())
    if not found:
        cursor.rows(conn, sql[1], (0, GENESIS))
        return 0, GENESIS
    seq, digest = found[0]
    return int(seq), str(digest)


def append(
    conn: Connection, events: Sequence[AuditEvent], *, at: str | None = None
) -> list[Chained]:
    """Append ``events`` in order within ``conn``'s transaction; the records as stored."""
    if not events:
        return []
    sql = _SQL[cursor.mark(conn)]
    seq, prev = _head(conn, sql)
    when = at or _now()
    rows: list[Chained] = []
    for event in events:
        seq += 1
        data = canonical(event.data)
        digest = record_hash(
            seq, when, event.kind, event.actor, event.agent, event.task, data, prev
        )
        rows.append(
            Chained(seq, when, event.kind, event.actor, event.agent, event.task, data, prev, digest)
        )
        prev = digest
    cursor.rows(
        conn,
        sql[2],
        [(r.seq, r.at, r.kind, r.actor, r.agent, r.task, r.data, r.prev, r.hash) for r in rows],
        many=True,
    )
    cursor.rows(conn, sql[3], (seq, prev))
    return rows


def _chained(row: Any) -> Chained:
    return Chained(
        int(row.seq), row.at, row.kind, row.actor, row.agent, row.task, row.data, row.prev, row.hash
    )


class AuditLog(SideTable):
    """The audit records in the runtime database at ``url`` (the runtime store's URL)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, metadata, StoreError, "audit log")

    def append(self, events: Sequence[AuditEvent]) -> list[Chained]:
        """Append ``events`` in a transaction of their own."""
        for attempt in range(3):
            try:
                with self._begin() as conn:
                    return append(conn, events)
            except StoreError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def list(
        self,
        *,
        agent: str | None = None,
        actor: str | None = None,
        kind: str | None = None,
        task: str | None = None,
        since: str | None = None,
        limit: int = 100,
    ) -> list[Chained]:
        """Records, newest first; ``kind`` is a kind or a prefix (``tool`` or ``tool.``)."""
        query = select(audit_table)
        c = audit_table.c
        if agent is not None:
            query = query.where(c.agent == agent)
        if actor is not None:
            query = query.where(c.actor == actor)
        if task is not None:
            query = query.where(c.task == task)
        if since is not None:
            query = query.where(c.at >= since)
        if kind is not None:
            prefix = kind if kind.endswith(".") else f"{kind}."
            query = query.where((c.kind == kind) | c.kind.startswith(prefix, autoescape=True))
        query = query.order_by(c.seq.desc()).limit(limit)
        with self._begin() as conn:
            return [_chained(row) for row in conn.execute(query)]

    def counts_by_actor(self, kind: str, since: str) -> dict[str, int]:
        """How many records of ``kind`` each actor has since ``since`` (ISO 8601)."""
        c = audit_table.c
        query = select(c.actor, func.count()).where(c.kind == kind, c.at >= since).group_by(c.actor)
        with self._begin() as conn:
            return {str(actor): int(n) for actor, n in conn.execute(query)}

    def count(self) -> int:
        with self._begin() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_table)).scalar_one())

    def export(self) -> Iterator[Chained]:
        """Every record in ``seq`` order, read a page at a time."""
        after = 0
        while True:
            query = (
                select(audit_table)
                .where(audit_table.c.seq > after)
                .order_by(audit_table.c.seq)
                .limit(PAGE)
            )
            with self._begin() as conn:
                page = [_chained(row) for row in conn.execute(query)]
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].seq

    def verify(self) -> tuple[int, Broken | None]:
        """Recompute the chain: how many records were checked, and the first break. The first
        remaining record must follow the genesis, or the newest pruning checkpoint; the head
        row must name the last record."""
        start = self._start_prev()
        checked, broken = verify_chain(self.export(), start_prev=start)
        if broken is not None:
            return checked, broken
        with self._begin() as conn:
            head = conn.execute(select(head_table.c.seq, head_table.c.hash)).first()
            last = conn.execute(
                select(audit_table.c.seq, audit_table.c.hash)
                .order_by(audit_table.c.seq.desc())
                .limit(1)
            ).first()
        if head is not None and (
            last is None or (int(head.seq), head.hash) != (int(last.seq), last.hash)
        ):
            seq = int(head.seq)
            return checked, Broken(seq, f"record {seq}, the last one appended, is missing")
        return checked, None

    def _start_prev(self) -> str:
        """What the first remaining record's ``prev`` must be."""
        c = audit_table.c
        with self._begin() as conn:
            first = conn.execute(select(c.seq).order_by(c.seq).limit(1)).scalar()
            checkpoint = conn.execute(
                select(c.data).where(c.kind == "audit.pruned").order_by(c.seq.desc()).limit(1)
            ).scalar()
        if first in (None, 1):
            return GENESIS
        if checkpoint is None:
            return f"(records 1 to {int(first) - 1} were deleted without a checkpoint)"
        pruned = json.loads(checkpoint)
        return str(pruned.get("last_hash"))

    def prune(self, before: str, *, actor: str = "engine") -> int:
        """Delete the records older than ``before`` (ISO time) but keep the chain verifiable: a
        checkpoint record carries the last deleted record's hash. Returns how many went."""
        c = audit_table.c
        with self._begin() as conn:
            last = conn.execute(
                select(c.seq, c.hash).where(c.at < before).order_by(c.seq.desc()).limit(1)
            ).first()
            if last is None:
                return 0
            first = conn.execute(select(func.min(c.seq))).scalar_one()
            gone = conn.execute(delete(audit_table).where(c.seq <= last.seq)).rowcount
            append(
                conn,
                [
                    AuditEvent(
                        "audit.pruned",
                        actor,
                        data={"from": int(first), "to": int(last.seq), "last_hash": last.hash,
                              "before": before},
                    )
                ],
            )  # fmt: skip
        return int(gone)
