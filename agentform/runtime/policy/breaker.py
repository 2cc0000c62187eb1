"""Circuit breakers: what stops a runaway agent before its step budget runs out.

An agent's ``circuit_breaker`` (:class:`~agentform.contract.values.CircuitBreaker`) trips on:

* ``identical_calls``: the same tool called with the same arguments more than
  ``max_identical_calls`` times in one task;
* ``repeated_sequence``: a sequence of two or more different calls that already ran
  ``max_repeated_sequence`` times in a row starting over again (a loop the identical count
  misses: search, fetch, search, fetch ...);
* ``ping_pong``: a delegation that would hand the task back to the agent that delegated to
  this one, making the chain go back and forth ``max_ping_pong`` times (a bounded delegation
  cycle; within one conversation, the runtime's deadlock avoidance would refuse the child
  anyway, the breaker stops it first, with its reason and its ``on_trip`` action);
* ``calls_per_minute``: more than ``max_calls_per_minute`` tool calls of the agent in a minute,
  counted across every replica in the runtime store; this trip also **opens** the breaker for
  ``cooldown`` (default one minute), during which every call of the agent trips (``open``).

The first three are decided on the task's own recorded calls (the model's calls in order, a call
being the same as another when its function and arguments are), so a replay after a crash
decides the same. :class:`Breaker` only decides: the agent loop
(:mod:`agentform.runtime.worker.loop`) records a ``trip`` step and takes ``on_trip``'s action
(fail the task; ask a human, ``#trip`` approval requests; or refuse the call and go on with the
model's fallback).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from agentform.contract.values import CircuitBreaker
from agentform.runtime.conversation import ToolCall
from agentform.runtime.policy.decision import args_digest
from agentform.runtime.store import RuntimeStore, StoreError
from agentform.runtime.store.breakers import BreakerBook, call_rate

__all__ = ["Breaker", "Trip", "alternations", "marks_of"]

Kind = Literal["identical_calls", "repeated_sequence", "ping_pong", "calls_per_minute", "open"]
DEFAULT_COOLDOWN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Trip:
    """A tripped breaker: which one, why (a sentence for the model, the record and the
    operator) and what ``on_trip`` says to do."""

    breaker: Kind
    reason: str
    action: Literal["fail", "ask_human", "fallback_model"]

    def record(self, call_id: str, function: str) -> dict[str, Any]:
        """The ``trip`` step's data."""
        return {
            "id": call_id,
            "name": function,
            "breaker": self.breaker,
            "reason": self.reason,
            "action": self.action,
        }


def alternations(chain: Sequence[str]) -> int:
    """How many times the end of ``chain`` (agents, root first) went back and forth between its
    last two agents: ``a b a`` is 1, ``a b a b a`` is 2."""
    if len(chain) < 3:
        return 0
    first, second = chain[-1], chain[-2]
    if first == second:
        return 0
    run = 2
    while run < len(chain) and chain[-run - 1] == (first if run % 2 == 0 else second):
        run += 1
    return (run - 1) // 2


def marks_of(calls: Sequence[ToolCall]) -> list[tuple[str, str]]:
    """What the breaker compares calls by: each one's function and argument digest."""
    return [(call.name, args_digest(call.arguments)) for call in calls]


