"""The audit log's records and their hash chain: what is audited, and how a chain is checked.

Pure (no database, no I/O): the table and its writers are :mod:`agentform.runtime.store.audit`,
which calls this module, so it sits below the store in the runtime's layers.

An audit record says who did what: ``kind`` (:data:`KINDS`), ``actor`` (a token's subject,
``operator``, ``agent:NAME``, ``engine``), the ``agent`` and ``task`` it concerns, and ``data``
(canonical JSON: sorted keys, no spaces, never the arguments themselves, only their digest).
Records are numbered (``seq``, 1, 2, ...) and chained: each carries the hash of the record before
it (``prev``; :data:`GENESIS` for the first) and its own :func:`record_hash` over its fields and
``prev``. Editing, deleting or reordering a record breaks the chain at that record, which
:func:`verify` reports by its ``seq``. Pruning (retention) deletes the oldest records and appends
a ``audit.pruned`` checkpoint carrying the last pruned record's hash, so what remains still
verifies: the first remaining record's ``prev`` must be that hash.

:func:`events_of_step` turns a step the agent loop recorded into the records it implies (a tool
call with the policy decision on it, a refusal, a held call, a delegation, an unknown outcome, a
question, the task's end, content filters' hits: :func:`filter_events`); the store appends them
in the transaction that writes the step, so a step and its audit record exist together or not at
all, and a replayed step (already recorded) adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GENESIS",
    "KINDS",
    "AuditEvent",
    "Broken",
    "Chained",
    "canonical",
    "events_of_step",
    "filter_events",
    "record_hash",
    "verify",
]

GENESIS = "0" * 64  # the ``prev`` of the first record

# what is audited (``agentform audit list --kind`` takes these, or a prefix such as ``tool``)
KINDS = {
    "task.submitted": "a task was accepted (caller, agent, channel)",
    "task.delegated": "an agent handed work to another (child task)",
    "policy.denied": "a policy refused a call; it was not made",
    "filter.hit": "a content filter found something (where, filter, action, detectors, counts)",
    "tool.call": "a tool call was made (tool, argument digest, the policy decision)",
    "tool.result": "a tool call's outcome (error or not)",
    "approval.requested": "a call was held for a human's approval",
    "budget.spent": "a task was refused: a budget of the project's limits is spent",
    "breaker.tripped": "an agent's circuit breaker tripped on a call (which breaker, why, action)",
    "approval.decided": "a held call, unknown outcome or question was decided (by whom, why)",
    "approval.expired": "nobody decided a held call before its approval_timeout",
    "outcome.unknown": "an unsafe call's outcome was left unknown by a crash",
    "question.asked": "an agent asked whoever sent the task",
    "token.created": "a bearer token was made for a subject",
    "token.revoked": "a subject's tokens were revoked",
    "resource.applied": "apply created or changed a resource on the engine",
    "resource.deleted": "apply or destroy deleted a resource on the engine",
    "access.refused": "a request was refused for want of a permission",
    "memory.denied": "an agent was refused a memory store its access rules do not grant",
    "rate.limited": "a task was refused: the agent's rate limit was reached",
    "audit.pruned": "records older than the retention were deleted (a checkpoint)",
    "task.pruned": "task records that ended before runtime.tasks.retention were deleted",
}


# built once: json.dumps builds an encoder per call when given options
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def canonical(data: Mapping[str, Any]) -> str:
    """``data`` as the JSON text that is stored and hashed (sorted keys, no spaces)."""
    return _CANONICAL.encode(dict(data))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A record to append (the store numbers, times and chains it)."""

    kind: str
    actor: str
    agent: str | None = None
    task: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chained:
    """A stored record: the event's fields as text, numbered and chained."""

    seq: int
    at: str  # ISO 8601, UTC
    kind: str
    actor: str
    agent: str | None
    task: str | None
    data: str  # canonical JSON
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "actor": self.actor,
            "agent": self.agent,
            "task": self.task,
            "data": json.loads(self.data),
            "prev": self.prev,
            "hash": self.hash,
        }


def record_hash(
    seq: int,
    at: str,
    kind: str,
    actor: str,
    agent: str | None,
    task: str | None,
    data: str,
    prev: str,
) -> str:
    """The SHA-256 (hex) of one record's fields and the hash before it."""
    text = "\x1f".join((str(seq), at, kind, actor, agent or "", task or "", data, prev))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Broken:
    """Where a chain does not hold: the record ``seq`` and why."""

    seq: int
    reason: str


