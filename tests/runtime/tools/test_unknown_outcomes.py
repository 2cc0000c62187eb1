"""A tool server that dies or hangs mid-call, seen from the agent loop, with a real stdio server.

The ``toys`` server (``tests/runtime/mcp_servers/toys.py``) exits in ``crash`` and blocks its own
event loop in ``hang``. The toolbox restarts the server either way; what the task does next
depends on the tool's side effects: a safe call is made again (same idempotency key) or its
error goes back to the model, an unsafe one has an unknown outcome and is settled as after a
worker's crash (the task fails with the reason; it is never made again). Real
:class:`~agentform.runtime.tools.toolbox.Toolbox` and SQLite runtime store; a scripted fake
model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentform.runtime.conversation import ModelResponse, ToolCall
from agentform.runtime.store import RuntimeStore
from agentform.runtime.tools import toolbox as toolbox_module
from agentform.runtime.tools.toolbox import Toolbox
from agentform.runtime.worker.loop import AgentLoop, Limits
from agentform.testing import FakeModel

TOYS = Path(__file__).resolve().parents[1] / "mcp_servers" / "toys.py"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuntimeStore]:
    with RuntimeStore(f"sqlite:///{tmp_path / 'runtime.db'}") as opened:
        opened.create_task(id="t1", agent="a", input="go")
        yield opened


def run_task(
    store: RuntimeStore, tmp_path: Path, side_effects: str, tool: str, **arguments: Any
) -> tuple[Any, list[int]]:
    """Run task t1 whose model calls ``tool`` once, then answers with its result; the
    outcome and the server's pids (before, after)."""
    tools = {
        "toys": {
            "mcp": {
                "command": ["python", str(TOYS)],
                "env": {"TOYS_PID_FILE": str(tmp_path / "toys.pid")},
            },
            "side_effects": side_effects,
            "timeout": "500ms",
        }
    }
    model = FakeModel(
        [
            ModelResponse(tool_calls=(ToolCall("call_0", tool, arguments),)),
            ModelResponse(text="the tool said something"),
        ]
    )

    async def main() -> tuple[Any, list[int]]:
        async with Toolbox(tools, base_dir=tmp_path, secret=lambda _: None) as box:
            pids = [int((tmp_path / "toys.pid").read_text())]
            loop = AgentLoop(store=store, model=model, tools=box, instructions="x", limits=Limits())
            task = store.start_attempt("t1", "w")
            assert task is not None
            outcome = await loop.run(task)
            return outcome, [*pids, int((tmp_path / "toys.pid").read_text())]

    return asyncio.run(main())


def kinds(store: RuntimeStore) -> list[str]:
    return [step.kind for step in store.steps("t1")]


@pytest.mark.parametrize(
    ("tool", "arguments"), [("crash", {}), ("hang", {})], ids=["server-dies", "server-hangs"]
)
def test_an_unsafe_call_without_an_answer_fails_the_task_with_its_outcome_unknown(
    store: RuntimeStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tool: str,
    arguments: dict[str, Any],
) -> None:
    monkeypatch.setattr(toolbox_module, "PING_TIMEOUT_S", 0.5)
    outcome, pids = run_task(store, tmp_path, "unsafe", tool, **arguments)
    assert not outcome.completed
    assert f"the unsafe tool call {tool} (idempotency key t1/2/call_0) got no answer" in (
        outcome.text
    )
    assert "its outcome is unknown and it was not repeated" in outcome.text
    assert kinds(store) == ["start", "model", "tool_call", "error"]  # no result, never again
    assert pids[0] != pids[1]  # the server was restarted for the agent's next task


def test_a_safe_call_whose_server_died_is_made_again(store: RuntimeStore, tmp_path: Path) -> None:
    once = tmp_path / "crashed-once"
    outcome, pids = run_task(store, tmp_path, "idempotent", "crash", once_file=str(once))
    assert (outcome.completed, outcome.text) == (True, "the tool said something")
    assert once.exists() and pids[0] != pids[1]
    result = store.steps("t1")[3]
    assert (result.kind, result.data["content"], result.data["is_error"]) == (
        "tool_result",
        "survived",  # the second try, on the restarted server
        False,
    )


def test_a_safe_call_that_times_out_is_an_error_the_model_reads(
    store: RuntimeStore, tmp_path: Path
) -> None:
    outcome, pids = run_task(store, tmp_path, "none", "slow", seconds=5)
    assert outcome.completed
    result = store.steps("t1")[3]
    assert result.data["content"] == "slow timed out after 500ms; it may still have run"
    assert result.data["is_error"] is True
    assert pids[0] == pids[1]  # it answered the request after the timeout: not restarted
