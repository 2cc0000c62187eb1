"""Approval requests: a tool call a ``require_approval`` policy holds, and who decided it.

This module owns the ``agentform_approvals`` table (one row per held call: the task, the call,
the tool and its arguments, the policies and the roles that may approve, when it expires, and
its decision: pending, approved, denied or expired, by whom and why) and :class:`ApprovalBook`,
its verbs: ``request`` (idempotent per task and call: a worker that replays after a crash finds
the request it made), ``get``, ``list_requests``, ``decide`` (a compare-and-set on ``pending``: two
approvers, or an approver and the timeout, cannot both decide) and ``expire_due``. Rows live in
the runtime store's database, so a pending approval survives worker, engine and NATS restarts,
and a decision made while the worker is down is found when the task is taken again.

Called by the worker's agent loop (:mod:`agentform.runtime.worker.loop`: request, read the
decision on replay), the engine (:mod:`agentform.runtime.host`: decide through the control API,
expire on its supervision pass, wake the task).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select, update

from agentform.runtime.store.records import StoreError
from agentform.runtime.store.tables import SideTable, utc

__all__ = ["Approval", "ApprovalBook", "Decided", "Kind", "approvals_table", "request_id"]

Status = Literal["pending", "approved", "denied", "expired", "happened"]
# approved and denied answer both kinds of request (for an unknown outcome: retry, fail);
# happened only an unknown outcome (its note is the result the model gets)
Decided = Literal["approved", "denied", "happened"]
Kind = Literal["policy", "outcome", "question", "breaker"]
OUTCOME = "#outcome"  # the id suffix of a request about an unknown outcome
QUESTION = "#question"  # the id suffix of a model's question to whoever sent the task
TRIP = "#trip"  # the id suffix of a tripped circuit breaker asking whether the agent may go on
_SUFFIX = {"policy": "", "outcome": OUTCOME, "question": QUESTION, "breaker": TRIP}


def request_id(task_id: str, call_id: str, kind: Kind = "policy") -> str:
    """The id of the request of ``kind`` about one call of a task (one per call and kind)."""
    return f"{task_id}/{call_id}" + _SUFFIX[kind]


metadata = MetaData()
approvals_table = Table(
    "agentform_approvals",
    metadata,
    Column("id", String(200), primary_key=True),  # <task id>/<call id>
    Column("task_id", String(200), nullable=False, index=True),
    Column("call_id", String(200), nullable=False),
    Column("agent", String(255), nullable=False, index=True),
    Column("tool", String(255), nullable=False),
    Column("function", String(255), nullable=False),
    Column("arguments", Text, nullable=False),  # JSON
    Column("args_digest", String(64), nullable=False),
    Column("policies", Text, nullable=False),  # JSON list
    Column("approvers", Text, nullable=False),  # JSON list of roles
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_by", String(255)),
    Column("note", Text),
)


@dataclass(frozen=True, slots=True)
class Approval:
    """One held call and its decision (``status``)."""

    id: str
    task_id: str
    call_id: str
    agent: str
    tool: str
    function: str
    arguments: dict[str, Any]
    args_digest: str
    policies: list[str]
    approvers: list[str]
    reason: str
    status: Status
    created_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    note: str | None

    @property
    def kind(self) -> Kind:
        """``policy``: a call a require_approval policy held; ``outcome``: an unsafe call
        whose outcome a crash left unknown (``on_unknown_outcome: ask_human``); ``question``:
        the model asked whoever sent the task (``ask_user``), the answer is the note;
        ``breaker``: a circuit breaker tripped, approved the call is made, denied the task
        fails."""
        if self.id.endswith(OUTCOME):
            return "outcome"
        if self.id.endswith(TRIP):
            return "breaker"
        return "question" if self.id.endswith(QUESTION) else "policy"

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["kind"] = self.kind
        for name in ("created_at", "expires_at", "decided_at"):
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out


def _approval(row: Any) -> Approval:
    values = dict(row._mapping)
    for name in ("arguments", "policies", "approvers"):
        values[name] = json.loads(values[name])
    for name in ("created_at", "expires_at", "decided_at"):
        if values[name] is not None:
            values[name] = utc(values[name])
    return Approval(**values)


class ApprovalBook(SideTable):
    """The approval requests in the runtime database at ``url`` (the runtime store's URL)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, metadata, StoreError, "approvals table")

    def request(
        self,
        *,
        task_id: str,
        call_id: str,
        agent: str,
        tool: str,
        function: str,
        arguments: Mapping[str, Any],
        args_digest: str,
        policies: Sequence[str],
        approvers: Sequence[str],
        reason: str,
        timeout: timedelta | None,
        kind: Kind = "policy",
    ) -> Approval:
        """The approval request of this call, made now or found from an earlier attempt."""
        id = request_id(task_id, call_id, kind)
        now = datetime.now(UTC)
        row = {
            "id": id,
            "task_id": task_id,
            "call_id": call_id,
            "agent": agent,
            "tool": tool,
            "function": function,
            "arguments": json.dumps(dict(arguments), sort_keys=True, default=str),
            "args_digest": args_digest,
            "policies": json.dumps(list(policies)),
            "approvers": json.dumps(sorted(set(approvers))),
            "reason": reason,
            "status": "pending",
            "created_at": now,
            "expires_at": now + timeout if timeout else None,
        }
        try:
            with self._begin() as conn:
                conn.execute(approvals_table.insert().values(**row))
        except StoreError:
            # _begin turns the duplicate key of a request filed before (a worker killed
            # between filing it and recording the hold replays) into a StoreError: that one
            # is the request; any other failure is not
            found = self.get(id)
            if found is None:
                raise
            return found
        found = self.get(id)
        assert found is not None
        return found

    def get(self, id: str) -> Approval | None:
        with self._begin() as conn:
            row = conn.execute(select(approvals_table).where(approvals_table.c.id == id)).first()
        return None if row is None else _approval(row)

    def list_requests(
        self, *, status: str | None = None, agent: str | None = None, limit: int = 100
    ) -> list[Approval]:
        """Requests, newest first; ``status`` and ``agent`` filter."""
        query = select(approvals_table)
        if status is not None:
            query = query.where(approvals_table.c.status == status)
        if agent is not None:
            query = query.where(approvals_table.c.agent == agent)
        query = query.order_by(approvals_table.c.created_at.desc()).limit(limit)
        with self._begin() as conn:
            return [_approval(row) for row in conn.execute(query)]

    def for_tasks(self, task_ids: Sequence[str]) -> list[Approval]:
        """Every request of these tasks (at most a few hundred ids: one query each 200)."""
        found: list[Approval] = []
        ids = list(task_ids)
        for start in range(0, len(ids), 200):
            query = select(approvals_table).where(
                approvals_table.c.task_id.in_(ids[start : start + 200])
            )
            with self._begin() as conn:
                found.extend(_approval(row) for row in conn.execute(query))
        return found

    def decide(self, id: str, decision: Decided, *, by: str, note: str = "") -> Approval | None:
        """Approve or deny a pending request (None: it was not pending any more, or unknown)."""
        now = datetime.now(UTC)
        with self._begin() as conn:
            changed = conn.execute(
                update(approvals_table)
                .where(approvals_table.c.id == id, approvals_table.c.status == "pending")
                .values(status=decision, decided_at=now, decided_by=by, note=note or None)
            ).rowcount
        return self.get(id) if changed == 1 else None

    def expire_due(self, now: datetime | None = None) -> list[Approval]:
        """Pending requests whose ``approval_timeout`` passed, now expired (each one once)."""
        now = now or datetime.now(UTC)
        table = approvals_table.c
        # asked of the database on every supervision pass: only the due rows are read
        due = select(table.id).where(
            table.status == "pending", table.expires_at.is_not(None), table.expires_at <= now
        )
        with self._begin() as conn:
            ids = [row.id for row in conn.execute(due)]
        expired = []
        for id in ids:
            if self._expire(id, now):
                found = self.get(id)
                if found is not None:
                    expired.append(found)
        return expired

    def _expire(self, id: str, now: datetime) -> bool:
        """Expire one request unless someone decided it meanwhile (compare-and-set)."""
        with self._begin() as conn:
            return (
                conn.execute(
                    update(approvals_table)
                    .where(approvals_table.c.id == id, approvals_table.c.status == "pending")
                    .values(status="expired", decided_at=now, decided_by="timeout")
                ).rowcount
                == 1
            )
