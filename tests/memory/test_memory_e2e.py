"""Memory end to end, on real processes: the engine, nats-server and workers, over SQLite and a
real PostgreSQL.

* Monday/Wednesday: a customer's conversation on "Monday", the engine and its workers stopped
  and started again, a follow-up on "Wednesday" in the same conversation answered from what was
  said on Monday; a fact remembered for the customer recalled from another conversation, but not
  for another customer.
* Two agents increment the same shared counter 1,000 times each, at once: exactly +2,000.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.runtime.project import Project, open_project, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    with open_project(tmp_path / "proj") as found:
        yield found


def _store(url: str) -> dict[str, Any]:
    return {"store": {"url": url}}


def _send(
    project: Project, agent: str, message: str, context: str, **inputs: Any
) -> dict[str, Any]:
    body = {"agent": agent, "input": message, "context_id": context, "inputs": inputs}
    task: dict[str, Any] = project.client.request("POST", "/v1/tasks", body=body, timeout=15)
    done = project.wait_task(task["id"], timeout=60)
    assert done["status"] == "completed", done
    return done


DESK_RULES = [
    # a recall came back: answer from what was found, or say there is nothing
    {"match": {"tool_result": "remembered"},
     "reply": "Sorry about that! I have noted it and will send a replacement."},
    {"match": {"tool_result": r"(?i)order (\d+) arrived broken"},
     "reply": "You told us order {{ match[1] }} arrived broken."},
    {"match": {"tool_result": r"^\[\]$"}, "reply": "I have nothing on file for you."},
    # Monday: note the fact for this customer
    {"match": {"user": r"(?i)my order (\d+) arrived broken"},
     "call": {"tool": "remember",
              "arguments": {"text": "Order {{ match[1] }} arrived broken; the customer wants a"
                                    " replacement, not a refund.", "key": "open-issue"}}},
    # Wednesday: the follow-up is answered from the conversation's history
    {"match": {"user": "(?i)any news", "context": r"my order (\d+) arrived broken"},
     "reply": "Yes: the replacement for order {{ match[1] }} ships today."},
    {"match": {"user": "(?i)any news"}, "reply": "News about what? I have no earlier message."},
    {"match": {"user": "(?i)what do you know about me"},
     "call": {"tool": "recall", "arguments": {"query": "order broken replacement"}}},
    {"reply": "How can I help?"},
]  # fmt: skip


def desk_spec(store_url: str) -> dict[str, Any]:
    return {
        "runtime": _store(store_url),
        "models": {"desk-model": {"provider": "scripted", "script": "scripts/desk.yaml"}},
        "memory": {
            "conversations": {"kind": "session", "ttl": "7d", "redact": ["email"]},
            "customer-facts": {
                "kind": "long_term",
                "scope": "customer",
                "retention": "365d",
                "redact": ["email", "phone"],
            },
        },
        "agents": {
            "desk": {
                "model": "desk-model",
                "instructions": "You are the support desk of Acme Corp.",
                "memory": ["conversations", "customer-facts"],
                "limits": {"max_steps": 6},
            }
        },
        "access": {"roles": {"customers": ["invoke:desk"]}, "members": {"web": ["customers"]}},
    }


def test_monday_wednesday_and_facts_per_customer(project: Project, runtime_url: str) -> None:
    project.write(desk_spec(runtime_url), {"desk": DESK_RULES})
    project.apply()
    monday = _send(
        project,
        "desk",
        "Hi, my order 1234 arrived broken. Mail me at jane.doe@example.com",
        "ticket-1",
        customer_id="acme",
    )
    assert "noted it" in monday["result"]

    # the engine and every worker stop; a new engine starts from what apply registered
    old_pid = project.client.pid
    stopped = project.cli("engine", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not project.client.running()
    started = project.cli("engine", "start")
    assert started.returncode == 0, started.stderr
    assert project.client.pid not in (None, old_pid)
    project.wait_ready("desk")

    wednesday = _send(project, "desk", "Hello again, any news?", "ticket-1", customer_id="acme")
    assert wednesday["result"] == "Yes: the replacement for order 1234 ships today."
    context = wednesday["steps"][0]["data"]["context"]
    assert [m["role"] for m in context] == ["user", "assistant"]
    assert "order 1234 arrived broken" in context[0]["content"]
    assert "jane.doe@example.com" not in json.dumps(context)  # redacted before it was written

    # another conversation of the same customer: no history, but the fact is recalled
    same_customer = _send(
        project, "desk", "What do you know about me?", "ticket-2", customer_id="acme"
    )
    assert same_customer["result"] == "You told us order 1234 arrived broken."
    fresh = _send(project, "desk", "Any news?", "ticket-2b", customer_id="acme")
    assert fresh["result"].startswith("News about what?")  # histories are per conversation
    # another customer sees none of it
    other = _send(project, "desk", "What do you know about me?", "ticket-3", customer_id="globex")
    assert other["result"] == "I have nothing on file for you."

    engine = create_engine(runtime_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT store, scope, text FROM agentform_memory_items")).all()
    finally:
        engine.dispose()
    assert not any("jane.doe" in row.text for row in rows)
    facts = [row for row in rows if row.store == "customer-facts"]
    assert [(f.scope, f.text[:20]) for f in facts] == [("customer:acme", "Order 1234 arrived b")]
    turns = [row for row in rows if row.store == "conversations" and row.scope.endswith("-1")]
    assert len(turns) == 4  # two exchanges of ticket-1, each recorded once


COUNTER_RULES = [
    {"match": {"tool_result": "value"}, "reply": "done"},
    {"call": [{"tool": "shared_add", "arguments": {"key": "visits", "amount": 1}}] * 10},
]


def counter_spec(store_url: str) -> dict[str, Any]:
    agent = {"model": "counter-model", "memory": ["tally"], "replicas": 2,
             "limits": {"max_tool_calls": 20}}  # fmt: skip
    return {
        "runtime": _store(store_url),
        "models": {"counter-model": {"provider": "scripted", "script": "scripts/counter.yaml"}},
        "memory": {"tally": {"kind": "shared", "scope": "global"}},
        "agents": {"left": agent, "right": agent},
        "access": {"roles": {"ops": ["invoke:*"]}, "members": {"cron": ["ops"]}},
    }


def test_two_agents_add_to_one_counter_without_losing_an_update(
    project: Project, runtime_url: str
) -> None:
    project.write(counter_spec(runtime_url), {"counter": COUNTER_RULES})
    project.apply()
    engine = create_engine(runtime_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:  # the counter does not start at zero
            conn.execute(
                text(
                    "INSERT INTO agentform_memory_items (store, kind, scope, key, text, value,"
                    " version, bytes, created_at, updated_at) VALUES ('tally', 'shared', 'global',"
                    " 'visits', 'visits: 500', '500', 1, 3, 0, 0)"
                )
            )
        ids = []
        for i in range(100):  # 100 tasks per agent, ten increments each: 1,000 per agent
            for agent in ("left", "right"):
                body = {"agent": agent, "input": f"count {i}", "context_id": f"{agent}-{i}"}
                ids.append(project.client.request("POST", "/v1/tasks", body=body)["id"])

        def finished() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM agentform_tasks WHERE status IN"
                            " ('completed', 'failed', 'canceled')"
                        )
                    ).scalar_one()
                )

        wait_for(lambda: finished() == len(ids), 240, "every counting task to finish")
        assert all(project.task(t)["status"] == "completed" for t in ids)
        with engine.connect() as conn:
            value = conn.execute(
                text("SELECT value, version FROM agentform_memory_items WHERE key = 'visits'")
            ).one()
    finally:
        engine.dispose()
    assert json.loads(value.value) == 2500
    assert value.version == 2001


def test_the_engine_sweeps_expired_memory_and_destroy_guards_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTFORM_MEMORY_SWEEP", "0.5")  # inherited by the engine apply starts
    url = f"sqlite:///{tmp_path / 'rt.db'}"
    rules = [
        {"match": {"tool_result": "remembered"}, "reply": "noted"},
        {"call": {"tool": "remember", "arguments": {"text": "{{ user }}"}}},
    ]
    spec = {
        "runtime": _store(url),
        "models": {"m": {"provider": "scripted", "script": "scripts/m.yaml"}},
        "memory": {"brief": {"kind": "long_term", "scope": "global", "ttl": "2s"}},
        "agents": {"scribe": {"model": "m", "memory": ["brief"]}},
        "access": {"roles": {"ops": ["invoke:scribe"]}, "members": {"cron": ["ops"]}},
    }
    with open_project(tmp_path / "proj") as project:
        project.write(spec, {"m": rules})
        project.apply()
        _send(project, "scribe", "the build is green", "c1")
        engine = create_engine(url)

        def entries() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(text("SELECT count(*) FROM agentform_memory_items")).scalar()
                )

        try:
            assert entries() == 1
            refused = project.cli("destroy", "--auto-approve")
            assert refused.returncode == 1
            assert "memory.brief" in refused.stderr + refused.stdout
            assert "--allow-data-loss" in refused.stderr + refused.stdout
            wait_for(lambda: entries() == 0, 15, "the sweep to delete the expired entry")
        finally:
            engine.dispose()
        plan = (
            project.cli("plan", "-destroy") if False else project.cli("destroy", "--auto-approve")
        )
        assert plan.returncode == 0, plan.stdout + plan.stderr  # empty now: no flag needed


def test_an_unreachable_store_fails_apply_with_the_reason(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nobody listens
    spec = desk_spec(f"postgresql://agentform@127.0.0.1:{port}/agentform")
    with open_project(tmp_path / "proj") as project:
        project.write(spec, {"desk": DESK_RULES})
        done = project.cli("apply", "--auto-approve", timeout=180)
        out = done.stdout + done.stderr
        assert done.returncode == 1, out
        assert "runtime.store" in out and f"127.0.0.1:{port}" in out
        assert "Traceback" not in out
