"""The agent loop: instructions → model → tool calls → model … → answer, recorded step by step.

Owns the one rule that makes tasks survive crashes: **every step is recorded in the store before
it is acted on**, and a task is always run by first replaying what is recorded. A recorded model
answer is never requested again and a recorded tool result is never called again; a tool call
that was recorded but has no result (the worker died while it ran) is repeated with the same
idempotency key when the tool is safe to repeat, and fails the task when it is ``unsafe``
(its outcome is unknown and money may have moved). Limits (steps, tool calls, tokens, wall time)
are checked before every step. Called by the worker (:mod:`agentform.runtime.worker.process`) for
each task it takes; knows nothing of NATS.

:class:`AgentLoop` owns the loop itself: replay, asking the model, delegations. It is built on
three parts, each a module: writing steps (:mod:`.recording`), the checks a call passes before
it is made (:mod:`.guards`: circuit breaker, policies, budgets, wall time) and making calls
(:mod:`.calls`).

Step kinds recorded (``agentform_steps.kind``): ``start`` (rendered instructions, limits),
``model`` (the answer, tokens, latency), ``tool_call`` (name, arguments, idempotency key),
``tool_result`` (content, is_error, the seconds it waited for humans), ``approval``,
``question``, ``outcome_check`` and ``trip`` (a call held or asked about), ``final`` (the
answer) and ``error`` (why it failed).
The values of sensitive variables are masked in all of them, and in the answer
(:mod:`agentform.runtime.worker.sensitive`). The agent's content filters
(:mod:`agentform.runtime.policy.filters`) screen the input at the first start, a model's answer
and its calls' arguments before the step is recorded, and results before they are; their hits
go with the step (``filtered``), which audits them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

from agentform.runtime.conversation import Message, ModelResponse, ToolCall, ToolSpec
from agentform.runtime.memory import TaskMemory
from agentform.runtime.policy.breaker import Breaker
from agentform.runtime.policy.budgets import Budgets
from agentform.runtime.policy.decision import PolicyDecisionPoint, target_of
from agentform.runtime.policy.filters import ContentFilters
from agentform.runtime.policy.holding import AwaitingApproval, Holds
from agentform.runtime.store import (
    TERMINAL,
    NewStep,
    RuntimeStore,
    StepRecord,
    TaskRecord,
    TaskStatus,
)
from agentform.runtime.tools import ToolboxLike
from agentform.runtime.worker.calls import Calls
from agentform.runtime.worker.delegation import (
    Delegates,
    child_id,
    depth_of,
    result_of,
)
from agentform.runtime.worker.guards import ChatModelLike
from agentform.runtime.worker.outcome import Notify, Outcome, Suspended, TaskCanceled
from agentform.runtime.worker.progress import (
    Limits,
    Progress,
    TaskFailed,
    account,
    apply_step,
    check_limits,
)
from agentform.runtime.worker.prompts import PromptError, render_instructions
from agentform.runtime.worker.sensitive import Sensitive

__all__ = ["AgentLoop", "Limits", "Outcome", "Suspended", "TaskCanceled", "TaskFailed"]

# the tool an agent with ask_user gets: ending its turn with a question to whoever sent the task
ASK_USER = ToolSpec(
    "ask_user",
    "Ask whoever sent this task a question and wait for their answer (it comes back as this"
    " tool's result). Use it only when you cannot go on without information they have.",
    {
        "type": "object",
        "properties": {"question": {"type": "string", "description": "The question to ask."}},
        "required": ["question"],
    },
)


class AgentLoop(Calls):
    """Runs tasks of one agent with one model and one toolbox."""

    def __init__(
        self,
        *,
        store: RuntimeStore,
        model: ChatModelLike,
        tools: ToolboxLike,
        instructions: str,
        limits: Limits,
        notify: Notify | None = None,
        delegates: Delegates | None = None,
        memory: TaskMemory | None = None,
        policy: PolicyDecisionPoint | None = None,
        holds: Holds | None = None,
        ask_on_unknown: frozenset[str] = frozenset(),
        ask_user: bool = False,
        sensitive: Sensitive | None = None,
        filters: ContentFilters | None = None,
        breaker: Breaker | None = None,
        fallback: ChatModelLike | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.store = store
        # the agent's circuit breaker, and the model a trip moves a task on to (on_trip:
        # fallback_model): the first of its model's fallbacks
        self.breaker = breaker
        self.fallback = fallback
        self.budgets = budgets  # the project's budgets across tasks (limits at the top)
        # the agent's content filters: its input, its answer, tool arguments and results
        self.filters = filters or ContentFilters()
        # the instructions keep ${var.NAME}: the model gets the value, the records never do
        self.sensitive = sensitive or Sensitive()
        self.ask_user = ask_user  # the model may end its turn with a question (ASK_USER)
        self.ask_on_unknown = ask_on_unknown  # spec tools with on_unknown_outcome: ask_human
        self.memory = memory
        self.policy = policy
        self.holds = holds
        self.model = model
        self.tools = tools
        self.instructions = instructions
        self.limits = limits
        self.notify = notify
        self.delegates = delegates or Delegates()

    async def run(self, task: TaskRecord) -> Outcome:
        """Replay ``task``'s records, then carry on until an answer; failures become outcomes."""
        if self.filters.applies("input"):
            screened = await self._screen_input(task)
            if isinstance(screened, Outcome):
                return screened
            task = screened
        if self.memory is not None:
            self.memory.enter(task)
        outcome = await self._run(task)
        if self.memory is not None and not outcome.waiting and outcome.approval is None:
            # after the task's end is recorded: a crash in between replays to here again, and
            # both are idempotent (turns carry the task's id; working memory is just deleted)
            if outcome.completed:
                await self.memory.completed(task, outcome.text)
            await self.memory.ended(task)
        return outcome

    async def _screen_input(self, task: TaskRecord) -> TaskRecord | Outcome:
        """At a task's first start, its input as the content filters leave it (kept so in the
        store, with their hits audited), or the task failed when one blocks it. The engine
        screened a task it recorded already; this catches the rest (delegated tasks, tasks
        published on the bus) and flags, and finds nothing more to redact in screened text."""
        if task.attempts > 1 or task.status is not TaskStatus.WORKING:
            recorded = await self.store.run(self.store.steps, task.id)
            if recorded:
                return task  # screened when it first started
        screened = self.filters.screen("input", task.input)
        if not screened.hits:
            return task
        text = str(screened.value)
        if screened.blocked is None:
            await self.store.run(self.store.screen_input, task.id, text, screened.record())
            return dataclasses.replace(task, input=text)
        # the input is kept without what blocked it; the hit is audited with the task's end
        await self.store.run(self.store.screen_input, task.id, text, ())
        reason = screened.refusal()
        error = NewStep(0, "error", {"reason": reason, "filtered": screened.record()})
        last = await self._finish(task.id, error, None, error=reason)
        return Outcome(False, reason, recorded=True, steps=tuple(last))

    async def _run(self, task: TaskRecord) -> Outcome:
        progress: Progress | None = None
        try:
            progress = await self._replay(task)
            if progress.failed is not None:
                return Outcome(False, progress.failed)
            if progress.final is not None:
                return Outcome(True, progress.final)
            text, last = await self._carry_on(task, progress)
            return Outcome(True, text, recorded=True, steps=tuple(last))
        except Suspended as waiting:
            await self._flush(task.id, progress)
            return Outcome(False, str(waiting), waiting=tuple(waiting.children))
        except AwaitingApproval as held:
            await self._flush(task.id, progress)
            return Outcome(False, str(held), approval=held.approval)
        except TaskCanceled:
            await self._flush(task.id, progress)
            return Outcome(False, "the task was canceled", canceled=True)
        except (TaskFailed, PromptError) as exc:
            seq = progress.seq if progress is not None else 0
            reason = self.sensitive.mask(str(exc))
            last = await self._finish(
                task.id, NewStep(seq, "error", {"reason": reason}), progress, error=reason
            )
            return Outcome(False, reason, recorded=True, steps=tuple(last))

    async def _replay(self, task: TaskRecord) -> Progress:
        # a first delivery has nothing recorded yet: steps are recorded only after start_attempt
        first = task.attempts <= 1 and task.status is TaskStatus.WORKING
        records = [] if first else await self.store.run(self.store.steps, task.id)
        progress = Progress()
        if not records:
            system = render_instructions(self.instructions, task.inputs)
            start: dict[str, Any] = {"instructions": system, "started_at": time.time()}
            if self.memory is not None:
                # what the agent remembers goes into the record: a replay sees the same context
                start["context"] = await self.memory.context(task)
            start = self.sensitive.mask(start)  # announced now, before it is written
            # written with the first step acted on (the model's answer): nothing has happened
            # before then, and a crash first rebuilds it the same way
            progress.unwritten.append(NewStep(0, "start", start))
            records = [StepRecord(task.id, 0, "start", start, 0, 0, 0.0, _utcnow())]
            # announced now, so followers see the task start while the model thinks; not again
            # when it is written
            await self._announce(records)
        for step in records:
            apply_step(progress, step)
            if step.kind == "start":
                progress.messages.append(Message("user", task.input))
        progress.seq = records[-1].seq + 1
        if progress.failed is None and records[0].kind != "start":
            raise TaskFailed("the task's records do not begin with a start step; they are damaged")
        return progress

    async def _carry_on(self, task: TaskRecord, progress: Progress) -> tuple[str, list[StepRecord]]:
        """Ask, call tools, ask again ... until an answer: the answer, and the last steps to
        announce with the task's end."""
        fresh = True  # the task was just taken: it was not canceled then
        while True:
            if not fresh:
                await self._check_canceled(task.id)
            fresh = False
            if progress.pending:
                await self._finish_calls(task, progress)
                continue
            check_limits(progress, self.limits, next_kind="model")
            await self._afford(task)
            response = await self._ask(progress)
            data: dict[str, Any] = {"response": response.to_dict()}
            refusal = None
            if self.filters:  # the answer and the calls' arguments, before they are recorded
                screened = self.filters.response(response)
                if screened.filtered:
                    response, refusal = screened.response, screened.refusal
                    data = {"response": response.to_dict(), "filtered": screened.filtered}
                    progress.blocked.update(screened.blocked_calls)
            answer = NewStep(
                progress.seq,
                "model",
                data,
                input_tokens=response.input_tokens,
                output_tokens=response.output_tokens,
                latency_ms=response.latency_ms,
            )
            if not response.tool_calls:
                # the answer, the final step and the task's end: one transaction
                progress.unwritten.append(answer)
                account(progress, response)
                await self._spend(task, response)
                progress.seq += 1
                if refusal is not None:  # recorded redacted, with the error: never returned
                    raise TaskFailed(refusal)
                text = self.sensitive.mask(response.text)
                final = NewStep(progress.seq, "final", {"text": text})
                return text, await self._finish(task.id, final, progress, result=text)
            # written with the first step taken on it (a call's, before the call is made), or
            # before anything else acts (_flush): one transaction, not two
            progress.unwritten.append(answer)
            account(progress, response)
            await self._spend(task, response)
            progress.seq += 1

    async def _check_canceled(self, task_id: str) -> None:
        # the status alone: asked before every step, the whole task record cost more
        if await self.store.run(self.store.status_of, task_id) is TaskStatus.CANCELED:
            raise TaskCanceled(task_id)

    async def _ask(self, progress: Progress) -> ModelResponse:
        from agentform.runtime.models import ModelError

        try:
            # asyncio.timeout, not wait_for: no task of its own for every model call
            async with asyncio.timeout(self._remaining(progress)):
                tools = self.tools.specs() + self.delegates.specs()
                if self.ask_user:
                    tools.append(ASK_USER)
                model = self.model
                if progress.on_fallback and self.fallback is not None:
                    model = self.fallback  # a circuit breaker tripped: on to the fallback
                return await model.complete(self.sensitive.messages(progress.messages), tools)
        except TimeoutError as exc:
            raise TaskFailed(f"wall-time limit of {self.limits.timeout:g}s reached") from exc
        except ModelError as exc:
            raise TaskFailed(f"the model failed: {exc}") from exc

    async def _finish_calls(self, task: TaskRecord, progress: Progress) -> None:
        for call in [c for c in progress.pending if c.id in progress.blocked]:
            # a content filter refused its arguments: nothing is sent, no policy is asked
            await self._tool_result(task, progress, call, progress.blocked[call.id], True, 0.0)
        delegated = [c for c in progress.pending if c.name in self.delegates]
        for call in [c for c in progress.pending if c.name not in self.delegates]:
            if self.ask_user and call.name == ASK_USER.name:
                await self._question(task, progress, call)
                continue
            await self._call_tool(task, progress, call)
        if delegated:
            await self._delegate(task, progress, delegated)

    async def _delegate(self, task: TaskRecord, progress: Progress, calls: list[ToolCall]) -> None:
        """Create (or find) the child task of each call, take the answers of those that ended,
        and suspend while any is still running."""
        depth: int | None = None
        for call in calls:
            recorded = progress.called.get(call.id)
            message = str(call.arguments.get("message") or "").strip()
            if recorded is None:
                tripped = await self._breaker(task, progress, call, delegation=True)
                if tripped is not None:  # refused; the task goes on with the fallback model
                    await self._tool_result(task, progress, call, tripped, True, 0.0)
                    continue
                held = call.id in progress.held
                if not held:
                    check_limits(progress, self.limits, next_kind="tool")
                    await self._afford(task)
                decision, refused = await self._gate(
                    task, progress, call, target_of("agent", call.name)
                )
                if held:  # checked once the time it waited for a human is known
                    check_limits(progress, self.limits, next_kind="tool")
                if refused is not None:  # recorded with the refusal; no child is made
                    await self._tool_result(task, progress, call, refused, True, 0.0, decision)
                    continue
                seq = progress.seq
                if depth is None:
                    depth = await depth_of(self.store, task)
                refusal = None
                if not message:
                    refusal = "a delegation needs a non-empty 'message' for the agent"
                elif depth + 1 > self.delegates.max_depth:
                    refusal = (
                        f"delegation refused: depth limit {self.delegates.max_depth} reached"
                        f" (this task is {depth} deep); answer without {call.name!r}"
                    )
                child = child_id(task.id, seq)
                data = {
                    "id": call.id,
                    "name": call.name,
                    "arguments": dict(call.arguments),
                    "idempotency_key": child,
                    "delegate": True,
                    "child": None if refusal else child,
                }
                if decision is not None:
                    data["decision"] = decision  # recorded before the child is made
                await self._record(task.id, seq, "tool_call", data, progress)
                progress.called[call.id] = data
                progress.tool_calls += 1
                await self._spend(task, None)
                progress.seq += 1
                if refusal is not None:
                    await self._tool_result(task, progress, call, refusal, True, 0.0)
                    continue
                recorded = data
            child = str(recorded["child"])
            if self.delegates.submit is not None:
                await self.delegates.submit(
                    child,
                    call.name,
                    self.sensitive.mask(message),
                    task.context_id,
                    task.id,
                    task.inputs,
                )
        waiting = []
        for call in [c for c in calls if c in progress.pending]:
            child = str(progress.called[call.id]["child"])
            found = await self.store.run(self.store.get_task, child)
            if found is None or found.status not in TERMINAL:
                waiting.append(child)
                continue
            content, is_error = result_of(found)
            if self.holds is not None:  # what the child (and its own children) waited for humans
                self._waited(progress, call.id, await self._human_wait(found))
            await self._tool_result(
                task, progress, call, content, is_error, 0.0, screen="tool_results"
            )
        if waiting:
            raise Suspended(waiting)


def _utcnow() -> datetime:
    return datetime.now(UTC)
