"""Sensitive values in a worker: read from its environment, put back for the model and the
tools where the spec uses them, masked in every step, answer and request the loop records.

The loop runs against a real SQLite runtime store with the fake model and toolbox of
:mod:`agentform.testing`, as in ``test_loop.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentform.contract import AgentValue, ToolValue
from agentform.runtime.conversation import ModelResponse, ToolCall
from agentform.runtime.store import RuntimeStore
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.runtime.worker.sensitive import MissingValue, Sensitive
from agentform.testing import FakeModel, FakeToolbox

VALUE = "s3cr3t-VALUE-42"
DB = "db-Passw0rd-9"
AGENT = AgentValue.model_validate(
    {"model": "m", "instructions": "The PIN is ${var.pin}.", "sensitive": {"pin": "fp"}}
)
TOOLS = {
    "db": ToolValue.model_validate(
        {
            "mcp": {
                "command": ["python", "db.py", "${var.db}"],
                "env": {"PASSWORD": "${var.db}", "PLAIN": "x"},
            },
            "sensitive": {"db": "fp"},
        }
    ),
    "crm": ToolValue.model_validate(
        {
            "a2a": {"url": "https://crm/${var.db}", "headers": {"X-Key": "k ${var.db}"}},
            "sensitive": {"db": "fp"},
        }
    ),
}
ENVIRON = {"AGENTFORM_VAR_pin": VALUE, "AGENTFORM_VAR_db": DB}


def test_values_are_read_from_the_environment_for_the_names_planning_listed() -> None:
    sensitive = Sensitive.of(AGENT, TOOLS, {**ENVIRON, "AGENTFORM_VAR_other": "no"})
    assert sensitive.values == {"pin": VALUE, "db": DB}
    assert sensitive.prompt == {"pin": VALUE}  # only what the instructions use
    assert VALUE not in repr(sensitive)


def test_a_missing_value_stops_the_worker_naming_the_variable() -> None:
    with pytest.raises(MissingValue, match=r"'db' is not known to this worker.*apply"):
        Sensitive.of(AGENT, TOOLS, {"AGENTFORM_VAR_pin": VALUE})


def test_tools_get_their_values_in_env_and_headers_only() -> None:
    tools = Sensitive.of(AGENT, TOOLS, ENVIRON).tools(TOOLS)
    mcp, a2a = tools["db"].mcp, tools["crm"].a2a
    assert mcp is not None and a2a is not None
    assert mcp.env == {"PASSWORD": DB, "PLAIN": "x"}
    assert mcp.command == ["python", "db.py", "${var.db}"]  # a command line is shown
    assert a2a.headers == {"X-Key": f"k {DB}"}
    assert a2a.url == "https://crm/${var.db}"
    assert TOOLS["db"].mcp is not None and TOOLS["db"].mcp.env["PASSWORD"] == "${var.db}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuntimeStore]:
    with RuntimeStore(f"sqlite:///{tmp_path / 'runtime.db'}") as opened:
        yield opened


def run(store: RuntimeStore, model: FakeModel, tools: FakeToolbox) -> Any:
    loop = AgentLoop(
        store=store,
        model=model,
        tools=tools,
        instructions=AGENT.instructions,
        limits=Limits(),
        sensitive=Sensitive.of(AGENT, TOOLS, ENVIRON),
    )
    task = store.start_attempt("t1", "worker-1") or store.get_task("t1")
    assert task is not None
    return asyncio.run(loop.run(task))


def call(name: str, **arguments: Any) -> ModelResponse:
    return ModelResponse(tool_calls=(ToolCall("c1", name, arguments),))


def recorded(store: RuntimeStore) -> str:
    task = store.get_task("t1")
    return repr([s.data for s in store.steps("t1")]) + repr(task)


def test_the_model_gets_the_value_and_no_record_holds_it(store: RuntimeStore) -> None:
    store.create_task(id="t1", agent="a", input="what is the PIN?")
    tools = FakeToolbox({"lookup": lambda a: f"found {a['pin']} and {DB}"}, {"lookup": "none"})
    model = FakeModel(
        [call("lookup", pin=VALUE), ModelResponse(text=f"It is {VALUE}; the db is {DB}.")]
    )
    outcome = run(store, model, tools)
    assert outcome.completed
    assert outcome.text == "It is ${var.pin}; the db is ${var.db}."
    # the model was told the value its instructions use, and never the tool's
    assert model.seen[0][0].content == f"The PIN is {VALUE}."
    assert model.seen[1][-1].content == f"found {VALUE} and ${{var.db}}"
    assert tools.calls[0][1] == {"pin": VALUE}
    steps = store.steps("t1")
    assert steps[0].data["instructions"] == "The PIN is ${var.pin}."
    assert VALUE not in recorded(store) and DB not in recorded(store)


class Crash(BaseException):
    """Stands for the worker dying mid-call."""


def test_a_call_replayed_from_its_masked_record_is_made_with_the_value(
    store: RuntimeStore,
) -> None:
    store.create_task(id="t1", agent="a", input="go")
    made: list[str] = []

    def crashing(arguments: Any) -> str:
        made.append(arguments["pin"])
        if len(made) == 1:
            raise Crash
        return "ok"

    tools = FakeToolbox({"use": crashing}, {"use": "idempotent"})
    with pytest.raises(Crash):
        run(store, FakeModel([call("use", pin=VALUE)]), tools)
    assert VALUE not in recorded(store)
    # redelivered: the call comes back from the record, which holds ${var.pin}
    model = FakeModel([ModelResponse(text="done")])
    assert run(store, model, tools).completed
    assert made == [VALUE, VALUE]
    assert model.seen[0][0].content == f"The PIN is {VALUE}."
