"""The RateLimiter contract, in process and in Redis: an atomic ``reserve`` (check and count in
one step) and ``release``, reads without side effects (issue 17 item 1), and a memory bound
that cannot be used to flush lockouts (issue 17 item 3)."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from proofkey.settings import load_settings
from proofkey.store.base import RateLimiter
from proofkey.store.ratelimit import MemoryRateLimiter
from proofkey.store.ratelimit_redis import RedisRateLimiter
from proofkey.web.app import create_app
from tests.process.conftest import free_port
from tests.scale.test_redis_limits import open_limiter


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    async with open_limiter(str(request.param), redis_url) as made:
        yield made


async def test_reserve_counts_up_to_the_limit_then_refuses_with_the_wait(
        limiter: RateLimiter) -> None:
    granted = [await limiter.reserve("k", 3, 10, at) for at in (100.0, 101.0, 102.0)]
    assert all(r.granted and r.retry_after == 0 for r in granted)
    refused = await limiter.reserve("k", 3, 10, 103.0)
    assert not refused.granted
    assert refused.retry_after == 8  # until the first event (100) leaves the window at 110
    assert await limiter.retry_after("k", 3, 10, 103.0) == 8  # the refusal was not counted
    assert (await limiter.reserve("k", 3, 10, 110.0)).granted


async def test_release_gives_back_exactly_that_reservation(limiter: RateLimiter) -> None:
    first = await limiter.reserve("k", 2, 10, 100.0)
    second = await limiter.reserve("k", 2, 10, 100.0)  # the same instant: still two events
    assert not (await limiter.reserve("k", 2, 10, 100.0)).granted
    await limiter.release(second)
    await limiter.release(second)  # twice: no effect
    assert await limiter.retry_after("k", 2, 10, 100.0) == 0
    assert (await limiter.reserve("k", 2, 10, 100.0)).granted
    assert not (await limiter.reserve("k", 2, 10, 100.0)).granted
    await limiter.release(first)
    await limiter.release(await limiter.reserve("k", 2, 10, 100.0))  # a refusal: nothing to do
    assert await limiter.retry_after("k", 2, 10, 100.0) == 0


async def test_concurrent_reservations_never_exceed_the_limit(limiter: RateLimiter) -> None:
    now = time.time()
    answers = await asyncio.gather(*(limiter.reserve("k", 5, 60, now) for _ in range(40)))
    assert sum(a.granted for a in answers) == 5


async def test_two_redis_limiters_reserve_from_one_window(redis_url: str) -> None:
    prefix = f"proofkey-test:{secrets.token_hex(5)}:"
    first, second = (RedisRateLimiter(redis_url, prefix=prefix) for _ in range(2))
    try:
        now = time.time()
        answers = await asyncio.gather(*(
            (first, second)[i % 2].reserve("k", 5, 60, now) for i in range(30)))
        assert sum(a.granted for a in answers) == 5
    finally:
        await first.close()
        await second.close()


# -- the memory bound (issue 17 item 3) -----------------------------------------------------


async def test_reading_unknown_keys_never_creates_them_or_evicts_a_lockout() -> None:
    limiter = MemoryRateLimiter(max_keys=50)
    for _ in range(5):
        await limiter.hit("login:user:victim", 300, 100.0)
    for i in range(1000):
        assert await limiter.retry_after(f"login:user:flood{i}", 5, 300, 101.0) == 0
    assert await limiter.retry_after("login:user:victim", 5, 300, 101.0) == 300
    assert limiter.evictions == 0


async def test_flooding_new_keys_evicts_the_least_recently_limited_unblocked_keys_first() -> None:
    limiter = MemoryRateLimiter(max_keys=50)
    for _ in range(5):
        assert (await limiter.reserve("login:ip:attacker", 5, 300, 100.0)).granted
    assert (await limiter.reserve("login:user:victim", 5, 300, 100.5)).granted  # not blocked
    for i in range(1000):
        assert (await limiter.reserve(f"login:user:flood{i}", 5, 300, 101.0 + i / 1000)).granted
    assert await limiter.retry_after("login:ip:attacker", 5, 300, 102.0) > 0  # still locked
    assert await limiter.retry_after("login:user:victim", 4, 300, 102.0) == 0  # evicted
    assert limiter.evictions == 1000 + 2 - 50
    # The most recently limited keys are the ones kept.
    assert await limiter.retry_after("login:user:flood999", 1, 300, 102.0) > 0
    assert await limiter.retry_after("login:user:flood900", 1, 300, 102.0) == 0


async def test_keys_whose_events_all_left_the_window_go_first_and_are_not_evictions() -> None:
    limiter = MemoryRateLimiter(max_keys=10)
    for i in range(10):
        await limiter.reserve(f"old{i}", 5, 10, 100.0)
    for i in range(10):
        await limiter.reserve(f"new{i}", 5, 10, 200.0)
    assert limiter.evictions == 0


async def test_when_every_key_is_locked_the_least_recently_limited_lockout_goes() -> None:
    limiter = MemoryRateLimiter(max_keys=3)
    for n, key in enumerate(("a", "b", "c")):
        assert (await limiter.reserve(key, 1, 300, 100.0 + n)).granted
    assert (await limiter.reserve("d", 1, 300, 104.0)).granted
    assert await limiter.retry_after("a", 1, 300, 105.0) == 0
    assert all([await limiter.retry_after(k, 1, 300, 105.0) > 0 for k in ("b", "c", "d")])
    assert limiter.evictions == 1


async def test_evictions_are_a_prometheus_counter(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": str(tmp_path), "issuer": "http://127.0.0.1:8000",
                              "demo": False}, environ={})
    limiter = MemoryRateLimiter(max_keys=2)  # a tiny bound: evictions without 100k keys
    app = create_app(settings, limiter=limiter)
    async with app.router.lifespan_context(app):
        for i in range(5):
            await limiter.reserve(f"k{i}", 5, 60, 100.0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as client:
            scraped = (await client.get("/metrics")).text
    found = re.search(r"^proofkey_ratelimit_evictions_total (\S+)$", scraped, re.M)
    assert found is not None, scraped
    assert float(found.group(1)) == 3.0


async def test_with_redis_unreachable_reservations_fall_back_to_the_instance() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    try:
        first = await limiter.reserve("k", 2, 60, 100.0)
        second = await limiter.reserve("k", 2, 60, 100.0)
        assert first.granted
        assert second.granted
        assert (await limiter.reserve("k", 2, 60, 100.0)).retry_after == 61
        await limiter.release(first)
        assert (await limiter.reserve("k", 2, 60, 100.0)).granted
        assert not limiter.available
    finally:
        await limiter.close()
