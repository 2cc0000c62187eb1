"""What the engine and JetStream see of a live worker: heartbeats and keep-alives.

:class:`Liveness` holds what a worker is working on: the tasks (with when each last made
progress) and their messages. It heartbeats into the project's JetStream KV bucket once a
second, and at once when a task is taken (who the worker is, its configuration, its tasks, and
the ack subjects of the messages it holds, so the engine can hand them back with ``-NAK`` the
moment the process dies, :mod:`agentform.runtime.host.health`); and it tells JetStream that a
message
held for a while is still being worked on (``in_progress``), since the consumer's ``ack_wait``
is short so that a crashed worker's tasks come back quickly. Used by
:mod:`agentform.runtime.worker.process`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from typing import Any

from agentform.runtime.bus import BusMessage, Connection, health_bucket
from agentform.runtime.worker.config import WorkerConfig

__all__ = ["HEARTBEAT_EVERY", "Liveness"]

log = logging.getLogger("agentform.worker")
HEARTBEAT_EVERY = 1.0


class Liveness:
    """The heartbeats and keep-alives of worker ``worker_id`` (connected once ``nc`` is set)."""

    def __init__(self, config: WorkerConfig, worker_id: str) -> None:
        self.config = config
        self.id = worker_id
        self.nc: Connection | None = None
        self.inflight: dict[str, float] = {}  # task id -> last progress (epoch seconds)
        self.acks: dict[str, str] = {}  # task id -> reply subject of its message
        self._held: dict[int, tuple[BusMessage, float]] = {}  # messages worked on, since when
        self._kv: Any = None
        self._last_beat = 0.0
        self.state = "starting"  # then "ready": taking tasks (the engine counts it running)
        self._background: set[asyncio.Task[None]] = set()

    def took(self, task_id: str, msg: BusMessage) -> None:
        """A task is being worked on: in the next heartbeat (within a moment), kept alive."""
        self.inflight[task_id] = time.time()
        if msg.reply:
            self.acks[task_id] = msg.reply
        self._beat_soon()
        self.hold(msg)

    def progressed(self, task_id: str) -> None:
        self.inflight[task_id] = time.time()

    def let_go(self, task_id: str, msg: BusMessage) -> None:
        self.release(msg)
        self.inflight.pop(task_id, None)
        self.acks.pop(task_id, None)

    def hold(self, msg: BusMessage) -> None:
        """Keep ``msg`` from being redelivered while it is worked on (:meth:`keep_alive`)."""
        self._held[id(msg)] = (msg, time.monotonic())

    def release(self, msg: BusMessage) -> None:
        self._held.pop(id(msg), None)

    async def keep_alive(self) -> None:
        """Tell JetStream that the messages held for a while are still being worked on: a
        message held for a third of ``ack_wait`` gets ``in_progress`` every third of it. One
        loop for all of them: most tasks end long before, and a task of their own would cost
        every task."""
        every = self.config.layout.ack_wait / 3
        while True:
            await asyncio.sleep(every / 2)
            now = time.monotonic()
            for key, (msg, since) in list(self._held.items()):
                if now - since >= every and key in self._held:
                    self._held[key] = (msg, now)
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def heartbeat(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.beat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    async def ready(self) -> None:
        """The worker takes tasks now: say so in a heartbeat at once."""
        self.state = "ready"
        await self.beat()

    async def beat(self) -> None:
        """One heartbeat: who we are, what we hold and how to hand it back."""
        assert self.nc is not None
        self._last_beat = time.monotonic()
        beat = {
            "worker": self.id,
            "pid": os.getpid(),
            "config_hash": self.config.config_hash,
            "state": self.state,
            "at": time.time(),
            "tasks": dict(self.inflight),
            "acks": dict(self.acks),
        }
        try:
            self._kv = self._kv or await health_bucket(self.nc.jetstream(), self.config.layout)
            await self._kv.put(f"{self.config.agent}.{self.id}", json.dumps(beat).encode())
        except Exception as exc:
            log.debug("heartbeat failed: %s", exc)
            self._kv = None

    def _beat_soon(self) -> None:
        # a task just taken should be in a heartbeat within a moment, not a second; at most
        # a few extra beats per second under load
        if time.monotonic() - self._last_beat > 0.25:
            beat = asyncio.create_task(self.beat())
            self._background.add(beat)
            beat.add_done_callback(self._background.discard)
