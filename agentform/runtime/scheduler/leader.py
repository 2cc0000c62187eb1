"""The scheduler's leader: of the engines on one bus, the one holding a lease in NATS KV.

Owns :class:`Leader`, a loop every ``ttl / 3`` seconds: a standby tries to take the lease
``scheduler`` in the project's leases bucket (:mod:`agentform.runtime.bus.leases`: created only
when absent, or taken over at the exact revision of an expired one, so two engines never both
hold it); the holder renews it. A holder whose renewal is refused (taken over) or that could not
renew it before it would expire steps down at once, before anyone else can take it: so at most
one engine fires at any moment, and when the leader dies (or hangs) a standby leads within the
lease's time to live. Called by :class:`~agentform.runtime.scheduler.schedules.Schedules`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable

from agentform.runtime import bus
from agentform.runtime.bus import BusLayout
from agentform.runtime.bus.leases import Lease, LeaseBusy, LeaseLost, Leases

__all__ = ["LEASE", "TTL_ENV", "Leader", "lease_ttl"]

log = logging.getLogger("agentform.engine")

LEASE = "scheduler"
TTL = 15.0  # seconds a dead leader's schedules wait for a standby, at most
TTL_ENV = "AGENTFORM_SCHEDULER_LEASE_TTL"  # tests shorten it


def lease_ttl() -> float:
    """The lease's time to live: :data:`TTL_ENV` when set to a number of at least 0.3 s."""
    with contextlib.suppress(KeyError, ValueError):
        return max(0.3, float(os.environ[TTL_ENV]))
    return TTL


class Leader:
    """Hold the scheduler lease while :meth:`run` runs; ``on_lead``/``on_follow`` are called as
    this engine starts and stops leading, ``on_tick`` every pass while it leads."""

    def __init__(
        self,
        link: Callable[[], tuple[bus.Connection | None, BusLayout]],
        holder: str,
        *,
        on_lead: Callable[[], Awaitable[None]],
        on_follow: Callable[[], Awaitable[None]],
        on_tick: Callable[[], Awaitable[None]],
        ttl: float | None = None,
    ) -> None:
        self.link, self.holder = link, holder
        self.on_lead, self.on_follow, self.on_tick = on_lead, on_follow, on_tick
        self.ttl = ttl or lease_ttl()
        self.lease: Lease | None = None
        self._leases: Leases | None = None
        self._connection: bus.Connection | None = None

    def leads(self) -> bool:
        """Whether this engine holds the lease now (and it has not run out meanwhile)."""
        return self.lease is not None and time.time() < self.lease.expires_at

    def _bucket(self) -> Leases | None:
        nc, layout = self.link()
        if nc is None or not nc.is_connected:
            return None
        if nc is not self._connection or self._leases is None:
            self._connection, self._leases = nc, Leases(nc.jetstream(), layout.leases)
        return self._leases

    async def run(self) -> None:
        step = self.ttl / 3
        while True:
            try:
                await self._pass(step)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the scheduler's leader pass failed")
            await asyncio.sleep(step)

    async def _pass(self, step: float) -> None:
        leases = self._bucket()
        if self.lease is None:
            if leases is None:
                return
            try:
                self.lease = await asyncio.wait_for(
                    leases.acquire(LEASE, self.holder, ttl=self.ttl, wait=0), step
                )
            except (LeaseBusy, TimeoutError):
                return
            log.info("this engine now runs the schedules (lease held for %gs)", self.ttl)
            await self.on_lead()
        else:
            try:
                if leases is None:
                    raise ConnectionError("the bus is not connected")
                await asyncio.wait_for(leases.renew(self.lease, self.ttl), step)
            except LeaseLost:
                await self._step_down("another engine took the scheduler lease")
                return
            except Exception as exc:
                # not renewed: step down while the lease still holds, before anyone can take it
                if time.time() + step >= self.lease.expires_at:
                    await self._step_down(f"the scheduler lease could not be renewed ({exc})")
                    return
        if self.leads():
            await self.on_tick()

    async def _step_down(self, why: str) -> None:
        log.warning("%s; this engine stops running the schedules", why)
        self.lease = None
        await self.on_follow()

    async def release(self) -> None:
        """Stop leading and give the lease back, so a standby takes over at once."""
        lease, self.lease = self.lease, None
        if lease is None:
            return
        await self.on_follow()
        leases = self._bucket()
        if leases is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(leases.release(lease), 2)
