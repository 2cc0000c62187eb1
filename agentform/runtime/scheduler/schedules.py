"""The engine's schedules: what is declared, what the runtime store says of them, and firing.

Owns :class:`Schedules`, which the engine (:mod:`agentform.runtime.host.engine`) keeps one of:

* ``put``/``delete`` as apply adds, changes, disables (``enabled: false``) and removes
  ``schedule.NAME`` resources; every engine keeps them, the leader also makes them jobs;
* ``attach`` when the runtime store is set: the schedules' state (:class:`~agentform.runtime.
  store.schedules.ScheduleBook`) and the job store (:mod:`.jobs`) open on its URL;
* the leader loop (:mod:`.leader`) runs while at least one schedule is declared; the leader
  syncs the jobs to the schedules and to what operators paused (any engine may record a pause;
  the leader acts on it within a third of the lease's time to live);
* a fire (on time, or ``run``: now) submits the schedule's input to its agent through the
  engine's ``submit`` function, with caller ``schedule:NAME`` (rate limits, content filters and
  the audit record of the task apply as to any task), and records when and the task, or why
  there is none: a fire never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agentform.contract.received import ScheduleValue
from agentform.runtime import bus
from agentform.runtime.bus import BusLayout
from agentform.runtime.errors import EngineError
from agentform.runtime.scheduler.jobs import Jobs, definition
from agentform.runtime.scheduler.leader import Leader
from agentform.runtime.store.schedules import ScheduleBook, ScheduleState
from agentform.triggers import trigger

__all__ = ["FULL_SYNC_S", "Listed", "Schedules", "Submit"]

log = logging.getLogger("agentform.engine")
# a leader makes the jobs what is declared and paused again at least this often, changed or not
# (a job store changed behind its back heals)
FULL_SYNC_S = 60.0

# (schedule, agent, input) -> the id of the task it submitted; raises EngineError when refused
Submit = Callable[[str, str, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Listed:
    """One schedule as ``agentform schedules list`` shows it."""

    name: str
    value: ScheduleValue
    state: ScheduleState
    next_run_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        value, state = self.value, self.state
        return {
            "name": self.name,
            "agent": value.agent,
            "cron": value.cron,
            "interval": value.interval.total_seconds() if value.interval else None,
            "timezone": value.timezone,
            "enabled": value.enabled,
            "catch_up": value.catch_up,
            "paused": state.paused,
            "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
            "last_run_at": state.last_run_at.isoformat() if state.last_run_at else None,
            "last_task_id": state.last_task_id,
            "last_error": state.last_error,
            "runs": state.runs,
        }


class Schedules:
    """The schedules of one engine; ``link`` gives the bus connection and layout of the
    moment, ``submit`` sends a fire's task through the engine."""

    def __init__(
        self,
        project: str,
        *,
        link: Callable[[], tuple[bus.Connection | None, BusLayout]],
        submit: Submit,
    ) -> None:
        self.project = project
        self.declared: dict[str, ScheduleValue] = {}
        self.submit = submit
        self.book: ScheduleBook | None = None
        self.jobs: Jobs | None = None
        # what the jobs were last made from while this engine has led since: a pass that finds
        # the same leaves the job store alone
        self._synced: tuple[Any, ...] | None = None
        self._synced_at = 0.0  # and when (monotonic): FULL_SYNC_S after, it syncs all the same
        holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.leader = Leader(
            # every pass of the leader syncs and (again) resumes: a first sync that failed must
            # not leave the lease held by an engine whose scheduler stays paused
            link,
            holder,
            on_lead=self._lead,
            on_follow=self._follow,
            on_tick=self._lead,
        )
        self._loop: asyncio.Task[None] | None = None

    # -- life cycle -------------------------------------------------------------------------

    async def attach(self, url: str) -> None:
        """Open the schedules' state and jobs in the runtime store at ``url``."""
        await self.stop()
        self.close()
        self.book = await asyncio.to_thread(ScheduleBook, url)
        self.jobs = Jobs(url, self.project, self._fired)
        try:
            self.jobs.start()
        except Exception as exc:
            self.close()
            raise EngineError(f"the scheduler's job store is not usable: {exc}", 503) from exc
        self._keep_leading()

    def close(self) -> None:
        """Forget the store (the engine closes it); the leader loop stops with :meth:`stop`."""
        if self._loop is not None:
            self._loop.cancel()
            self._loop = None
        self.leader.lease = None  # it runs out by itself: a standby takes over
        if self.jobs is not None:
            self.jobs.close()
        if self.book is not None:
            self.book.close()
        self.jobs, self.book, self._synced = None, None, None

    async def stop(self) -> None:
        """Stop leading and hand the lease back (engine shutdown, last schedule deleted)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop
            self._loop = None
        await self.leader.release()

    def _keep_leading(self) -> None:
        if self._loop is None and self.declared and self.jobs is not None:
            self._loop = asyncio.create_task(self.leader.run())

    # -- resources --------------------------------------------------------------------------

    async def put(self, name: str, value: ScheduleValue) -> None:
        try:  # validate checks these; a value sent to the control API by hand may not be
            trigger(value)
        except Exception as exc:  # ValueError from APScheduler, KeyError from zoneinfo
            raise EngineError(
                f"schedule.{name} has no usable trigger ({exc}); give it a valid cron"
                " expression or interval and an IANA time zone",
                400,
            ) from None
        self.declared[name] = value
        if self.leader.leads():
            await self._sync()
        self._keep_leading()

    async def delete(self, name: str) -> None:
        self.declared.pop(name, None)
        if self.leader.leads() and self.jobs is not None:
            await asyncio.to_thread(self.jobs.remove, name)
            self._synced = None
        if self.book is not None:
            await asyncio.to_thread(self.book.forget, name)
        if not self.declared:
            await self.stop()

    # -- leading ----------------------------------------------------------------------------

    async def _lead(self) -> None:
        await self._sync()
        if self.jobs is not None:
            self.jobs.lead()

    async def _follow(self) -> None:
        self._synced = None  # another engine may change the jobs while this one follows
        if self.jobs is not None:
            self.jobs.follow()

    async def _sync(self) -> None:
        """The jobs made what is declared and paused now (the leader, every pass). The job
        store is read and written on a thread, and only when what is declared or paused changed
        since this engine's last sync as leader: a pass reads a job per schedule, and on a
        remote PostgreSQL each read held the engine's event loop for a round trip."""
        if self.jobs is None or self.book is None:
            return
        book, jobs = self.book, self.jobs
        states = await asyncio.to_thread(book.states)
        declared = dict(self.declared)
        seen = (
            tuple(sorted((n, definition(v), v.enabled) for n, v in declared.items())),
            tuple(sorted((n, s.paused, s.paused_at) for n, s in states.items())),
        )
        now = time.monotonic()
        if seen == self._synced and now - self._synced_at < FULL_SYNC_S:
            return
        resumed = await asyncio.to_thread(jobs.sync, declared, states, datetime.now(UTC))
        await asyncio.to_thread(book.caught_up, resumed)
        self._synced, self._synced_at = (seen if self.jobs is jobs else None), now

    # -- firing -----------------------------------------------------------------------------

    async def _fired(self, name: str) -> None:
        if not self.leader.leads():  # the lease ran out between APScheduler's wake-up and now
            log.warning("schedule %s did not fire: this engine no longer leads", name)
            return
        await self.fire(name)

    async def fire(self, name: str) -> ScheduleState:
        """Submit the schedule's task now and record it; a refusal is recorded, not raised."""
        value = self.declared.get(name)
        if value is None or self.book is None:
            raise EngineError(f"no schedule named {name!r} is declared here", 404)
        at = datetime.now(UTC)
        task_id: str | None = None
        error: str | None = None
        try:
            task_id = await self.submit(name, value.agent, value.input)
        except EngineError as exc:
            error = str(exc)
        except Exception as exc:  # the next fire must still come
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            log.warning("schedule %s fired but submitted no task: %s", name, error)
        book = self.book
        await asyncio.to_thread(book.fired, name, at, task_id=task_id, error=error)
        return await asyncio.to_thread(book.state, name)

    # -- what operators see and do ----------------------------------------------------------

    async def pause(self, name: str, paused: bool) -> ScheduleState:
        if name not in self.declared or self.book is None:
            raise EngineError(f"no schedule named {name!r} is declared here", 404)
        book = self.book
        await asyncio.to_thread(book.set_paused, name, paused)
        if self.leader.leads():
            await self._sync()
        return await asyncio.to_thread(book.state, name)

    async def listed(self) -> list[Listed]:
        if self.book is None or self.jobs is None:
            raise EngineError("no runtime store is set up; run 'agentform apply' first", 409)
        states = await asyncio.to_thread(self.book.states)
        jobs = self.jobs
        out = []
        for name, value in sorted(self.declared.items()):
            state = states.get(name) or ScheduleState(name)
            upcoming = await asyncio.to_thread(jobs.next_run, name)
            if state.paused or not value.enabled:
                upcoming = None
            out.append(Listed(name, value, state, upcoming))
        return out
