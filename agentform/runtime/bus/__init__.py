"""The task bus on NATS JetStream: names, stream and consumers, task messages, heartbeats.

Owns the JetStream layout of one project, so the engine that creates it, the workers that
consume it and the clients that publish to it agree on every name:

* stream ``AF_<project>_TASKS`` on subjects ``<prefix>.<project>.tasks.<agent>`` (work-queue
  retention: a task message lives until a worker acks it), with a de-duplication window so a
  retried submit of the same task id (``Nats-Msg-Id``) is stored once;
* one durable pull consumer per agent, ``agent_<agent>``, shared by its replicas: explicit ack,
  short ``ack_wait`` kept alive by ``in_progress()`` while a task runs (so a crashed worker's task
  is redelivered within seconds), and bounded ``max_deliver`` after which the engine writes a
  dead-letter record;
* a key/value bucket ``AF_<project>_health`` where workers heartbeat, and ``AF_<project>_leases``
  for tool locks (with a ``stream_prefix`` other than ``agentform``, every JetStream name
  starts ``AF_<prefix>_`` instead of ``AF_``, as every subject starts with the prefix);
* core-NATS subjects ``<prefix>.<project>.events.<task>`` where workers announce new steps.

Owns the nats-py client for everything above. Called by the engine, the worker and the task
client.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from agentform.runtime.bus.auth import inbox_prefix

# the client's types under the bus's names: the rest of the runtime never imports nats itself
Connection = NATS
JetStream = JetStreamContext
BusMessage = Msg
BusTimeout = NatsTimeout

__all__ = [
    "BusLayout",
    "BusMessage",
    "BusTimeout",
    "Connection",
    "JetStream",
    "TaskMessage",
    "connect",
    "ensure_agent",
    "ensure_stream",
    "health_bucket",
    "publish_task",
    "remove_agent",
    "watch_events",
]

ACK_WAIT = 2.0  # seconds; a crashed worker's task comes back this soon
MAX_DELIVER = 5
DUPLICATE_WINDOW = 600.0  # seconds during which a task id is stored at most once
HEARTBEAT_TTL = 30.0


@dataclass(frozen=True, slots=True)
class BusLayout:
    """Every JetStream name of one project."""

    project: str
    prefix: str = "agentform"
    ack_wait: float = ACK_WAIT
    max_deliver: int = MAX_DELIVER

    @property
    def _base(self) -> str:
        """What JetStream names start with: ``AF``, or ``AF_<prefix>`` for another
        ``stream_prefix``, so two deployments with different prefixes share a NATS apart."""
        if self.prefix == "agentform":
            return "AF"
        return "AF_" + re.sub(r"[^A-Za-z0-9_-]", "_", self.prefix)

    @property
    def stream(self) -> str:
        return f"{self._base}_{self.project}_TASKS"

    @property
    def health(self) -> str:
        return f"{self._base}_{self.project}_health"

    @property
    def leases(self) -> str:
        """The tool locks' key/value bucket (:mod:`.leases`)."""
        return f"{self._base}_{self.project}_leases"

    def task_subject(self, agent: str) -> str:
        return f"{self.prefix}.{self.project}.tasks.{agent}"

    def inbound_subject(self, agent: str) -> str:
        """Where programs (the ``client`` bus user) publish tasks for ``agent``: each must carry
        a bearer token, checked by the worker (:mod:`.auth`)."""
        return f"{self.prefix}.{self.project}.inbound.{agent}"

    def is_inbound(self, subject: str) -> bool:
        return subject.startswith(f"{self.prefix}.{self.project}.inbound.")

    def events_subject(self, task_id: str) -> str:
        return f"{self.prefix}.{self.project}.events.{task_id}"

    def consumer(self, agent: str) -> str:
        return f"agent_{agent}"

    def max_deliveries_advisory(self) -> str:
        return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.stream}.*"

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "prefix": self.prefix,
            "ack_wait": self.ack_wait,
            "max_deliver": self.max_deliver,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusLayout:
        return cls(
            project=str(data["project"]),
            prefix=str(data.get("prefix", "agentform")),
            ack_wait=float(data.get("ack_wait", ACK_WAIT)),
            max_deliver=int(data.get("max_deliver", MAX_DELIVER)),
        )


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """What travels on the bus for one task; the store holds the task's truth."""

    id: str
    agent: str
    input: str
    context_id: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    # the publisher recorded the task in the store first (the engine, a delegating worker):
    # the worker then starts it without trying to record it (a hint: a task not found in the
    # store is recorded from the message either way)
    recorded: bool = False
    caller: str | None = None  # who asked: recorded with the task when the worker records it
    # a program's bearer token (inbound subjects only): the worker takes the caller from it
    token: str | None = None

    def encode(self) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "agent": self.agent,
            "input": self.input,
            "context_id": self.context_id,
            "inputs": dict(self.inputs),
            "parent_id": self.parent_id,
        }
        if self.recorded:
            body["recorded"] = True
        if self.caller:
            body["caller"] = self.caller
        if self.token:
            body["token"] = self.token
        return json.dumps(body).encode()

    @classmethod
    def decode(cls, data: bytes) -> TaskMessage:
        """Raises ``ValueError`` for anything that is not a task message."""
        try:
            raw = json.loads(data)
            return cls(
                id=str(raw["id"]),
                agent=str(raw["agent"]),
                input=str(raw["input"]),
                context_id=str(raw["context_id"]),
                inputs=dict(raw.get("inputs") or {}),
                parent_id=raw.get("parent_id"),
                recorded=raw.get("recorded") is True,
                caller=str(raw["caller"]) if raw.get("caller") else None,
                token=str(raw["token"]) if raw.get("token") else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a task message: {exc}") from exc


async def connect(
    url: str,
    *,
    name: str,
    reconnect: bool = True,
    user: str | None = None,
    password: str | None = None,
) -> NATS:
    """Connect to NATS; with ``reconnect`` keep trying forever while the server restarts. With
    ``user`` and ``password`` (:mod:`.auth`) the replies come on the user's own inbox prefix."""
    options: dict[str, Any] = {}
    if user is not None:
        options = {"user": user, "password": password, "inbox_prefix": inbox_prefix(user)}
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1 if reconnect else 0,
        reconnect_time_wait=0.25,
        connect_timeout=5,
        allow_reconnect=reconnect,
        **options,
    )


