"""An agent's view of memory: the tools its model calls, and the context a task starts with."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentform.runtime.memory.agent import AgentMemory
from agentform.runtime.memory.context import estimate_tokens, fit_history, start_context
from agentform.runtime.memory.tools import MemoryTools, memory_tool_names
from agentform.runtime.store.memory.config import StoreConfig, TaskScope
from agentform.runtime.store.memory.service import Memory
from agentform.runtime.store.records import TaskRecord, TaskStatus

STORES: dict[str, dict[str, Any]] = {
    "facts": {"kind": "long_term", "scope": "customer", "inject": 2},
    "chat": {"kind": "session", "context": {"max_tokens": 60}},
    "digest": {"kind": "session", "context": {"max_tokens": 60, "strategy": "summarize"}},
    "board": {"kind": "shared", "access": {"read": ["*"], "write": ["billing"]}},
    "notes": {"kind": "working"},
}


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    configs = {n: StoreConfig.from_values(n, v) for n, v in STORES.items()}
    found = Memory(f"sqlite:///{tmp_path / 'rt.db'}", configs, migrate=True)
    yield found
    found.close()


def task(id: str = "t1", context: str = "ctx", **inputs: Any) -> TaskRecord:
    now = datetime.now(UTC)
    return TaskRecord(
        id, "triage", context, "hello", dict(inputs), TaskStatus.WORKING, None, None, 1, None,
        None, now, now, None, 0, 0,
    )  # fmt: skip


def call(tools: MemoryTools, name: str, idem: str = "k", **args: Any) -> tuple[Any, bool]:
    result = asyncio.run(tools.call(name, args, idempotency_key=idem))
    try:
        return json.loads(result.content), result.is_error
    except ValueError:
        return result.content, result.is_error


def with_task(tools: MemoryTools, record: TaskRecord) -> MemoryTools:
    scope = TaskScope(record.agent, record.id, record.context_id, record.inputs)
    tools.current = lambda: scope
    return tools


def test_tools_offered_follow_kind_and_access(memory: Memory) -> None:
    triage = MemoryTools(memory, "triage", ["facts", "board", "notes", "chat"])
    names = {s.name for s in triage.specs()}
    assert names == {
        "remember", "recall", "forget", "shared_get", "shared_list", "shared_watch",
        "scratch_write", "scratch_read",
    }  # fmt: skip
    billing = MemoryTools(memory, "billing", ["board"])
    assert {"shared_set", "shared_add"} <= {s.name for s in billing.specs()}
    assert all(triage.side_effects(n) == "idempotent" for n in names)
    assert triage.owner("recall") == "memory.facts"


def test_the_scope_comes_from_the_task_not_the_model(memory: Memory) -> None:
    tools = with_task(MemoryTools(memory, "triage", ["facts"]), task(customer_id="acme"))
    done, error = call(tools, "remember", text="Likes tea", scope="customer:globex")
    assert not error and done["remembered"]["text"] == "Likes tea"
    assert [e.scope for e in memory.entries("facts")] == ["customer:acme"]
    found, _ = call(tools, "recall", query="tea")
    assert [f["text"] for f in found] == ["Likes tea"] and found[0]["score"] > 0
    other = with_task(MemoryTools(memory, "triage", ["facts"]), task(customer_id="globex"))
    assert call(other, "recall", query="tea") == ([], False)
    nobody = with_task(MemoryTools(memory, "triage", ["facts"]), task())
    message, error = call(nobody, "remember", text="x")
    assert error and "no 'customer_id' input" in message


def test_a_replayed_remember_writes_once(memory: Memory) -> None:
    tools = with_task(MemoryTools(memory, "triage", ["facts"]), task(customer_id="acme"))
    call(tools, "remember", "t1/3/call_0", text="Once")
    call(tools, "remember", "t1/3/call_0", text="Once")
    assert len(memory.entries("facts", "customer:acme")) == 1


def test_shared_set_reports_conflicts_the_model_can_act_on(memory: Memory) -> None:
    tools = with_task(MemoryTools(memory, "billing", ["board"]), task())
    assert call(tools, "shared_get", key="outage")[0] == {"key": "outage", "value": None,
                                                         "version": 0}  # fmt: skip
    made, error = call(tools, "shared_set", "t/1/c", key="outage", value={"eu": True}, version=0)
    assert not error and made["version"] == 1
    clash, error = call(tools, "shared_set", "t/2/c", key="region", value={"eu": False}, version=0)
    assert not error  # a different key: fine
    clash, error = call(tools, "shared_set", "other-call", key="outage", value=1, version=0)
    assert error and clash["current"] == {"key": "outage", "value": {"eu": True}, "version": 1}
    added, _ = call(tools, "shared_add", "add-1", key="count", amount=2)
    again, _ = call(tools, "shared_add", "add-1", key="count", amount=2)  # replayed
    assert added["value"] == again["value"] == 2
    listed, _ = call(tools, "shared_list", prefix="out")
    assert [x["key"] for x in listed] == ["outage"]


def test_watch_returns_when_the_key_changes(memory: Memory) -> None:
    reader = with_task(MemoryTools(memory, "triage", ["board"]), task())
    memory.put("board", "global", "phase", "draft", expected_version=0)

    async def scenario() -> Any:
        watching = asyncio.create_task(
            reader.call("shared_watch", {"key": "phase", "version": 1, "timeout": 5},
                        idempotency_key="w")
        )  # fmt: skip
        await asyncio.sleep(0.3)
        await asyncio.to_thread(
            lambda: memory.put("board", "global", "phase", "final", expected_version=1)
        )
        return json.loads((await watching).content)

    seen = asyncio.run(scenario())
    assert seen == {"changed": True, "key": "phase", "value": "final", "version": 2}
    quiet, _ = call(reader, "shared_watch", key="phase", version=2, timeout=0.2)
    assert quiet == {"changed": False, "key": "phase", "version": 2}


def test_a_reader_gets_no_write_tools_and_the_store_refuses_it(memory: Memory) -> None:
    reader = with_task(MemoryTools(memory, "triage", ["board"]), task())
    message, error = call(reader, "shared_add", key="count")
    assert error and "no memory tool 'shared_add'" in message


def test_scratch_notes_live_with_their_task(memory: Memory) -> None:
    record = task("t9")
    tools = with_task(MemoryTools(memory, "triage", ["notes"]), record)
    call(tools, "scratch_write", key="plan", text="step 2 of 3")
    assert call(tools, "scratch_read")[0] == {"plan": "step 2 of 3"}
    agent = AgentMemory(memory, "triage", ["notes"])
    asyncio.run(agent.ended(record))
    assert call(tools, "scratch_read")[0] == {}


def test_history_is_cut_between_whole_turns() -> None:
    from agentform.runtime.store.memory.service import Entry

    def turn(i: int, text: str) -> Entry:
        return Entry(i, "chat", "session", "conversation:c", None, "a", "user", text, None, 1,
                     len(text), 0.0, 0.0, None, {})  # fmt: skip

    turns = [turn(i, f"message number {i} " * (i + 1)) for i in range(6)]
    dropped, kept = fit_history(turns, 60)
    assert dropped + kept == turns
    assert sum(estimate_tokens(t.text) for t in kept) <= 60
    assert sum(estimate_tokens(t.text) for t in [dropped[-1], *kept]) > 60
    assert fit_history(turns, 10_000) == ([], turns)


def test_start_context_drops_or_summarises_old_turns_and_injects_facts(memory: Memory) -> None:
    scope = TaskScope("triage", "t5", "ctx", {"customer_id": "acme"})
    for store in ("chat", "digest"):
        for i in range(8):
            role = "user" if i % 2 == 0 else "assistant"
            memory.add(store, "conversation:ctx", f"turn {i}: " + "words " * 20, role=role,
                       agent="triage")  # fmt: skip
    memory.add("chat", "conversation:ctx", "someone else's turn", role="user", agent="billing")
    memory.add("facts", "customer:acme", "Order 77 arrived late")
    memory.add("facts", "customer:acme", "Prefers email")
    memory.add("facts", "customer:globex", "Order 77 is someone else's")
    seen: list[list[dict[str, str]]] = []

    async def summarize(turns: list[dict[str, str]]) -> str:
        seen.append(turns)
        return f"SUMMARY of {len(turns)} turns"

    messages = asyncio.run(
        start_context(memory, ["chat", "facts"], scope, "where is order 77?", summarize=None)
    )
    assert messages[0]["role"] == "system" and "earlier turns" in messages[0]["content"]
    kept = [m for m in messages if m["role"] in ("user", "assistant")]
    assert kept and all("turn" in m["content"] for m in kept)
    assert not any("someone else" in m["content"] for m in messages)
    assert messages[-1]["role"] == "system" and "Order 77 arrived late" in messages[-1]["content"]
    assert "globex" not in messages[-1]["content"]

    first = asyncio.run(start_context(memory, ["digest"], scope, "x", summarize=summarize))
    assert first[0]["content"].endswith("SUMMARY of " + f"{len(seen[0])} turns")
    again = asyncio.run(start_context(memory, ["digest"], scope, "x", summarize=summarize))
    assert again == first and len(seen) == 1  # the summary is kept and reused


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from([*sorted(memory_tool_names()), "nope"]),
    arguments=st.dictionaries(
        st.sampled_from(
            [
                "text",
                "key",
                "query",
                "id",
                "value",
                "version",
                "amount",
                "limit",
                "prefix",
                "timeout",
                "store",
            ]
        ),
        json_values,
        max_size=6,
    ),
)
def test_any_arguments_give_a_result_never_an_exception(
    memory: Memory, name: str, arguments: dict[str, Any]
) -> None:
    if name == "shared_watch":
        arguments["timeout"] = 0
    tools = with_task(
        MemoryTools(memory, "billing", ["facts", "board", "notes"]), task(customer_id="acme")
    )
    result = asyncio.run(tools.call(name, arguments, idempotency_key="fuzz"))
    assert isinstance(result.content, str) and result.content


def test_tasks_show_says_how_much_came_from_memory() -> None:
    from agentform.cli.tasks import describe_step

    step = {"seq": 0, "kind": "start", "data": {"instructions": "Be kind.", "context": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}}  # fmt: skip
    assert describe_step(step).endswith("; 2 message(s) from memory")
    assert "memory" not in describe_step({**step, "data": {"instructions": "Be kind."}})
