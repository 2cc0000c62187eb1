"""What a worker announces to followers (:func:`agentform.runtime.worker.telling.event_json`):
the same JSON whether a step carries the text the store wrote or only its data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from agentform.runtime.store import NewStep, RuntimeStore, StepRecord
from agentform.runtime.worker.telling import event_json

AT = datetime(2026, 12, 6, tzinfo=UTC)


def _step(seq: int, kind: str, data: dict[str, Any], text: str | None = None) -> StepRecord:
    return StepRecord("t1", seq, kind, data, 0, 0, 0.0, AT, text)


@pytest.mark.parametrize(
    ("event", "steps", "expected"),
    [
        ({"kind": "steps"}, [], {"kind": "steps"}),
        (
            {"kind": "steps"},
            [_step(0, "start", {"instructions": "Hi ü"})],
            {"kind": "steps", "steps": [{"seq": 0, "step": "start",
                                         "data": {"instructions": "Hi ü"}}]},
        ),
        (
            {"kind": "status", "status": "completed", "text": "ok"},
            [_step(1, "model", {"response": {"text": "ok"}}, '{"response":{"text":"ok"}}'),
             _step(2, "final", {"text": "ok"})],
            {"kind": "status", "status": "completed", "text": "ok",
             "steps": [{"seq": 1, "step": "model", "data": {"response": {"text": "ok"}}},
                       {"seq": 2, "step": "final", "data": {"text": "ok"}}]},
        ),
        ({}, [_step(3, "final", {"text": "x"}, '{"text":"x"}')],
         {"steps": [{"seq": 3, "step": "final", "data": {"text": "x"}}]}),
    ],
    ids=["no-steps", "data-only", "stored-text-and-data", "empty-event"],
)  # fmt: skip
def test_events_read_the_same_either_way(
    event: dict[str, Any], steps: list[StepRecord], expected: dict[str, Any]
) -> None:
    assert json.loads(event_json(event, steps)) == expected


def test_steps_written_and_read_carry_the_stored_text(runtime_url: str) -> None:
    """The text announced is the text stored, for a step just written, one written again
    (a replay) and one read back."""
    with RuntimeStore(runtime_url) as store:
        store.create_task(id="t1", agent="a", input="hi")
        data = {"id": "c1", "name": "lookup", "arguments": {"q": "ü"}, "idempotency_key": "k"}
        (written,) = store.append_steps("t1", [NewStep(0, "tool_call", data)])
        (again,) = store.append_steps("t1", [NewStep(0, "tool_call", data)])
        (read,) = store.steps("t1")
    for step in (written, again, read):
        assert step.data_json is not None and json.loads(step.data_json) == data
        assert json.loads(event_json({"kind": "steps"}, [step]))["steps"][0]["data"] == data
    assert written == again == read  # the text does not take part in equality
