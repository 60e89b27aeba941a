"""Login throttling shared through Redis by every instance, and failing open without it."""

from __future__ import annotations

import contextlib
import logging
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from proofkey.flows.admin import register_user
from proofkey.settings import Settings, load_settings
from proofkey.store import open_store
from proofkey.store.base import RateLimiter
from proofkey.store.ratelimit import MemoryRateLimiter
from proofkey.store.ratelimit_redis import RedisRateLimiter
from proofkey.web.app import create_app
from tests.helpers import csrf_of
from tests.process.conftest import free_port

PASSWORD = "correct horse battery staple"
LIMIT = 5  # failed logins per user and window


def _unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5)}"


# -- the limiter itself --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def open_limiter(kind: str, redis_url: str | None) -> AsyncIterator[RateLimiter]:
    """An in-process limiter, or one on Redis under a prefix of its own (closed after)."""
    if kind == "memory":
        yield MemoryRateLimiter()
        return
    assert redis_url is not None
    limiter = RedisRateLimiter(redis_url, prefix=_unique("proofkey-test:"))
    try:
        yield limiter
    finally:
        await limiter.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_sliding_window_counts_the_same_in_process_and_in_redis(
    kind: str, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    async with open_limiter(kind, redis_url) as limiter:
        for at in (100.0, 101.0, 102.0):
            assert await limiter.retry_after("k", 3, 10, at) == 0
            await limiter.hit("k", 10, at)
        # Full: wait until the oldest event (100) leaves the window (at 110).
        assert [await limiter.retry_after("k", 3, 10, at)
                for at in (102.5, 109.9, 110.0, 111.5)] == [8, 1, 0, 0]
        assert await limiter.retry_after("k", 4, 10, 102.5) == 0  # a higher limit: room left
        await limiter.hit("k", 10, 112.5)
        assert await limiter.retry_after("k", 2, 10, 112.5) == 0  # 100 and 101 have left
        await limiter.hit("k", 10, 112.6)
        assert await limiter.retry_after("k", 2, 10, 112.7) == 10  # until 102+10
        await limiter.reset("k")
        assert await limiter.retry_after("k", 1, 10, 112.7) == 0
        assert await limiter.retry_after("other", 1, 10, 112.7) == 0


async def test_two_redis_limiters_share_one_window_and_keys_expire(redis_url: str) -> None:
    prefix = _unique("proofkey-test:")
    first, second = (RedisRateLimiter(redis_url, prefix=prefix) for _ in range(2))
    try:
        now = time.time()
        await first.hit("login:user:x", 2, now)
        await second.hit("login:user:x", 2, now)  # the same instant on another instance
        assert await first.retry_after("login:user:x", 2, 2, now) > 0
        assert await second.retry_after("login:user:x", 2, 2, now) > 0
        import redis.asyncio as redis

        client = redis.Redis.from_url(redis_url)
        try:
            ttl = await client.ttl(f"{prefix}login:user:x")
            assert 0 < ttl <= 3  # the window plus a second: idle keys vanish by themselves
        finally:
            await client.aclose()
    finally:
        await first.close()
        await second.close()


async def test_an_unreachable_redis_fails_open_to_the_in_process_limiter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="proofkey.ratelimit"):
            assert await limiter.retry_after("k", 2, 60, 100.0) == 0
            await limiter.hit("k", 60, 100.0)
            await limiter.hit("k", 60, 100.0)
            assert await limiter.retry_after("k", 2, 60, 100.0) == 61  # still limited here
            await limiter.reset("k")
            assert await limiter.retry_after("k", 2, 60, 100.0) == 0
        assert not limiter.available
        assert [r.getMessage() for r in caplog.records].count(
            "Redis rate limiter unavailable (ConnectionError); limiting per instance for now"
        ) == 1  # once, not once per call
    finally:
        await limiter.close()
    assert time.monotonic() - started < 2.0


def test_redis_is_imported_only_when_a_redis_url_is_configured() -> None:
    script = ("import sys, proofkey.web.app, proofkey.cli\n"
              "assert 'redis' not in sys.modules, 'redis imported without PROOFKEY_REDIS_URL'\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


# -- two app instances ---------------------------------------------------------------------


def _settings(tmp_path: Path, redis_url: str) -> Settings:
    return load_settings({"data_dir": str(tmp_path), "issuer": "http://127.0.0.1:8000",
                          "demo": False, "login_failures_per_user": LIMIT,
                          "redis_url": redis_url}, environ={})


async def _add_user(settings: Settings) -> str:
    username = _unique("user")
    store = open_store(settings.effective_database_url)
    try:
        await store.migrate()
        await register_user(store, username, PASSWORD, now=int(time.time()))
    finally:
        await store.close()
    return username


@contextlib.asynccontextmanager
async def _browser(app: Starlette, client_ip: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport,
                                     base_url="http://127.0.0.1:8000") as browser:
            yield browser


async def _login(browser: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await browser.get("/account")
    return await browser.post("/account/login", data={
        "csrf": csrf_of(page.text), "username": username, "password": password})


def _loopback_label() -> str:
    """A client address for the throttling key only (no traffic goes there)."""
    return f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.1"


async def test_two_instances_sharing_redis_see_each_others_login_failures(
    tmp_path: Path, redis_url: str
) -> None:
    settings = _settings(tmp_path, redis_url)
    username = await _add_user(settings)
    ip = _loopback_label()
    async with _browser(create_app(settings), ip) as a, _browser(create_app(settings), ip) as b:
        for attempt in range(LIMIT):  # A, B, A, B, A: five failures in all
            response = await _login((a, b)[attempt % 2], username, "wrong password")
            assert response.status_code == 401, response.text
        for browser in (b, a):  # the sixth attempt is throttled on either instance
            throttled = await _login(browser, username, "wrong password")
            assert throttled.status_code == 429
            assert 0 < int(throttled.headers["retry-after"]) <= settings.login_window_seconds + 1
            # ... even with the right password, until the window passes.
            assert (await _login(browser, username, PASSWORD)).status_code == 429
        # Another user from the same address is not throttled (5 < 30 failures per address).
        other = await _add_user(settings)
        assert (await _login(a, other, PASSWORD)).status_code == 303


async def test_a_success_on_one_instance_clears_the_user_count_on_the_other(
    tmp_path: Path, redis_url: str
) -> None:
    settings = _settings(tmp_path, redis_url)
    username = await _add_user(settings)
    ip = _loopback_label()
    async with _browser(create_app(settings), ip) as a, _browser(create_app(settings), ip) as b:
        for _ in range(LIMIT - 1):
            assert (await _login(a, username, "wrong password")).status_code == 401
        assert (await _login(b, username, PASSWORD)).status_code == 303
        for _ in range(LIMIT - 1):
            assert (await _login(a, username, "wrong password")).status_code == 401
        assert (await _login(b, username, PASSWORD)).status_code == 303


async def test_with_redis_unreachable_logins_still_work(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    username = await _add_user(settings)
    started = time.monotonic()
    async with _browser(create_app(settings), _loopback_label()) as browser:
        assert (await _login(browser, username, PASSWORD)).status_code == 303
        assert (await _login(browser, username, "wrong password")).status_code == 401
        assert (await _login(browser, username, PASSWORD)).status_code == 303
        for _ in range(LIMIT):  # the instance still limits on its own
            assert (await _login(browser, username, "wrong password")).status_code == 401
        assert (await _login(browser, username, "wrong password")).status_code == 429
    assert time.monotonic() - started < 10
    warnings = [r for r in caplog.records if r.name == "proofkey.ratelimit"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