class Breaker:
    """One agent's circuit breaker (``config`` None: none declared, nothing ever trips)."""

    def __init__(
        self,
        agent: str,
        config: CircuitBreaker | None,
        *,
        store: RuntimeStore | None = None,
        book: BreakerBook | None = None,
    ) -> None:
        self.agent = agent
        self.config = config
        # counts max_calls_per_minute across replicas (with the rate-limit counters, in a write
        # shared with the other tasks' writes), and reads the book there
        self.store = store
        self.book = book  # where an open breaker is kept, for every replica and the engine

    def __bool__(self) -> bool:
        return self.config is not None

    @property
    def counts_rate(self) -> bool:
        return self.config is not None and self.config.max_calls_per_minute is not None

    def _trip(self, kind: Kind, reason: str) -> Trip:
        assert self.config is not None
        return Trip(kind, f"circuit breaker tripped ({kind.replace('_', ' ')}): {reason}",
                    self.config.on_trip)  # fmt: skip

    def on_call(
        self,
        calls: Sequence[ToolCall],
        index: int,
        marks: Sequence[tuple[str, str]] | None = None,
    ) -> Trip | None:
        """The trip ``calls[index]`` causes given the calls before it in its task, if any
        (``marks``: each call's function and argument digest, :func:`marks_of`, when the caller
        keeps them: a task's calls are not digested again at each of its calls)."""
        if self.config is None:
            return None
        call = calls[index]
        marks = list(marks[: index + 1]) if marks is not None else marks_of(calls[: index + 1])
        mark = marks.pop()
        # a loop is named as one when it is one, before its calls count as identical
        runs = self.config.max_repeated_sequence
        for size in range(2, len(marks) // runs + 1):
            block = marks[-size:]
            if len(set(block)) < 2 or block[0] != mark:
                continue
            if marks[-size * runs :] == block * runs:
                names = " -> ".join(name for name, _ in block)
                return self._trip(
                    "repeated_sequence",
                    f"the sequence {names} already ran {runs} times in a row in this task and"
                    f" {call.name} starts it again (max_repeated_sequence {runs})",
                )
        limit = self.config.max_identical_calls
        same = marks.count(mark)
        if same >= limit:
            return self._trip(
                "identical_calls",
                f"{call.name} was already called {same} times with the same arguments in this"
                f" task (max_identical_calls {limit})",
            )
        return None

    def on_delegation(self, chain: Sequence[str], target: str) -> Trip | None:
        """The trip handing the task on to ``target`` causes, given the agents of its chain
        (root first, this agent last), if any."""
        if self.config is None:
            return None
        limit = self.config.max_ping_pong
        went = alternations([*chain, target])
        if went >= limit:
            path = " -> ".join([*chain[-2 * went :], target])
            return self._trip(
                "ping_pong",
                f"handing the task back to {target} would make it go back and forth between"
                f" {target} and {chain[-1]} {went} time(s) ({path}; max_ping_pong {limit})",
            )
        return None

    async def on_rate(self) -> Trip | None:
        """Whether the agent's breaker is open, or this call is one too many this minute (which
        opens it for ``cooldown``); counted across every replica. Counters that cannot be used
        trip it too: a runaway is not let through because the database is down."""
        if self.config is None or self.config.max_calls_per_minute is None or self.store is None:
            return None
        limit, book = self.config.max_calls_per_minute, self.book
        # read and counted in one write, with the other tasks' writes of this moment: a
        # transaction and two thread hops of their own cost more than the tool call
        rate = functools.partial(call_rate, agent=self.agent, per_minute=limit, book=bool(book))
        try:
            found, wait = await self.store.write(rate)
        except StoreError as exc:
            return self._trip(
                "calls_per_minute",
                f"the rate-limit counters cannot be used: {exc}, so the call rate cannot be"
                " checked",
            )
        if found is not None:
            until, why = found
            return self._trip(
                "open",
                f"agent {self.agent}'s breaker is open until {until:%H:%M:%S} UTC"
                f" ({why}); calls resume after the cooldown",
            )
        if wait is None:
            return None
        cooldown = self.config.cooldown or DEFAULT_COOLDOWN
        why = f"more than {limit} tool calls in a minute (max_calls_per_minute {limit})"
        if book is not None:
            until = datetime.now(UTC) + cooldown
            await asyncio.to_thread(book.open, self.agent, until, why)
        return self._trip(
            "calls_per_minute",
            f"{why}; the breaker is open for {cooldown.total_seconds():g}s (cooldown)",
        )
