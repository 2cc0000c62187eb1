"""What a tool call or delegation passes before it is made, and the time a task waits for people.

:class:`Guards` is the part of :class:`~agentform.runtime.worker.loop.AgentLoop` that decides
whether a call may go ahead: the agent's circuit breaker (:meth:`~Guards._breaker`, on
:mod:`agentform.runtime.policy.breaker`: a ``trip`` step, then fail, ask a human or go on with
the fallback model), the policies (:meth:`~Guards._gate`: allow, deny, or hold for approval),
the project's budgets across tasks (:meth:`~Guards._afford` before, :meth:`~Guards._spend`
after, :mod:`agentform.runtime.policy.budgets`) and what is left of the task's wall time
(:meth:`~Guards._remaining`), from which the time it waited for humans is taken off
(:meth:`~Guards._waited`, :meth:`~Guards._human_wait` for delegated tasks). Built on
:mod:`.recording`; :mod:`.calls` builds on it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any, Protocol

from agentform.runtime.conversation import Message, ModelResponse, ToolCall, ToolSpec
from agentform.runtime.policy.breaker import Breaker, marks_of
from agentform.runtime.policy.budgets import Budgets, BudgetSpent, Usage
from agentform.runtime.policy.decision import PolicyDecisionPoint
from agentform.runtime.policy.holding import Holds
from agentform.runtime.store import NewStep, TaskRecord
from agentform.runtime.worker.delegation import chain_of
from agentform.runtime.worker.progress import Limits, Progress, TaskFailed
from agentform.runtime.worker.recording import Recording

__all__ = ["ChatModelLike", "Guards"]


class ChatModelLike(Protocol):
    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> ModelResponse: ...


class Guards(Recording):
    """The checks around one agent's calls (set by the loop: None, nothing to check)."""

    limits: Limits
    policy: PolicyDecisionPoint | None
    holds: Holds | None
    breaker: Breaker | None
    budgets: Budgets | None
    fallback: ChatModelLike | None  # the model a tripped breaker moves a task on to

    @staticmethod
    def _waited(progress: Progress, call_id: str, seconds: float) -> None:
        """``seconds`` the task waited for a human about ``call_id``: off its wall time now,
        and recorded with the call's result (:meth:`_tool_result`) for replays."""
        if seconds > 0:
            progress.waited += seconds
            progress.call_waits[call_id] = progress.call_waits.get(call_id, 0.0) + seconds

    async def _human_wait(self, child: TaskRecord) -> float:
        """Seconds ``child`` and the tasks it delegated to waited for humans (approvals,
        answers, unknown outcomes): a parent's wall time does not count them either."""
        assert self.holds is not None
        tasks, frontier = [child.id], [child.id]
        while frontier and len(tasks) < 256:
            found: list[str] = []
            for parent in frontier:
                below = await self.store.run(
                    functools.partial(self.store.list_tasks, parent_id=parent, limit=256)
                )
                found.extend(t.id for t in below)
            tasks.extend(found)
            frontier = found
        return await self.holds.waited_in(tasks)

    async def _gate(
        self, task: TaskRecord, progress: Progress, call: ToolCall, target: str | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The policies' decision on ``call`` to ``target`` (a spec tool, ``agent.NAME`` or
        ``memory.STORE``; None: no policy governs the agent), and the refusal the model gets
        when it may not be made: denied, or held and then denied or expired. A call held for
        approval raises :class:`AwaitingApproval` until someone decides; a held call keeps the
        decision that held it."""
        held = progress.held.get(call.id)
        if held is not None:
            decision: dict[str, Any] | None = dict(held["decision"])
        elif not self.policy or target is None:
            decision = None
        else:
            decision = self.policy.on_call(target, call.name, call.arguments, task)
        if decision is None:
            return None, None
        if decision["effect"] == "deny":
            return decision, f"{decision['reason']}; the call was not made"
        if decision["effect"] == "require_approval" and self.holds:
            await self._flush(task.id, progress)  # the request is filed before its step

            async def hold(data: dict[str, Any]) -> None:
                await self._record(task.id, progress.seq, "approval", data, progress)
                progress.held[call.id] = data
                progress.seq += 1

            refusal = await self.holds.verdict(
                task, call.id, call.name, self.sensitive.mask(call.arguments), decision, held, hold
            )
            self._waited(progress, call.id, self.holds.take_wait(task.id))
            return decision, refusal
        return decision, None

    async def _afford(self, task: TaskRecord) -> None:
        """Fail the task when a budget of the project's ``limits`` its payer draws on is
        spent (checked before each model step and tool call, across replicas)."""
        if self.budgets:
            try:
                await self.budgets.check(await self.budgets.payer(self.store, task))
            except BudgetSpent as exc:
                raise TaskFailed(str(exc)) from None

    async def _spend(self, task: TaskRecord, response: ModelResponse | None) -> None:
        """Book a model step (``response``) or a tool call (None) against those budgets."""
        if self.budgets:
            usage = (
                Usage(tool_calls=1)
                if response is None
                else Usage(1, 0, response.input_tokens + response.output_tokens, response.cost_usd)
            )
            try:
                await self.budgets.book(await self.budgets.payer(self.store, task), usage)
            except BudgetSpent as exc:
                raise TaskFailed(str(exc)) from None

    async def _breaker(
        self, task: TaskRecord, progress: Progress, call: ToolCall, *, delegation: bool = False
    ) -> str | None:
        """The circuit breaker's say on ``call`` before it is made: None, go on; or the refusal
        the model gets when a trip moved the task on to the fallback model. A trip that fails
        the task raises :class:`TaskFailed` (its ``trip`` step written with the end); one that
        asks a human raises :class:`AwaitingApproval` until someone decides. A trip is decided
        once per call: a replay reads the recorded ``trip`` step."""
        if not self.breaker:
            return None
        data = progress.tripped.get(call.id)
        if data is None:
            trip = None
            if delegation:
                trip = self.breaker.on_delegation(await chain_of(self.store, task), call.name)
            index = next((i for i, c in enumerate(progress.calls) if c.id == call.id), None)
            if trip is None and index is not None:
                # each call digested once a task, not again at every later call
                progress.marks.extend(marks_of(progress.calls[len(progress.marks) :]))
                trip = self.breaker.on_call(progress.calls, index, progress.marks)
            if trip is None and call.id not in progress.held:
                trip = await self.breaker.on_rate()
            if trip is None:
                return None
            data = trip.record(call.id, call.name)
            action = trip.action
            if action == "fallback_model" and self.fallback is None:
                action = data["action"] = "fail"
                data["reason"] = f"{trip.reason} (the agent's model has no fallback to go on with)"
            if action == "ask_human" and self.holds is None:
                action = data["action"] = "fail"
            if action == "fail":  # written with the task's end
                progress.unwritten.append(NewStep(progress.seq, "trip", data))
                progress.seq += 1
                raise TaskFailed(str(data["reason"]))
            if action == "fallback_model":
                await self._record(task.id, progress.seq, "trip", data, progress)
                progress.tripped[call.id] = data
                progress.on_fallback = True
                progress.seq += 1
        if data["action"] == "fallback_model":
            return f"{data['reason']}; the call was not made, and a fallback model takes over"
        assert self.holds is not None
        asked = data

        async def record(extra: dict[str, Any]) -> None:
            step = {**asked, **extra}
            await self._record(task.id, progress.seq, "trip", step, progress)
            progress.tripped[call.id] = step
            progress.seq += 1

        await self._flush(task.id, progress)  # the request is filed before its step
        refusal = await self.holds.trip(
            task, call.id, call.name, self.sensitive.mask(call.arguments), str(data["reason"]),
            record,
        )  # fmt: skip
        self._waited(progress, call.id, self.holds.take_wait(task.id))
        if refusal is not None:
            raise TaskFailed(refusal)
        return None

    def _remaining(self, progress: Progress) -> float | None:
        if self.limits.timeout is None:
            return None
        return max(0.001, progress.started + progress.waited + self.limits.timeout - time.time())
