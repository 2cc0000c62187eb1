"""Calls held for a human's approval: asking, and reading the answer, for one agent's worker.

When the decision point (:mod:`.decision`) says ``require_approval``, :class:`Holds` files an
approval request (:class:`~agentform.runtime.store.approvals.ApprovalBook`: the call, the
policies, the roles that may approve, the deadline from ``approval_timeout``), has the loop
record it as an ``approval`` step, and raises :class:`AwaitingApproval`: the worker lets go of
the task, which waits in ``input-required`` until someone decides (``agentform approvals``, the
control API) and the engine publishes it again. On that next attempt the loop replays to the
held call and asks again: approved, the call is made (once: its idempotency key is the one it
would have had); denied or expired, the model gets a tool error that says so. A request filed
just before a crash is found again (one request per task and call), and a decision made while
no worker held the task is read when one does. Called by :mod:`agentform.runtime.worker.loop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agentform.runtime.policy.decision import PolicyDecisionPoint, args_digest
from agentform.runtime.store import TaskRecord
from agentform.runtime.store.approvals import Approval, ApprovalBook, Kind, request_id

__all__ = ["AwaitingApproval", "Holds", "waited"]


class AwaitingApproval(Exception):
    """A call of the task is held for a human's approval; its worker lets go of it until the
    request is decided (or expires)."""

    def __init__(self, approval: str) -> None:
        super().__init__(f"waiting for approval {approval}")
        self.approval = approval


Record = Callable[[dict[str, Any]], Awaitable[None]]


def waited(approval: Approval) -> float:
    """Seconds ``approval`` kept its task waiting for a human (0 while it still waits): time
    that does not count against the task's wall-time limit."""
    if approval.decided_at is None:
        return 0.0
    return max(0.0, (approval.decided_at - approval.created_at).total_seconds())


