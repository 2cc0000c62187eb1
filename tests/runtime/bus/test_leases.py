"""Leases on a real JetStream: one holder at a time, takeover after expiry, lost renewals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agentform.runtime.bus import connect
from agentform.runtime.bus.leases import LeaseBusy, LeaseLost, Leases


def run(nats_url: str, body: Callable[[Leases], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        nc = await connect(nats_url, name="leases-test", reconnect=False)
        try:
            return await body(Leases(nc.jetstream(), "leasetest"))
        finally:
            await nc.close()

    return asyncio.run(main())


def test_one_holder_at_a_time_and_no_lost_update(nats_url: str) -> None:
    # two holders each read-modify-write a shared counter 100 times under the lease, with a
    # yield between read and write that would lose updates without it
    async def body(leases: Leases) -> tuple[int, int]:
        counter = {"value": 0}
        inside = {"now": 0, "max": 0}

        async def worker(name: str) -> None:
            for _ in range(100):
                async with leases.hold("counter", name, ttl=5, wait=10):
                    inside["now"] += 1
                    inside["max"] = max(inside["max"], inside["now"])
                    seen = counter["value"]
                    await asyncio.sleep(0)
                    counter["value"] = seen + 1
                    inside["now"] -= 1

        await asyncio.gather(worker("a"), worker("b"))
        return counter["value"], inside["max"]

    assert run(nats_url, body) == (200, 1)


def test_a_lease_whose_holder_died_is_taken_over_after_it_expires(nats_url: str) -> None:
    async def body(leases: Leases) -> tuple[str, float]:
        await leases.acquire("orphan", "dead-worker", ttl=0.5, wait=0)  # never renewed
        with pytest.raises(LeaseBusy, match="held by dead-worker"):
            await leases.acquire("orphan", "other", ttl=5, wait=0.1)
        start = asyncio.get_running_loop().time()
        taken = await leases.acquire("orphan", "other", ttl=5, wait=5)
        return taken.holder, asyncio.get_running_loop().time() - start

    holder, waited = run(nats_url, body)
    assert holder == "other" and waited < 1.5


def test_a_renewal_after_a_takeover_is_refused(nats_url: str) -> None:
    async def body(leases: Leases) -> None:
        first = await leases.acquire("stolen", "slow", ttl=0.2, wait=0)
        await asyncio.sleep(0.3)
        await leases.acquire("stolen", "fast", ttl=5, wait=1)
        with pytest.raises(LeaseLost):
            await leases.renew(first, 5)
        # releasing a lease that was lost does not release the new holder's
        await leases.release(first)
        with pytest.raises(LeaseBusy, match="held by fast"):
            await leases.acquire("stolen", "third", ttl=5, wait=0)

    run(nats_url, body)


@pytest.mark.parametrize("name", ["plain.name", "order 42 / refund", "ünïcode:*>"])
def test_any_name_can_be_a_lease(nats_url: str, name: str) -> None:
    async def body(leases: Leases) -> None:
        lease = await leases.acquire(name, "h", ttl=5, wait=0)
        with pytest.raises(LeaseBusy):
            await leases.acquire(name, "other", ttl=5, wait=0)
        await leases.release(lease)
        await leases.acquire(name, "other", ttl=5, wait=0)

    run(nats_url, body)
