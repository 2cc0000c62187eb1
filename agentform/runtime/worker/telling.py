"""What a worker tells others: followers hear of steps and ends, parents are woken, children
are submitted.

:class:`Telling` is the part of the worker (:class:`~agentform.runtime.worker.process.Worker`)
that publishes: step and status events on core-NATS subjects ``<prefix>.<project>.events.<task>``
(:func:`event_json`: what followers read, ``agentform tasks watch`` and A2A streams among them),
a delegated child task on its agent's stream, and the message that wakes a parent task whose
child ended (:mod:`.delegation`). An event that cannot be published is dropped: the store holds
every step, and followers read it there.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from agentform.runtime.bus import BusLayout, Connection
from agentform.runtime.store import RuntimeStore, StepRecord, TaskRecord
from agentform.runtime.worker.config import WorkerConfig
from agentform.runtime.worker.delegation import resume_parent, submit_child
from agentform.runtime.worker.liveness import Liveness

__all__ = ["Telling", "event_json"]

log = logging.getLogger("agentform.worker")


class Telling:
    """Publishing for one worker (its bus connection, layout, store and liveness are the
    worker's: :class:`~agentform.runtime.worker.process.Worker` sets them)."""

    config: WorkerConfig
    layout: BusLayout
    live: Liveness
    nc: Connection | None
    store: RuntimeStore | None

    async def _submit_child(
        self,
        child: str,
        agent: str,
        message: str,
        context_id: str,
        parent: str,
        inputs: Mapping[str, Any],
    ) -> None:
        assert self.nc is not None and self.store is not None
        await submit_child(
            self.nc.jetstream(),
            self.layout,
            self.store,
            child,
            agent,
            message,
            context_id,
            parent,
            inputs,
            caller=f"agent:{self.config.agent}",
        )

    async def _wake_parent(self, task: TaskRecord) -> None:
        if task.parent_id is None or self.nc is None or self.store is None:
            return
        try:
            await resume_parent(self.nc.jetstream(), self.layout, self.store, task)
        except Exception as exc:  # the engine's sweep wakes it later
            log.warning("could not wake %s, the parent of %s: %s", task.parent_id, task.id, exc)

    async def _notify(self, steps: list[StepRecord]) -> None:
        task_id = steps[0].task_id
        self.live.progressed(task_id)
        await self._announce(task_id, {"kind": "steps"}, steps)

    async def _announce(
        self, task_id: str, event: Mapping[str, Any], steps: Sequence[StepRecord] = ()
    ) -> None:
        if self.nc is None or not self.nc.is_connected:
            return
        with contextlib.suppress(Exception):
            await self.nc.publish(self.layout.events_subject(task_id), event_json(event, steps))


# what followers hear, in JSON: one encoder for every event (json.dumps with an option builds
# one per call, and a task with a tool call is announced three times)
_EVENTS = json.JSONEncoder(default=str)


def event_json(event: Mapping[str, Any], steps: Sequence[StepRecord] = ()) -> bytes:
    """``event`` as followers read it, with ``steps`` (``{"seq", "step", "data"}`` each) when
    there are any: a step's data as the store wrote it when the step has that text (encoding
    it again cost as much as writing it)."""
    text = _EVENTS.encode(event)
    if not steps:
        return text.encode()
    listed = ",".join(
        f'{{"seq":{step.seq},"step":{_EVENTS.encode(step.kind)},'
        f'"data":{step.data_json or _EVENTS.encode(step.data)}}}'
        for step in steps
    )
    return f'{text[:-1]}{"," if event else ""}"steps":[{listed}]}}'.encode()
