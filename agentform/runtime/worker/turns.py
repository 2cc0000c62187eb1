"""A conversation's turns: a task waits until every earlier message of its conversation is
handled, or ends at once when it cannot wait.

:class:`Turns` is the part of the worker (:class:`~agentform.runtime.worker.process.Worker`)
that holds a task whose conversation is busy (``concurrent_messages: queue``, the default), checks
again every 100 ms without taking a slot from the tasks it waits for, and ends it instead when
the agent rejects busy conversations (``reject``: the task is ``rejected`` with who it waited
for) or when the task it would wait for is its own ancestor (a delegation cycle through this
agent: it would wait for ever, so it fails with the reason). A worker told to stop lets go of
its waiting messages unacknowledged: the next worker takes them.
"""

from __future__ import annotations

import asyncio
import logging

from agentform.runtime.bus import BusMessage, TaskMessage
from agentform.runtime.store import RuntimeStore, TaskRecord, TaskStatus
from agentform.runtime.worker.delegation import is_ancestor
from agentform.runtime.worker.telling import Telling

__all__ = ["Turns"]

log = logging.getLogger("agentform.worker")
TURN_POLL_S = 0.1  # how often a waiting task looks whether its turn came


class Turns(Telling):
    """Conversation turns for one worker (:class:`Telling`'s attributes, and the worker's stop
    event and count of waiting messages)."""

    stopping: asyncio.Event
    waiting: int

    async def _take_turn(
        self, msg: BusMessage, message: TaskMessage, store: RuntimeStore, blocker: TaskRecord | None
    ) -> bool:
        """Wait until every earlier message of this conversation is handled (True), or end the
        task instead (False): when this agent rejects busy conversations, or when the task it
        would wait for (``blocker``, the first found) is its own ancestor, a wait that could
        never end."""
        mode = self.config.values.concurrent_messages
        self.waiting += 1  # a queued message does not take a slot from the ones it waits for
        self.live.hold(msg)
        try:
            while blocker is not None:
                reason = None
                blocker_is_ancestor = await is_ancestor(store, blocker.id, message.parent_id)
                if blocker_is_ancestor:
                    reason = (
                        f"deadlock avoided: this task would wait for task {blocker.id} of its own"
                        f" conversation, which is its ancestor and waits for it (a delegation"
                        f" cycle through {self.config.agent!r}); it fails instead of hanging"
                    )
                elif mode == "reject":
                    reason = (
                        f"rejected: conversation {message.context_id} is busy with task"
                        f" {blocker.id}; send again when it has answered"
                    )
                if reason is not None:
                    status = TaskStatus.FAILED if blocker_is_ancestor else TaskStatus.REJECTED
                    await self._refuse(msg, message, store, reason, status)
                    return False
                if self.stopping.is_set():
                    return False  # not acked: redelivered to the next worker
                await asyncio.sleep(TURN_POLL_S)
                blocker = await store.run(store.blocking_task, message.id)
            return True
        finally:
            self.live.release(msg)
            self.waiting -= 1

    async def _refuse(
        self,
        msg: BusMessage,
        message: TaskMessage,
        store: RuntimeStore,
        reason: str,
        status: TaskStatus,
    ) -> None:
        changed = await store.run(lambda: store.finish_task(message.id, status, error=reason))
        if changed:
            log.warning("task %s: %s", message.id, reason)
            event = {"kind": "status", "status": str(status), "error": reason}
            await self._announce(message.id, event)
            ended = await store.run(store.get_task, message.id)
            if ended is not None:
                await self._wake_parent(ended)
        await msg.ack()
