"""Rate-limit counters in the runtime store (SQLite and PostgreSQL), shared by every process:
the ``limits`` storage, the limiter on it, and a model's budget counted across replicas."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from agentform.runtime.models.rate import SharedRateLimit
from agentform.runtime.store import RuntimeStore
from agentform.runtime.store.ratelimits import Limiter, RateStoreDown


def test_the_limit_holds_across_limiters_on_one_database(runtime_url: str) -> None:
    """Two limiters (two engines or replicas, each with its own connections) share the count."""
    one, two = Limiter(runtime_url), Limiter(runtime_url)
    try:
        assert [one.hit("k", "3/minute"), two.hit("k", "3/minute"), one.hit("k", "3/minute")] == [
            None,
            None,
            None,
        ]
        wait = two.hit("k", "3/minute")
        assert wait is not None and 1.0 <= wait <= 60.0
        assert one.hit("other", "3/minute") is None  # another key has its own count
    finally:
        one.close()
        two.close()


def test_concurrent_hits_never_overshoot(runtime_url: str) -> None:
    limiters = [Limiter(runtime_url) for _ in range(6)]
    admitted: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter: Limiter) -> None:
        for _ in range(10):
            ok = limiter.hit("busy", "25/minute") is None
            with lock:
                admitted.append(ok)

    threads = [threading.Thread(target=hammer, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for limiter in limiters:
        limiter.close()
    assert admitted.count(True) == 25 and len(admitted) == 60


def test_unusable_counters_refuse_rather_than_admit(runtime_url: str) -> None:
    store = RuntimeStore(runtime_url)
    limiter, shared = Limiter(runtime_url), Limiter(runtime_url, store=store)
    limiter.hit("k", "3/minute")
    engine = create_engine(runtime_url)  # the storage goes away under it
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE agentform_rate"))
    engine.dispose()
    with pytest.raises(RateStoreDown):
        limiter.hit("k", "3/minute")
    with pytest.raises(RateStoreDown):  # a worker's, in its store's writes
        asyncio.run(shared.hit_soon("k", "3/minute"))
    with pytest.raises(RateStoreDown):
        asyncio.run(shared.exhausted_soon("k", "3/minute"))
    limiter.close()
    shared.close()
    store.close()


@pytest.fixture(params=["store", "thread"])
def limiters(request: pytest.FixtureRequest, runtime_url: str) -> Iterator[Callable[[], Limiter]]:
    """Limiters as a worker has them (counting in its store's shared writes) or on threads."""
    stores: list[RuntimeStore] = []

    def make() -> Limiter:
        if request.param == "thread":
            return Limiter(runtime_url)
        stores.append(RuntimeStore(runtime_url))
        return Limiter(runtime_url, store=stores[-1])

    yield make
    for store in stores:
        store.close()


def test_a_models_budget_is_shared_by_its_replicas(limiters: Callable[[], Limiter]) -> None:
    """Two workers of one model (two SharedRateLimits on their own limiters): 2 requests a
    minute in all, so the third call waits, whichever replica makes it."""
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)
        raise asyncio.CancelledError  # stop at the first wait: it is the proof

    async def main() -> None:
        a = SharedRateLimit(limiters(), "gpt", 2, None, sleep=no_sleep)
        b = SharedRateLimit(limiters(), "gpt", 2, None, sleep=no_sleep)
        await a.acquire()
        await b.acquire()
        with pytest.raises(asyncio.CancelledError):
            await a.acquire()
        a.limiter.close()
        b.limiter.close()

    asyncio.run(main())
    assert len(waits) == 1 and 1.0 <= waits[0] <= 60.0


def test_a_models_token_budget_is_booked_after_the_answer(
    limiters: Callable[[], Limiter],
) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)
        raise asyncio.CancelledError

    async def main() -> None:
        a = SharedRateLimit(limiters(), "gpt", None, 1000, sleep=no_sleep)
        b = SharedRateLimit(limiters(), "gpt", None, 1000, sleep=no_sleep)
        await a.acquire()
        a.record(1200)  # one answer used more than the minute's budget
        await asyncio.sleep(0.5)  # booked on a thread
        with pytest.raises(asyncio.CancelledError):
            await b.acquire()
        a.limiter.close()
        b.limiter.close()

    asyncio.run(main())
    assert len(waits) == 1


def test_a_hit_inside_a_stores_write_counts_with_the_limiters(runtime_url: str) -> None:
    """hit_in (the breaker's call rate, in a write shared with other tasks') and Limiter.hit
    count on the same counters: 3 a minute in all, whichever way they come; a window that
    has ended starts again with the hit that finds it ended."""
    from agentform.runtime.store.ratelimits import count_hit, hit_in

    limiter = Limiter(runtime_url)
    with RuntimeStore(runtime_url) as store:

        async def main() -> list[float | None]:
            return [await store.write(lambda c: hit_in(c, "k", "3/minute")) for _ in range(2)]

        assert asyncio.run(main()) == [None, None]
        assert limiter.hit("k", "3/minute") is None
        wait = asyncio.run(store.write(lambda c: hit_in(c, "k", "3/minute")))
        assert wait is not None and 1.0 <= wait <= 60.0
        assert limiter.hit("k", "3/minute") is not None  # the fourth and fifth: refused

        async def window(cost: int, now: float) -> tuple[int, float]:
            return await store.write(lambda c: count_hit(c, "w", cost, 10, now))

        assert asyncio.run(window(2, 1000.0)) == (2, 1010.0)
        assert asyncio.run(window(3, 1009.0)) == (5, 1010.0)  # the same window
        assert asyncio.run(window(1, 1010.0)) == (1, 1020.0)  # ended: a new one
    limiter.close()
