"""The scheduler lease on a real nats-server: one leader of many, a standby taking over when the
leader stops renewing (it died) or hands the lease back, and a leader that loses the lease
stepping down."""

from __future__ import annotations

import asyncio
import time

from agentform.runtime import bus
from agentform.runtime.bus import BusLayout
from agentform.runtime.bus.leases import Leases
from agentform.runtime.scheduler.leader import LEASE, Leader

TTL = 0.9


class Seen:
    """What one engine's leader did: when it started and stopped leading."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.ticks = 0

    async def lead(self) -> None:
        self.events.append("lead")

    async def follow(self) -> None:
        self.events.append("follow")

    async def tick(self) -> None:
        self.ticks += 1


def _leader(nc: bus.Connection, layout: BusLayout, holder: str, seen: Seen) -> Leader:
    return Leader(
        lambda: (nc, layout),
        holder,
        on_lead=seen.lead,
        on_follow=seen.follow,
        on_tick=seen.tick,
        ttl=TTL,
    )


def test_one_leads_and_a_standby_takes_over_when_the_leader_dies_or_hands_back(
    nats_url: str,
) -> None:
    layout = BusLayout(project=f"p{time.monotonic_ns()}")

    async def main() -> tuple[list[bool], list[int], float, list[str], list[str], bool]:
        nc = await bus.connect(nats_url, name="leader-test", reconnect=False)
        try:
            await nc.jetstream().create_key_value(bucket=layout.leases, history=1)
            seen = [Seen(), Seen(), Seen()]
            leaders = [_leader(nc, layout, f"engine-{i}", s) for i, s in enumerate(seen)]
            loops = [asyncio.create_task(leader.run()) for leader in leaders]
            await asyncio.sleep(TTL * 2)
            leading = [leader.leads() for leader in leaders]
            ticks = [s.ticks for s in seen]  # only the leader's passes do the leader's work
            # the leader dies: its loop stops, the lease is not renewed and runs out
            first = leading.index(True)
            loops[first].cancel()
            died = time.monotonic()
            while not any(leader.leads() for i, leader in enumerate(leaders) if i != first):
                await asyncio.sleep(0.02)
            took = time.monotonic() - died
            second = next(i for i, leader in enumerate(leaders) if i != first and leader.leads())
            # the new leader hands the lease back (a clean shutdown): the last one leads
            loops[second].cancel()
            await leaders[second].release()
            third = 3 - first - second
            for _ in range(100):
                if leaders[third].leads():
                    break
                await asyncio.sleep(0.05)
            for loop in loops:
                loop.cancel()
            return (leading, ticks, took, seen[second].events, seen[third].events,
                    leaders[third].leads())  # fmt: skip
        finally:
            await nc.close()

    leading, ticks, took, second_events, third_events, third_leads = asyncio.run(main())
    assert leading.count(True) == 1
    assert [t > 0 for t in ticks] == leading, ticks
    assert took <= TTL + TTL / 3 + 0.5, took  # expiry plus one standby pass
    assert second_events == ["lead", "follow"]
    assert third_events == ["lead"] and third_leads


def test_a_leader_whose_lease_was_taken_over_steps_down(nats_url: str) -> None:
    layout = BusLayout(project=f"p{time.monotonic_ns()}")

    async def main() -> tuple[bool, bool, list[str]]:
        nc = await bus.connect(nats_url, name="leader-test", reconnect=False)
        try:
            await nc.jetstream().create_key_value(bucket=layout.leases, history=1)
            seen = Seen()
            leader = _leader(nc, layout, "slow-engine", seen)
            loop = asyncio.create_task(leader.run())
            while not leader.leads():
                await asyncio.sleep(0.02)
            # another holder takes the key over at its current revision (as after an expiry
            # the leader did not notice): the leader's next renewal is refused
            leases = Leases(nc.jetstream(), layout.leases)
            kv = await leases.kv()
            entry = await kv.get(LEASE)
            await kv.update(LEASE, b'{"holder": "thief", "expires_at": 0}', last=entry.revision)
            before = leader.leads()
            for _ in range(100):
                if not leader.leads():
                    break
                await asyncio.sleep(0.05)
            loop.cancel()
            return before, leader.leads(), seen.events
        finally:
            await nc.close()

    before, after, events = asyncio.run(main())
    assert before and not after
    assert events[:2] == ["lead", "follow"]
