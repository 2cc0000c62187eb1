"""The audit log's chain on SQLite and PostgreSQL: appended from many writers as one chain,
verified, and broken (reported by the record's ``seq``) by an edit, a deletion, a reordering,
or a deleted last record; pruning keeps what remains verifiable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from agentform.runtime.audit import GENESIS, AuditEvent, events_of_step, record_hash, verify
from agentform.runtime.store import RuntimeStore, TaskStatus
from agentform.runtime.store.audit import AuditLog


@pytest.fixture
def log(runtime_url: str) -> Iterator[AuditLog]:
    opened = AuditLog(runtime_url)
    yield opened
    opened.close()


def _events(n: int, actor: str = "tester") -> list[AuditEvent]:
    return [AuditEvent("tool.call", actor, "clerk", f"t{i}", {"n": i}) for i in range(n)]


def _sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_records_chain_from_the_genesis_and_verify(log: AuditLog) -> None:
    first = log.append(_events(3))
    second = log.append(_events(2, actor="other"))
    assert [r.seq for r in first + second] == [1, 2, 3, 4, 5]
    assert first[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in zip(first + second, (first + second)[1:], strict=False))
    assert log.verify() == (5, None)
    newest = log.list(limit=2)
    assert [r.seq for r in newest] == [5, 4] and newest[0].actor == "other"
    assert [r.seq for r in log.list(actor="tester")] == [3, 2, 1]
    assert [r.seq for r in log.list(kind="tool")] == [5, 4, 3, 2, 1]
    assert log.list(kind="approval") == []


def test_concurrent_writers_make_one_chain(runtime_url: str, log: AuditLog) -> None:
    """Eight writers (their own connections, as the engine and workers have) append at once."""
    logs = [AuditLog(runtime_url) for _ in range(8)]
    errors: list[BaseException] = []

    def write(one: AuditLog, who: int) -> None:
        try:
            for _ in range(10):
                one.append(_events(3, actor=f"w{who}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(one, i)) for i, one in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for one in logs:
        one.close()
    assert errors == []
    assert log.verify() == (240, None)
    assert log.count() == 240


@pytest.mark.parametrize(
    ("tamper", "seq"),
    [
        ("UPDATE agentform_audit SET data = '[99]' WHERE seq = 3", 3),
        ("UPDATE agentform_audit SET actor = 'someone-else' WHERE seq = 4", 4),
        ("DELETE FROM agentform_audit WHERE seq = 2", 2),
        ("DELETE FROM agentform_audit WHERE seq = 5", 5),
        # two records swapped (their seq exchanged, so the order reads 1,2,4,3,5)
        ("UPDATE agentform_audit SET seq = 1000 WHERE seq = 3;"
         " UPDATE agentform_audit SET seq = 3 WHERE seq = 4;"
         " UPDATE agentform_audit SET seq = 4 WHERE seq = 1000", 3),
    ],
    ids=["edited-data", "edited-actor", "deleted", "deleted-last", "reordered"],
)  # fmt: skip
def test_tampering_is_reported_by_the_record(
    runtime_url: str, log: AuditLog, tamper: str, seq: int
) -> None:
    log.append(_events(5))
    assert log.verify()[1] is None
    for statement in tamper.split(";"):
        _sql(runtime_url, statement)
    _, broken = log.verify()
    assert broken is not None and broken.seq == seq, broken


def test_pruning_keeps_the_rest_verifiable(runtime_url: str, log: AuditLog) -> None:
    log.append(_events(4))
    _sql(runtime_url, "UPDATE agentform_audit SET at = '2020-01-01T00:00:00+00:00' WHERE seq <= 3")
    # the time is hashed: an edit breaks the chain; re-hash the edited rows as if written then
    rows = log.list(limit=10)[::-1]
    prev = GENESIS
    for r in rows:
        digest = record_hash(r.seq, r.at, r.kind, r.actor, r.agent, r.task, r.data, prev)
        _sql(
            runtime_url,
            f"UPDATE agentform_audit SET prev = '{prev}', hash = '{digest}' WHERE seq = {r.seq}",
        )
        prev = digest
    _sql(runtime_url, f"UPDATE agentform_audit_head SET hash = '{prev}'")
    assert log.verify() == (4, None)
    assert log.prune("2021-01-01T00:00:00+00:00") == 3
    kinds = [r.kind for r in log.list(limit=10)]
    assert kinds == ["audit.pruned", "tool.call"]
    assert log.verify() == (2, None)
    log.append(_events(1))
    assert log.verify() == (3, None)
    _sql(runtime_url, "DELETE FROM agentform_audit WHERE seq = 4")  # the oldest remaining
    assert log.verify()[1] is not None


def test_a_step_is_audited_with_it_and_a_replay_adds_nothing(runtime_url: str) -> None:
    with RuntimeStore(runtime_url) as store:
        store.create_task(id="t1", agent="clerk", input="hi", caller="tina", channel="a2a")
        call = {"id": "c1", "name": "refund", "arguments": {"amount": 5}, "idempotency_key": "k",
                "decision": {"effect": "allow", "policies": ["p"], "tool": "billing",
                             "args_digest": "abc"}}  # fmt: skip
        store.append_step("t1", 0, "tool_call", call)
        store.append_step("t1", 0, "tool_call", call)  # a replay
        store.append_step("t1", 1, "tool_result", {"id": "c1", "name": "refund",
                                                   "content": "ok", "is_error": False})  # fmt: skip
        log = AuditLog(runtime_url)
        records = log.list()[::-1]
        assert [(r.kind, r.actor, r.agent, r.task) for r in records] == [
            ("task.submitted", "tina", "clerk", "t1"),
            ("tool.call", "agent:clerk", "clerk", "t1"),
            ("tool.result", "agent:clerk", "clerk", "t1"),
        ]
        assert records[0].to_dict()["data"] == {"channel": "a2a", "parent": None}
        assert records[1].to_dict()["data"]["args_digest"] == "abc"
        assert "amount" not in records[1].data  # the arguments' digest, never their values
        assert log.verify() == (3, None)
        log.close()


def test_events_of_steps() -> None:
    denied = events_of_step(
        "t", "tool_result",
        {"name": "pay", "content": "denied by policy 'x'", "is_error": True,
         "decision": {"effect": "deny", "policies": ["x"], "tool": "pay", "args_digest": "d"}},
        "agent:a",
    )  # fmt: skip
    assert [e.kind for e in denied] == ["policy.denied"]
    assert events_of_step("t", "model", {}, "agent:a") == []
    assert events_of_step("t", "final", {"text": "x"}, "agent:a") == []  # its record says
    delegated = events_of_step(
        "t", "tool_call", {"name": "b", "arguments": {"message": "m"}, "delegate": True,
                           "child": "t.3"}, "agent:a"
    )  # fmt: skip
    assert [(e.kind, e.data["child"]) for e in delegated] == [("task.delegated", "t.3")]
    assert verify([]) == (0, None)


@pytest.mark.parametrize("failing", [False, True], ids=["together", "one-write-fails"])
def test_steps_written_together_are_audited_as_one_chain(runtime_url: str, failing: bool) -> None:
    """Twenty tasks of three agents record a tool call at the same moment: the worker's group
    commit writes them in one transaction, each audited by its own agent, in one chain that
    verifies. A write that fails (its task does not exist) rolls the shared transaction back;
    every other write is then made alone, with its record, and the failed one leaves none."""
    import asyncio

    from agentform.runtime.store import NewStep, StoreError

    def call(n: int) -> dict[str, object]:
        return {"id": f"c{n}", "name": "lookup", "arguments": {"n": n}, "idempotency_key": f"k{n}"}

    with RuntimeStore(runtime_url) as store:
        for n in range(20):
            store.create_task(id=f"t{n}", agent=f"a{n % 3}", input="hi", caller="tina")
        before = store._batch.transactions

        async def main() -> list[object]:
            writes = [
                store.append_steps_batched(
                    f"t{n}",
                    [NewStep(0, "model", {"response": {}}), NewStep(1, "tool_call", call(n))],
                )
                for n in range(20)
            ]
            if failing:
                writes.insert(
                    7, store.append_steps_batched("nobody", [NewStep(0, "tool_call", call(99))])
                )
            finish = [
                store.finish_with_steps_batched(
                    f"t{n}",
                    [
                        NewStep(
                            2,
                            "tool_result",
                            {"id": f"c{n}", "name": "lookup", "content": "x", "is_error": False},
                        )
                    ],
                    TaskStatus.COMPLETED,
                    result="x",
                )
                for n in range(20)
            ]
            written = await asyncio.gather(*writes, return_exceptions=True)
            return [*written, *await asyncio.gather(*finish)]

        results = asyncio.run(main())
        if failing:
            assert isinstance(results[7], StoreError) and "no task nobody" in str(results[7])
        else:
            assert store._batch.transactions - before == 2  # the calls, then the results
        log = AuditLog(runtime_url)
        records = [r for r in log.export() if r.kind in ("tool.call", "tool.result")]
        assert sorted((r.task, r.kind, r.actor, r.agent) for r in records) == sorted(
            (f"t{n}", kind, f"agent:a{n % 3}", f"a{n % 3}")
            for n in range(20)
            for kind in ("tool.call", "tool.result")
        )
        assert log.verify() == (20 + 40, None)  # the tasks' submissions, calls and results
        log.close()
