"""Making a tool call: once, with its idempotency key, or never when its outcome is unknown.

:class:`Calls` is the part of :class:`~agentform.runtime.worker.loop.AgentLoop` that makes the
model's calls of spec tools and memory (:meth:`~Calls._call_tool`) and asks whoever sent the task
(:meth:`~Calls._question`, the ``ask_user`` tool). A new call passes the guards
(:mod:`.guards`), is recorded with its idempotency key (``task/seq/call``) before it is made, and
its result is recorded after (an unsafe tool's at once, a safe one's with the next step). A call
recorded without a result (the worker died while it ran, or its server died or hung) is made
again with the same key when the tool is safe to repeat; an unsafe one fails the task, or waits
for a human to say what happened when the tool says ``on_unknown_outcome: ask_human``. The
time left of the task's wall time bounds every call. Delegations are the loop's own
(:mod:`.loop`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agentform.runtime.conversation import ToolCall
from agentform.runtime.policy.decision import target_of
from agentform.runtime.store import TaskRecord
from agentform.runtime.tools import ToolboxLike
from agentform.runtime.worker.guards import Guards
from agentform.runtime.worker.progress import Progress, TaskFailed, check_limits

__all__ = ["Calls"]


class Calls(Guards):
    """Tool calls and questions of one agent's loop."""

    tools: ToolboxLike
    ask_on_unknown: frozenset[str]

    async def _question(self, task: TaskRecord, progress: Progress, call: ToolCall) -> None:
        """The model asks whoever sent the task: the task waits (input-required) until they
        answer, and the answer is the call's result."""
        question = str(call.arguments.get("question") or "").strip()
        if not question or self.holds is None:
            why = "ask_user needs a non-empty 'question'" if not question else "no one to ask"
            await self._tool_result(task, progress, call, why, True, 0.0)
            return

        async def asked(data: dict[str, Any]) -> None:
            await self._record(task.id, progress.seq, "question", data, progress)
            progress.seq += 1

        await self._flush(task.id, progress)  # the question is filed before its step
        answer = await self.holds.question(task, call.id, self.sensitive.mask(question), asked)
        self._waited(progress, call.id, self.holds.take_wait(task.id))
        await self._tool_result(task, progress, call, answer, False, 0.0, screen="tool_results")

    async def _call_tool(self, task: TaskRecord, progress: Progress, call: ToolCall) -> None:
        recorded = progress.called.get(call.id)
        unsafe = self.tools.owner(call.name) is not None and (
            self.tools.side_effects(call.name) == "unsafe"
        )
        if (
            recorded is not None
            and unsafe
            and self.holds is not None
            and (self.tools.owner(call.name) in self.ask_on_unknown)
        ):

            async def check(data: dict[str, Any]) -> None:
                await self._record(task.id, progress.seq, "outcome_check", data, progress)
                progress.seq += 1

            answer, text = await self.holds.outcome(
                task,
                call.id,
                call.name,
                self.sensitive.mask(call.arguments),
                str(recorded["idempotency_key"]),
                str(self.tools.owner(call.name)),
                check,
            )
            self._waited(progress, call.id, self.holds.take_wait(task.id))
            if answer == "happened":  # the result the human found is the call's result
                await self._tool_result(
                    task, progress, call, text, False, 0.0, screen="tool_results"
                )
                return
            if answer == "fail":
                raise TaskFailed(
                    f"the unsafe tool call {call.name} (idempotency key"
                    f" {recorded['idempotency_key']}) had an unknown outcome after a crash;"
                    f" {text}"
                )
            unsafe = False  # retry: made again below, with the same idempotency key
        if recorded is not None and unsafe:
            raise TaskFailed(
                f"the unsafe tool call {call.name} (idempotency key"
                f" {recorded['idempotency_key']}) was interrupted by a crash and its outcome"
                " is unknown; it was not repeated. Check the tool's side of things, then send"
                " the task again."
            )
        if recorded is None:
            tripped = await self._breaker(task, progress, call)
            if tripped is not None:  # refused; the task goes on with the fallback model
                await self._tool_result(task, progress, call, tripped, True, 0.0)
                return
            held = call.id in progress.held
            if not held:
                check_limits(progress, self.limits, next_kind="tool")
                await self._afford(task)
            decision, refusal = await self._gate(task, progress, call, self._target(call))
            if held:  # checked once the time it waited for a human is known
                check_limits(progress, self.limits, next_kind="tool")
            if refusal is not None:
                # recorded with the refusal, before the model hears of it; nothing was sent
                await self._tool_result(task, progress, call, refusal, True, 0.0, decision)
                return
            key = f"{task.id}/{progress.seq}/{call.id}"
            data: dict[str, Any] = {
                "id": call.id,
                "name": call.name,
                "arguments": dict(call.arguments),
                "idempotency_key": key,
            }
            if decision is not None:
                data["decision"] = decision  # recorded before the call is made
            await self._record(task.id, progress.seq, "tool_call", data, progress)
            progress.tool_calls += 1
            await self._spend(task, None)
            progress.seq += 1
        else:
            key = str(recorded["idempotency_key"])
        started = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: no task of its own for every tool call
            async with asyncio.timeout(self._remaining(progress)):
                result = await self.tools.call(
                    call.name, self.sensitive.arguments(call.arguments), idempotency_key=key
                )
        except TimeoutError as exc:
            raise TaskFailed(f"wall-time limit of {self.limits.timeout:g}s reached") from exc
        latency = (time.perf_counter() - started) * 1000
        if unsafe and recorded is None and getattr(result, "unknown", False):
            # its server exited or stopped answering mid-call: the outcome is as unknown as
            # after a crash, and is settled the same way, never by the model calling again
            progress.called[call.id] = {"id": call.id, "name": call.name, "idempotency_key": key}
            if self.holds is not None and self.tools.owner(call.name) in self.ask_on_unknown:
                await self._call_tool(task, progress, call)  # a human says what happened
                return
            raise TaskFailed(
                f"the unsafe tool call {call.name} (idempotency key {key}) got no answer"
                f" ({result.content}); its outcome is unknown and it was not repeated. Check"
                " the tool's side of things, then send the task again."
            )
        safe = self.tools.owner(call.name) is not None and (
            self.tools.side_effects(call.name) != "unsafe"
        )  # an unsafe call's result is written at once: a crash must not make it unknown
        await self._tool_result(
            task, progress, call, result.content, result.is_error, latency,
            screen="tool_results", defer=safe,
        )  # fmt: skip

    def _target(self, call: ToolCall) -> str | None:
        """What policies match for ``call``: its spec tool, or ``memory.STORE`` for a memory
        tool (the store the call names, when the tool serves several)."""
        owner = self.tools.owner(call.name)
        store = call.arguments.get("store")
        if owner is not None and owner.startswith("memory.") and isinstance(store, str) and store:
            return target_of("memory", store)
        return owner
