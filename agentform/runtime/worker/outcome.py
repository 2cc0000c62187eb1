"""What running a task comes to: its :class:`Outcome`, and the two ways it stops early.

:class:`Suspended` (the task waits for child tasks; its worker lets go of it) and
:class:`TaskCanceled` are raised inside the agent loop (:mod:`.loop`) and handled by the worker
process (:mod:`.process`), which also announces the steps :data:`Notify` is told of.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agentform.runtime.policy.holding import AwaitingApproval
from agentform.runtime.store import StepRecord

__all__ = ["AwaitingApproval", "Notify", "Outcome", "Suspended", "TaskCanceled"]


@dataclass(frozen=True, slots=True)
class Outcome:
    completed: bool
    text: str
    canceled: bool = False
    recorded: bool = False  # the loop already wrote the task's terminal status with its last step
    waiting: tuple[str, ...] = ()  # suspended until these child tasks end
    approval: str | None = None  # held until this approval request is decided
    # the steps written with the task's end, not announced yet: the caller announces them
    # with the task's new status (one event, not one for the steps and one for the status)
    steps: tuple[StepRecord, ...] = ()


class Suspended(Exception):
    """The task waits for child tasks; its worker lets go of it until a child ends."""

    def __init__(self, children: list[str]) -> None:
        super().__init__(f"waiting for {', '.join(children)}")
        self.children = children


class TaskCanceled(Exception):
    """Someone canceled the task (``agentform tasks cancel``); it stops before its next step."""


# told of the steps of a task as they are taken: once per write, with the steps it wrote (and
# the start step at once, before it is written); not of the steps written with the task's end
Notify = Callable[[list[StepRecord]], Awaitable[None]]