def verify(
    records: Iterable[Chained], *, start_prev: str | None = None
) -> tuple[int, Broken | None]:
    """Check a chain in ``seq`` order: each hash recomputes, each ``prev`` is the hash before it,
    no ``seq`` is missing. ``start_prev`` is what the first record's ``prev`` must be (GENESIS
    for a chain from its start, a checkpoint's hash after pruning; None: not checked). Returns
    how many records were checked and the first break (None: the chain holds)."""
    expected_prev, expected_seq, count = start_prev, None, 0
    for record in records:
        count += 1
        if expected_seq is not None and record.seq != expected_seq:
            what = "missing" if record.seq > expected_seq else "out of order"
            return count, Broken(
                expected_seq, f"record {expected_seq} is {what} (next is {record.seq})"
            )
        if expected_prev is not None and record.prev != expected_prev:
            return count, Broken(
                record.seq,
                "its prev is not the hash of the record before it: a record before it was"
                " edited, deleted or reordered",
            )
        again = record_hash(
            record.seq,
            record.at,
            record.kind,
            record.actor,
            record.agent,
            record.task,
            record.data,
            record.prev,
        )
        if again != record.hash:
            return count, Broken(record.seq, "its fields do not hash to its hash: it was edited")
        expected_prev, expected_seq = record.hash, record.seq + 1
    return count, None


def filter_events(
    task: str, filtered: Iterable[Mapping[str, Any]], actor: str, agent: str | None = None
) -> list[AuditEvent]:
    """One ``filter.hit`` per content filter hit recorded (``data["filtered"]`` of a step, or
    a task's input screened): where, the filter, its action, each detector and how often,
    and the call it was about; the hits carry no matched text, and nothing else is copied."""
    keys = ("where", "filter", "action", "found", "call", "function")
    return [
        AuditEvent("filter.hit", actor, agent, task, {k: hit[k] for k in keys if k in hit})
        for hit in filtered
    ]


def events_of_step(
    task: str, kind: str, data: Mapping[str, Any], actor: str, agent: str | None = None
) -> list[AuditEvent]:
    """The audit records a newly recorded step of ``agent``'s implies (none for model answers
    and starts), after the content filter hits recorded with it (``filter.hit``)."""
    found = _events_of_step(task, kind, data, actor, agent)
    filtered = data.get("filtered")
    if filtered:
        return [*filter_events(task, filtered, actor, agent), *found]
    return found


def _events_of_step(
    task: str, kind: str, data: Mapping[str, Any], actor: str, agent: str | None
) -> list[AuditEvent]:
    if kind == "tool_call":
        decision = data.get("decision") or {}
        fields = {
            "function": data.get("name"),
            "tool": decision.get("tool"),
            "args_digest": decision.get("args_digest") or _digest(data.get("arguments")),
            "key": data.get("idempotency_key"),
        }
        if decision:
            fields["decision"] = {
                "effect": decision.get("effect"),
                "policies": decision.get("policies"),
            }
        if data.get("delegate"):
            fields["child"] = data.get("child")
            return [AuditEvent("task.delegated", actor, agent, task, fields)]
        return [AuditEvent("tool.call", actor, agent, task, fields)]
    if kind == "tool_result":
        decision = data.get("decision") or {}
        if decision.get("effect") == "deny" or (decision and data.get("is_error")):
            return [
                AuditEvent(
                    "policy.denied",
                    actor,
                    agent,
                    task,
                    {
                        "function": data.get("name"),
                        "tool": decision.get("tool"),
                        "args_digest": decision.get("args_digest"),
                        "policies": decision.get("policies"),
                        "reason": str(data.get("content") or "")[:500],
                    },
                )
            ]
        return [
            AuditEvent(
                "tool.result",
                actor,
                agent,
                task,
                {"function": data.get("name"), "is_error": bool(data.get("is_error"))},
            )
        ]
    if kind == "approval":
        decision = data.get("decision") or {}
        return [
            AuditEvent(
                "approval.requested",
                actor,
                agent,
                task,
                {
                    "approval": data.get("approval"),
                    "function": data.get("name"),
                    "tool": decision.get("tool"),
                    "args_digest": decision.get("args_digest"),
                    "policies": decision.get("policies"),
                },
            )
        ]
    if kind == "outcome_check":
        fields = {
            "approval": data.get("approval"),
            "function": data.get("name"),
            "key": data.get("key"),
        }
        return [AuditEvent("outcome.unknown", actor, agent, task, fields)]
    if kind == "trip":
        fields = {
            "function": data.get("name"),
            "breaker": data.get("breaker"),
            "action": data.get("action"),
            "reason": str(data.get("reason") or "")[:500],
        }
        if data.get("approval"):
            fields["approval"] = data.get("approval")
        return [AuditEvent("breaker.tripped", actor, agent, task, fields)]
    if kind == "question":
        return [
            AuditEvent("question.asked", actor, agent, task, {"approval": data.get("approval")})
        ]
    # a task's end is not audited: its record says how it ended, and the audit log keeps what
    # was decided and done (an append in every task's last transaction cost a fifth of the
    # throughput over the bus: benchmarks/README.md)
    return []


def _digest(arguments: Any) -> str | None:
    if arguments is None:
        return None
    return hashlib.sha256(canonical({"a": arguments}).encode()).hexdigest()[:16]