async def ensure_stream(js: JetStreamContext, layout: BusLayout) -> None:
    """Create the task stream and the health bucket if missing (idempotent)."""
    config = StreamConfig(
        name=layout.stream,
        subjects=[
            f"{layout.prefix}.{layout.project}.tasks.*",
            f"{layout.prefix}.{layout.project}.inbound.*",
        ],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW,
    )
    try:
        found = await js.stream_info(layout.stream)
    except NotFoundError:
        await js.add_stream(config)
    else:
        if sorted(found.config.subjects or []) != sorted(config.subjects or []):
            await js.update_stream(config)  # a stream made before the inbound subjects
    await health_bucket(js, layout)
    # the tool locks' bucket too: workers may bind it, not create it (:mod:`.auth`)
    try:
        await js.key_value(layout.leases)
    except BucketNotFoundError:
        await js.create_key_value(bucket=layout.leases, history=1)


async def health_bucket(js: JetStreamContext, layout: BusLayout) -> KeyValue:
    try:
        return await js.key_value(layout.health)
    except BucketNotFoundError:
        return await js.create_key_value(bucket=layout.health, ttl=HEARTBEAT_TTL, history=1)


async def ensure_agent(js: JetStreamContext, layout: BusLayout, agent: str) -> None:
    """Create (or update) the agent's durable consumer; its replicas share it."""
    await js.add_consumer(
        layout.stream,
        ConsumerConfig(
            durable_name=layout.consumer(agent),
            filter_subjects=[layout.task_subject(agent), layout.inbound_subject(agent)],
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=layout.ack_wait,
            max_deliver=layout.max_deliver,
            max_ack_pending=10_000,
        ),
    )


async def remove_agent(js: JetStreamContext, layout: BusLayout, agent: str) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(layout.stream, layout.consumer(agent))


async def publish_task(
    js: JetStreamContext, layout: BusLayout, task: TaskMessage, *, msg_id: str | None = None
) -> int:
    """Publish once per task id (``Nats-Msg-Id``, or ``msg_id`` for a resumption); returns the
    stream sequence."""
    ack = await js.publish(
        layout.task_subject(task.agent),
        task.encode(),
        headers={"Nats-Msg-Id": msg_id or task.id},
        timeout=5,
    )
    return int(ack.seq)


async def watch_events(
    nc: NATS,
    layout: BusLayout,
    task_id: str,
    on_event: Callable[[], Awaitable[None]],
) -> Callable[[], Awaitable[None]]:
    """Call ``on_event`` for every announcement on ``task_id``'s events subject (``*``: every
    task's); returns the function that stops watching."""

    async def wake(_msg: Msg) -> None:
        await on_event()

    sub = await nc.subscribe(layout.events_subject(task_id), cb=wake)
    return sub.unsubscribe
