"""Delegation along the spec's ``delegates`` edges: child tasks, suspension and resumption.

An agent's delegates are offered to its model as tools taking a ``message``. Calling one creates a
**child task** for the delegate (its parent recorded), and the parent **suspends**: its message is
acked and its worker is free for other work while the child runs. When a child ends (completed,
failed, canceled, dead-lettered or timed out) its parent is **resumed**: its task message is
published again, with a message id naming the child so each resumption is stored once, and the
parent's next worker replays its records and picks up the child's result. Child ids are derived
from the parent's records (``<parent>.<step>``), so a parent that crashes and replays creates the
same child again, which the store and the stream de-duplicate.

This module owns those mechanics: :class:`Delegates` (what the loop needs), the tool specs of
delegates, child submission, resumption and the depth of a task in its tree. Called by the agent
loop (:mod:`agentform.runtime.worker.loop`), the worker and the engine (resumption after dead
letters and timeouts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentform.contract.values import AgentLimits, ProjectLimits
from agentform.runtime.bus import BusLayout, JetStream, TaskMessage, publish_task
from agentform.runtime.conversation import ToolSpec
from agentform.runtime.store import TERMINAL, RuntimeStore, TaskRecord, TaskStatus

__all__ = [
    "DEFAULT_CHILD_TIMEOUT",
    "DEFAULT_MAX_DEPTH",
    "Delegates",
    "Submit",
    "chain_of",
    "child_id",
    "depth_limit",
    "depth_of",
    "is_ancestor",
    "result_of",
    "resume_parent",
    "submit_child",
]

DEFAULT_MAX_DEPTH = 5
DEFAULT_CHILD_TIMEOUT = 600.0  # seconds, for delegates without a timeout of their own

# submit(child id, agent, message, context id, parent id, inputs): the child inherits the
# parent's inputs (who the customer is), as it shares its conversation
Submit = Callable[[str, str, str, str, str, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Delegates:
    """The agents one agent may delegate to, and how to hand them work."""

    agents: Mapping[str, str] = field(default_factory=dict)  # name -> description
    max_depth: int = DEFAULT_MAX_DEPTH
    submit: Submit | None = None

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name,
                f"Delegate to the agent {name!r}"
                + (f": {description}" if description else "")
                + ". Give it one self-contained message; its answer comes back as the result.",
                {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string", "description": "What to ask the agent."}
                    },
                    "required": ["message"],
                },
            )
            for name, description in sorted(self.agents.items())
        ]

    def __contains__(self, name: object) -> bool:
        return name in self.agents


def child_id(parent: str, seq: int) -> str:
    """The child created by the parent's step ``seq``: the same on every replay."""
    return f"{parent}.{seq}"


def depth_limit(limits: AgentLimits, project: ProjectLimits | None = None) -> int:
    """How deep below a task of this agent delegations may go: its own ``limits.max_depth``,
    under the project's ``limits.max_depth`` ceiling (either absent: DEFAULT_MAX_DEPTH)."""
    own = limits.max_depth or DEFAULT_MAX_DEPTH
    ceiling = (project.max_depth if project is not None else None) or DEFAULT_MAX_DEPTH
    return min(own, ceiling)


async def depth_of(store: RuntimeStore, task: TaskRecord, limit: int = 64) -> int:
    """How many ancestors ``task`` has (0 for a task someone sent)."""
    depth, parent = 0, task.parent_id
    while parent is not None and depth < limit:
        found = await store.run(store.get_task, parent)
        if found is None:
            break
        depth, parent = depth + 1, found.parent_id
    return depth


async def chain_of(store: RuntimeStore, task: TaskRecord, limit: int = 64) -> list[str]:
    """The agents of ``task``'s delegation chain, the one someone sent first and ``task``'s
    own agent last (what a circuit breaker's ``max_ping_pong`` looks at)."""
    chain, parent = [task.agent], task.parent_id
    while parent is not None and len(chain) <= limit:
        found = await store.run(store.get_task, parent)
        if found is None:
            break
        chain.append(found.agent)
        parent = found.parent_id
    return chain[::-1]


async def is_ancestor(store: RuntimeStore, candidate: str, parent: str | None) -> bool:
    """Whether task ``candidate`` is ``parent`` or one of its ancestors."""
    seen = 0
    while parent is not None and seen < 64:
        if parent == candidate:
            return True
        found = await store.run(store.get_task, parent)
        parent, seen = (found.parent_id if found else None), seen + 1
    return False


async def submit_child(
    js: JetStream,
    layout: BusLayout,
    store: RuntimeStore,
    child: str,
    agent: str,
    message: str,
    context_id: str,
    parent: str,
    inputs: Mapping[str, Any],
    *,
    caller: str | None = None,
) -> None:
    """Record and publish a child task; doing it again is harmless (same id). ``caller`` is
    the delegating agent (``agent:NAME``)."""
    task, created = await store.create_task_batched(
        id=child,
        agent=agent,
        input=message,
        context_id=context_id,
        parent_id=parent,
        inputs=inputs,
        caller=caller,
        channel="delegation",
    )
    # publish when new, or when it was recorded but may never have been queued (a crash between
    # the two); a duplicate publish within the stream's window is dropped by its message id
    if created or (task.status is TaskStatus.SUBMITTED and task.attempts == 0):
        message_ = TaskMessage(
            child, agent, message, context_id, dict(inputs), parent, recorded=True, caller=caller
        )
        await publish_task(js, layout, message_)


async def resume_parent(
    js: JetStream, layout: BusLayout, store: RuntimeStore, child: TaskRecord
) -> bool:
    """Wake the parent of ``child`` (which has ended); False if there is none to wake."""
    if child.parent_id is None:
        return False
    parent = await store.run(store.get_task, child.parent_id)
    if parent is None or parent.status in TERMINAL:
        return False
    message = TaskMessage(
        parent.id,
        parent.agent,
        parent.input,
        parent.context_id,
        parent.inputs,
        parent.parent_id,
        recorded=True,
    )
    await publish_task(js, layout, message, msg_id=f"{parent.id}/after/{child.id}")
    return True


async def resume_task(js: JetStream, layout: BusLayout, task: TaskRecord, because: str) -> None:
    """Publish ``task`` again so a worker takes it up where its records end (``because`` names
    the event, so each resumption is stored once: a decided approval, an ended child)."""
    message = TaskMessage(
        task.id, task.agent, task.input, task.context_id, task.inputs, task.parent_id, recorded=True
    )
    await publish_task(js, layout, message, msg_id=f"{task.id}/after/{because}")


def result_of(child: TaskRecord) -> tuple[str, bool]:
    """What the parent's model is told: the child's answer, or why there is none."""
    if child.status is TaskStatus.COMPLETED:
        return child.result or "", False
    reason = child.error or str(child.status)
    return f"the agent {child.agent!r} did not answer ({child.status}): {reason}", True
