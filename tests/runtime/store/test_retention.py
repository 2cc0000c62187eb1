"""Task records kept no longer than the retention, and the engine's pass that applies it.

:meth:`RuntimeStore.prune_tasks` deletes the tasks that ended before a cutoff with their steps,
approval requests and dead letters, audits it, and keeps a child whose parent still waits for
it; :func:`agentform.runtime.host.retention.prune_tasks` applies ``task_retention`` from the
engine's ``runtime.store`` values at most once a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.audit import AuditEvent
from agentform.runtime.host.retention import prune_audit, prune_tasks
from agentform.runtime.store import NewStep, RuntimeStore, TaskStatus
from agentform.runtime.store.approvals import ApprovalBook
from agentform.runtime.store.audit import AuditLog


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runtime.db'}"


@pytest.fixture
def store(url: str) -> Iterator[RuntimeStore]:
    with RuntimeStore(url) as opened:
        yield opened


def ended(store: RuntimeStore, id: str, *, parent: str | None = None) -> None:
    store.create_task(id=id, agent="a", input=f"secret of {id}", parent_id=parent)
    store.start_attempt(id, "w")
    store.finish_with_steps(
        id, [NewStep(0, "start", {}), NewStep(1, "final", {"text": "x"})], TaskStatus.COMPLETED
    )


def test_ended_tasks_are_deleted_with_their_records(store: RuntimeStore, url: str) -> None:
    ended(store, "old")
    store.create_task(id="open", agent="a", input="still running")
    store.dead_letter("old", agent="a", reason="r", deliveries=5)
    book = ApprovalBook(url)
    try:
        book.request(
            task_id="old", call_id="c1", agent="a", tool="t", function="f",
            arguments={"card": "4111"}, args_digest="d", policies=["p"], approvers=[],
            reason="held", timeout=None,
        )  # fmt: skip
    finally:
        book.close()
    future = datetime.now(UTC) + timedelta(seconds=5)
    assert store.prune_tasks(future) == 1
    assert store.get_task("old") is None and store.steps("old") == []
    assert store.dead_letters() == [] and store.get_task("open") is not None
    book = ApprovalBook(url)
    try:
        assert book.get("old/c1") is None
    finally:
        book.close()
    log = AuditLog(url)
    try:
        [pruned] = log.list(kind="task.pruned")
        assert pruned.to_dict()["data"]["tasks"] == 1
    finally:
        log.close()


def test_nothing_newer_than_the_cutoff_is_deleted(store: RuntimeStore) -> None:
    ended(store, "recent")
    assert store.prune_tasks(datetime.now(UTC) - timedelta(days=1)) == 0
    assert store.get_task("recent") is not None


def test_a_child_whose_parent_waits_is_kept(store: RuntimeStore) -> None:
    store.create_task(id="parent", agent="a", input="delegating")
    ended(store, "parent.1", parent="parent")
    future = datetime.now(UTC) + timedelta(seconds=5)
    assert store.prune_tasks(future) == 0
    store.finish_task("parent", TaskStatus.COMPLETED, result="done")
    assert store.prune_tasks(future) == 2


def test_batches_are_bounded(store: RuntimeStore) -> None:
    for n in range(5):
        ended(store, f"t{n}")
    future = datetime.now(UTC) + timedelta(seconds=5)
    assert [store.prune_tasks(future, limit=2) for _ in range(4)] == [2, 2, 1, 0]


class Engine:
    """The parts of the engine the retention pass reads."""

    def __init__(self, store: RuntimeStore, values: dict[str, Any], notes: list[str]) -> None:
        self.resources = {"runtime.store": values}
        self.store = store
        self.note = notes.append


def test_the_engine_applies_the_declared_retention_at_most_once_a_minute(
    store: RuntimeStore,
) -> None:
    notes: list[str] = []
    engine: Any = Engine(store, {"task_retention": "1ms"}, notes)
    ended(store, "t1")
    time.sleep(0.01)
    assert asyncio.run(prune_tasks(engine, now=1000.0)) == 1
    ended(store, "t2")
    time.sleep(0.01)
    assert asyncio.run(prune_tasks(engine, now=1030.0)) == 0  # too soon
    assert asyncio.run(prune_tasks(engine, now=1061.0)) == 1
    assert len(notes) == 2
    kept: Any = Engine(store, {}, notes)
    ended(store, "t3")
    assert asyncio.run(prune_tasks(kept, now=5000.0)) == 0  # no retention: kept


def test_a_screened_input_is_kept_with_its_hits_audited(store: RuntimeStore, url: str) -> None:
    hit = {"where": "input", "filter": "pii", "action": "redact", "found": {"email": 1}}
    store.create_task(id="t1", agent="a", input="[REDACTED:email]", filtered=[hit])
    store.create_task(id="t2", agent="a", input="ada@example.com")
    store.screen_input("t2", "[REDACTED:email]", [hit])
    task = store.get_task("t2")
    assert task is not None and task.input == "[REDACTED:email]"
    log = AuditLog(url)
    try:
        found = [(r.kind, r.task, r.actor) for r in reversed(log.list())]
    finally:
        log.close()
    assert found == [
        ("task.submitted", "t1", "unknown"),
        ("filter.hit", "t1", "unknown"),
        ("task.submitted", "t2", "unknown"),
        ("filter.hit", "t2", "agent:a"),
    ]


class AuditedEngine:
    """The parts of the engine the audit log's retention pass reads."""

    def __init__(self, log: AuditLog, values: dict[str, Any], notes: list[str]) -> None:
        self.resources = {"runtime.store": values}
        self.audit_log = log
        self.note = notes.append


def test_the_engine_prunes_the_audit_log_to_its_retention_once_an_hour(url: str) -> None:
    """runtime.audit.retention, resolved onto the store's value: records older than it go,
    a checkpoint keeps the rest verifiable, and the pass runs at most once an hour."""
    log = AuditLog(url)
    try:
        log.append(
            [AuditEvent("token.created", "operator", data={"subject": f"s{n}"}) for n in range(3)]
        )
        time.sleep(0.01)
        notes: list[str] = []
        engine: Any = AuditedEngine(log, {"audit_retention": "1ms"}, notes)
        assert asyncio.run(prune_audit(engine, now=1000.0)) == 3
        assert [r.kind for r in log.list()] == ["audit.pruned"]
        assert log.verify()[1] is None and len(notes) == 1
        log.append([AuditEvent("token.revoked", "operator", data={"subject": "s0"})])
        time.sleep(0.01)
        assert asyncio.run(prune_audit(engine, now=1600.0)) == 0  # within the hour
        assert asyncio.run(prune_audit(engine, now=4601.0)) >= 1
        assert log.verify()[1] is None
        kept: Any = AuditedEngine(log, {}, notes)
        assert asyncio.run(prune_audit(kept, now=9000.0)) == 0  # no retention: kept
    finally:
        log.close()