class Holds:
    """The approval requests of one agent's calls. Each method that reads a decided request
    notes how long it kept its task waiting in ``waits`` (task id -> seconds), which the loop
    takes off the task's wall time."""

    def __init__(self, book: ApprovalBook, point: PolicyDecisionPoint) -> None:
        self.book = book
        self.point = point
        self.waits: dict[str, float] = {}

    async def waited_in(self, task_ids: list[str]) -> float:
        """Seconds the requests of these tasks kept them waiting for humans, in all."""
        found = await asyncio.to_thread(self.book.for_tasks, task_ids)
        return sum(waited(approval) for approval in found)

    def take_wait(self, task_id: str) -> float:
        """The waiting time noted for ``task_id`` since the last call, and forget it."""
        return self.waits.pop(task_id, 0.0)

    def _note(self, task_id: str, approval: Approval) -> None:
        self.waits[task_id] = self.waits.get(task_id, 0.0) + waited(approval)

    async def verdict(
        self,
        task: TaskRecord,
        call_id: str,
        function: str,
        arguments: Mapping[str, Any],
        decision: Mapping[str, Any],
        held: Mapping[str, Any] | None,
        record: Record,
    ) -> str | None:
        """None when the call may be made (approved); the refusal the model gets when it was
        denied or expired; :class:`AwaitingApproval` while nobody has decided."""
        if held is None:
            approvers, timeout = self.point.hold_terms(decision["policies"])
            approval = await asyncio.to_thread(
                lambda: self.book.request(
                    task_id=task.id,
                    call_id=call_id,
                    agent=task.agent,
                    tool=str(decision.get("tool") or function),
                    function=function,
                    arguments=arguments,
                    args_digest=str(decision["args_digest"]),
                    policies=list(decision["policies"]),
                    approvers=approvers,
                    reason=str(decision["reason"]),
                    timeout=timeout,
                )
            )
            await record(
                {"id": call_id, "name": function, "approval": approval.id, "decision": decision}
            )
        else:
            found = await asyncio.to_thread(self.book.get, str(held["approval"]))
            if found is None:
                raise AwaitingApproval(str(held["approval"]))
            approval = found
        answer = self._answer(approval)  # raises while nobody decided
        self._note(task.id, approval)
        return answer

    async def outcome(
        self,
        task: TaskRecord,
        call_id: str,
        function: str,
        arguments: Mapping[str, Any],
        key: str,
        tool: str,
        record: Record,
    ) -> tuple[str, str]:
        """What a human found of an unsafe call whose outcome a crash left unknown (the tool
        says ``on_unknown_outcome: ask_human``): ``("happened", result)``, ``("retry", "")`` or
        ``("fail", reason)``; :class:`AwaitingApproval` until someone answers. The request is
        filed once per call (a replay finds it) and recorded as an ``outcome_check`` step."""
        reason = (
            f"the unsafe call {function} of tool {tool} (idempotency key {key}) was interrupted"
            " by a crash and its outcome is unknown: check the tool's own system, then answer"
            " happened (with its result), retry or fail"
        )
        found, filed = await self._ask(task, call_id, "outcome", tool, function, arguments, reason)
        if filed:
            await record({"id": call_id, "name": function, "approval": found.id, "key": key})
        if found.status != "pending":
            self._note(task.id, found)
        if found.status == "approved":
            return "retry", ""
        if found.status == "happened":
            return "happened", found.note or ""
        if found.status == "denied":
            why = f": {found.note}" if found.note else ""
            return "fail", f"{found.decided_by} answered that the call failed{why}"
        raise AwaitingApproval(found.id)

    async def question(self, task: TaskRecord, call_id: str, question: str, record: Record) -> str:
        """The answer to the model's question (``ask_user``) from whoever sent the task;
        :class:`AwaitingApproval` until it comes. Asked once per call (a replay finds it) and
        recorded as a ``question`` step."""
        arguments = {"question": question}
        found, filed = await self._ask(
            task, call_id, "question", "ask_user", "ask_user", arguments, question
        )
        if filed:
            await record({"id": call_id, "name": "ask_user", "question": question,
                          "approval": found.id, "asked": task.caller})  # fmt: skip
        if found.status != "pending":
            self._note(task.id, found)
        if found.status == "happened":
            return found.note or ""
        if found.status in ("denied", "expired"):
            who = found.decided_by or "nobody"
            return f"(no answer: {who} declined to answer{': ' + found.note if found.note else ''})"
        raise AwaitingApproval(found.id)

    async def trip(
        self,
        task: TaskRecord,
        call_id: str,
        function: str,
        arguments: Mapping[str, Any],
        reason: str,
        record: Record,
    ) -> str | None:
        """Whether a human lets the agent go on after its circuit breaker tripped on this call
        (``on_trip: ask_human``): None when approved (the call is made), the reason the task
        fails when denied or expired; :class:`AwaitingApproval` until someone decides. Filed
        once per call (a replay finds it), recorded with the ``trip`` step."""
        found, filed = await self._ask(
            task, call_id, "breaker", function, function, arguments, reason
        )
        if filed:
            await record({"approval": found.id})
        if found.status != "pending":
            self._note(task.id, found)
        if found.status == "approved":
            return None
        if found.status in ("denied", "expired"):
            who = found.decided_by or "nobody"
            why = f": {found.note}" if found.note else ""
            return f"{reason}; {who} did not let the agent go on{why}"
        raise AwaitingApproval(found.id)

    async def _ask(
        self,
        task: TaskRecord,
        call_id: str,
        kind: Kind,
        tool: str,
        function: str,
        arguments: Mapping[str, Any],
        reason: str,
    ) -> tuple[Approval, bool]:
        """The request of ``kind`` for this call (no policy, no deadline), and whether it was
        filed just now (a replay finds the one filed before)."""
        found = await asyncio.to_thread(self.book.get, request_id(task.id, call_id, kind))
        if found is not None:
            return found, False
        filed = await asyncio.to_thread(
            lambda: self.book.request(
                task_id=task.id,
                call_id=call_id,
                agent=task.agent,
                tool=tool,
                function=function,
                arguments=arguments,
                args_digest=args_digest(arguments),
                policies=[],
                approvers=[],
                reason=reason,
                timeout=None,
                kind=kind,
            )
        )
        return filed, True

    @staticmethod
    def _answer(approval: Approval) -> str | None:
        if approval.status == "approved":
            return None
        if approval.status == "denied":
            why = f": {approval.note}" if approval.note else ""
            return (
                f"the call was held by policy {', '.join(approval.policies)} and denied by"
                f" {approval.decided_by}{why}; it was not made"
            )
        if approval.status == "expired":
            return (
                f"the call was held by policy {', '.join(approval.policies)} and nobody approved"
                " it before its approval_timeout; it was not made"
            )
        raise AwaitingApproval(approval.id)
