"""Who calls the engine's control API, and what they may do there.

Owns :class:`Caller` and :func:`identify`. A request bears either the engine's own token (from
``engine.token``: the **operator**, who may do everything, as the local CLI and the provider
always have) or a subject's bearer token from ``agentform tokens create`` (the same tokens as the
agents' A2A servers), and then the subject may do what the spec's ``access`` grants it, resolved
by planning: per agent ``invokers``/``cancelers``/``readers`` (:class:`~agentform.contract.
values.AgentValue`), per policy ``deciders``, and project-wide ``grants`` on ``runtime.store``
(``admin:*`` and ``read:`` on tasks, traces, memory and audit;
:class:`~agentform.contract.values.StoreValue`).

What each permission opens on the control API (the routes check it, :mod:`.control`):

=======================  ======================================================================
``invoke:AGENT``         submit tasks to AGENT; read and cancel the tasks one sent oneself
``cancel:AGENT``         cancel any task of AGENT
``read:tasks``           list and read every task (status, input, answer); the schedules
``read:traces``          read every task's recorded steps (tool calls, arguments, results)
``read:memory``          read what the memory stores hold (``/v1/memory``)
``read:audit``           read, verify and export the audit log (``/v1/audit``)
``approve:POLICY``       list, show and decide the calls POLICY holds
``admin:*``              everything the operator may: status, resources, tokens, logs, firing
                         and pausing schedules, shutdown
=======================  ======================================================================

A refusal is a 403 that names the permission to grant. Functions of an :class:`~.view.EngineView`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

from agentform.runtime.errors import EngineError
from agentform.runtime.host.view import EngineView
from agentform.runtime.store import TaskRecord
from agentform.runtime.store.approvals import Approval
from agentform.runtime.store.tokens import TokenError, TokenStore

__all__ = ["OPERATOR", "Caller", "identify"]

log = logging.getLogger("agentform.engine")


@dataclass(frozen=True, slots=True)
class Caller:
    """The subject of a control-API request; ``operator`` holds the engine's own token."""

    subject: str
    operator: bool = False

    def _granted(self, engine: EngineView, permission: str) -> bool:
        store = engine.resources.get("runtime.store") or {}
        grants = store.get("grants") or {}
        return (
            self.operator
            or self.subject in (grants.get("admin:*") or ())
            or (self.subject in (grants.get(permission) or ()))
        )

    def is_admin(self, engine: EngineView) -> bool:
        return self._granted(engine, "admin:*")

    def require_admin(self, engine: EngineView, what: str) -> None:
        if not self.is_admin(engine):
            raise EngineError(
                f"{self.subject!r} may not {what}: it needs a role with admin:* in the spec's"
                " access (or the operator's engine token)",
                403,
            )

    def reads_tasks(self, engine: EngineView) -> bool:
        """Whether the caller may read every task (``read:tasks``), not only its own."""
        return self._granted(engine, "read:tasks")

    def reads_audit(self, engine: EngineView) -> bool:
        """Whether the caller may read the audit log (``read:audit``)."""
        return self._granted(engine, "read:audit")

    def reads_memory(self, engine: EngineView) -> bool:
        """Whether the caller may read what the memory stores hold (``read:memory``)."""
        return self._granted(engine, "read:memory")

    def reads_traces(self, engine: EngineView, task: TaskRecord) -> bool:
        """Whether the caller may read ``task``'s steps: ``read:traces``, or it asked."""
        return self._granted(engine, "read:traces") or task.caller == self.subject

    def _agent_list(self, engine: EngineView, agent: str, key: str) -> list[str]:
        values = engine.resources.get(f"agent.{agent}") or {}
        found = values.get(key) or []
        return list(found)

    def may_invoke(self, engine: EngineView, agent: str) -> None:
        if self.operator or self.subject in self._agent_list(engine, agent, "invokers"):
            return
        if f"agent.{agent}" not in engine.resources:
            raise EngineError(f"no agent named {agent!r} runs here", 404)
        raise EngineError(
            f"{self.subject!r} may not send tasks to {agent!r}: give it a role with"
            f" invoke:{agent} in the spec's access and apply",
            403,
        )

    def sees(self, engine: EngineView, task: TaskRecord) -> bool:
        """Whether the caller may read ``task`` at all: ``read:tasks``, or it asked."""
        return self.reads_tasks(engine) or task.caller == self.subject

    def cancels(self, engine: EngineView, task: TaskRecord) -> bool:
        """Whether the caller may cancel ``task``: ``cancel:AGENT``, or it asked."""
        return (
            self.operator
            or task.caller == self.subject
            or self.subject in self._agent_list(engine, task.agent, "cancelers")
        )

    def may_cancel(self, engine: EngineView, task: TaskRecord) -> None:
        if self.cancels(engine, task):
            return
        raise EngineError(
            f"{self.subject!r} may not cancel tasks of {task.agent!r}: give it a role with"
            f" cancel:{task.agent} in the spec's access and apply",
            403,
        )

    def may_decide(self, engine: EngineView, approval: Approval) -> bool:
        """Whether the caller holds ``approve`` (or ``admin``) on a policy that held the call."""
        if self.operator:
            return True
        if approval.kind != "policy":  # an unknown outcome, or a question: admins
            return self.is_admin(engine)  # (a question's asker answers it with reply)
        for name in approval.policies:
            values = engine.resources.get(f"policy.{name}") or {}
            if self.subject in (values.get("deciders") or []):
                return True
        return False


OPERATOR = Caller("operator", operator=True)


async def identify(
    engine_token: str, tokens: TokenStore | None, authorization: str
) -> Caller | None:
    """The caller a request's ``Authorization`` header names, or None (401): the engine's own
    token is the operator; any other bearer token must be a live subject token."""
    if hmac.compare_digest(authorization.encode(), f"Bearer {engine_token}".encode()):
        return OPERATOR
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or tokens is None:
        return None
    try:
        subject = await asyncio.to_thread(tokens.authenticate, token.strip())
    except TokenError as exc:
        log.warning("token check failed: %s", exc)
        return None
    return Caller(subject) if subject is not None else None
