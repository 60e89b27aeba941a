"""The session-store contract on SQLite and PostgreSQL, and two gateway instances sharing
their sessions on PostgreSQL behind a load balancer without stickiness."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from proofkey.bff import create_bff_app
from proofkey.bff.app import SESSION_COOKIE
from proofkey.bff.sessions import Session, SessionStore
from proofkey.bff.store_redis import RedisSessionStore
from proofkey.bff.stores import open_session_store
from tests.bff.conftest import World
from tests.bff.kit import Balancer, Clock, bff_settings, browser, csrf_headers, running, sign_in
from tests.pg import fresh_schema
from tests.scale.conftest import missing

ACCESS_TTL = 600


REDIS_URL = os.environ.get("PROOFKEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    if request.param == "redis":
        backend = RedisSessionStore(REDIS_URL, prefix=f"test-{secrets.token_hex(6)}")
        try:
            await backend.migrate()
        except (OSError, RedisError) as exc:
            missing("Redis", f"{type(exc).__name__}: {exc}", "PROOFKEY_TEST_REDIS_URL")
        yield backend
        await backend.purge(2**40)
        await backend.close()
        return
    if request.param == "sqlite":
        backend = open_session_store(f"sqlite:///{tmp_path}/s.db")
        await backend.migrate()
        yield backend
        await backend.close()
        return
    async with fresh_schema() as url:
        backend = open_session_store(url)
        await backend.migrate()
        await backend.migrate()  # idempotent
        yield backend
        await backend.close()


def _session(digest: str = "d1", idle: int = 1100, absolute: int = 5000) -> Session:
    return Session(digest, b"sealed-1", 1, 1000, 1000, idle, absolute)


async def test_a_session_is_stored_found_by_digest_and_deleted_once(store: SessionStore) -> None:
    await store.create(_session())
    found = await store.get("d1")
    assert found == _session()
    assert await store.get("d2") is None
    assert await store.delete("d1") == _session()
    assert await store.delete("d1") is None


async def test_only_one_of_two_refreshes_of_a_version_stores_its_tokens(
    store: SessionStore,
) -> None:
    await store.create(_session())
    assert await store.claim_refresh("d1", 1, now=1000, until=1040)
    assert not await store.claim_refresh("d1", 1, now=1010, until=1050)  # lease held
    assert await store.replace_tokens("d1", 1, b"sealed-2")
    assert not await store.replace_tokens("d1", 1, b"sealed-3")
    found = await store.get("d1")
    assert found is not None
    assert (found.sealed, found.version) == (b"sealed-2", 2)
    assert not await store.claim_refresh("d1", 1, now=1020, until=1060)  # an old version
    assert await store.claim_refresh("d1", 2, now=1020, until=1060)  # the lease was ended
    await store.release_refresh("d1")
    assert await store.claim_refresh("d1", 2, now=1021, until=1061)
    assert await store.claim_refresh("d1", 2, now=1061, until=1100)  # an expired lease


async def test_touch_slides_the_idle_limit_and_purge_ends_expired_sessions(
    store: SessionStore,
) -> None:
    await store.create(_session("a", idle=1100))
    await store.create(_session("b", idle=1100, absolute=1150))
    await store.touch("a", 1090, 1300)
    await store.touch("b", 1090, 1300)
    await store.put_login("l", b"pending", 1200)
    assert await store.purge(1200) == 2  # b (absolute) and the login
    assert await store.get("a") is not None
    assert await store.get("b") is None


async def test_a_pending_login_is_taken_once_and_not_after_it_expires(
    store: SessionStore,
) -> None:
    await store.put_login("l1", b"pending", 2000)
    assert await store.take_login("l1", 1000) == b"pending"
    assert await store.take_login("l1", 1000) is None
    await store.put_login("l2", b"pending", 2000)
    assert await store.take_login("l2", 2000) is None


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"refresh_reuse_grace_seconds": 0}  # any second use of a refresh token is reuse


@pytest.mark.parametrize("backend", ["postgres", "redis"])
async def test_two_gateway_instances_share_sessions(
    world: World, tmp_path: Path, backend: str,
) -> None:
    clock = Clock()
    async with fresh_schema() as url, AsyncExitStack() as stack:
        settings = bff_settings(tmp_path, world.bff_secret, session_store_url=url)
        prefix = f"test-{secrets.token_hex(6)}"  # one Redis namespace for both instances
        apps = [create_bff_app(settings, provider_transport=world.router,
                               upstream_transport=world.router, clock=clock,
                               store=RedisSessionStore(REDIS_URL, prefix=prefix)
                               if backend == "redis" else None) for _ in range(2)]
        for app in apps:
            await stack.enter_async_context(running(app))
        world.router.routes["app.example"] = Balancer(apps)
        client = await stack.enter_async_context(browser(world.router))
        await sign_in(client)  # login on one instance, callback on the other
        for _ in range(4):  # alternate instances
            assert (await client.get("/bff/user")).status_code == 200
            assert (await client.get("/api/x")).status_code == 200
        assert world.router.refresh_grants == 0

        clock.offset = ACCESS_TTL - 10
        world.router.latency = 0.05
        answers = await asyncio.gather(*(client.get(f"/api/n/{i}") for i in range(6)))
        assert [a.status_code for a in answers] == [200] * 6  # reuse detection did not fire
        assert world.router.refresh_grants == 1  # one refresh across both instances
        assert len({seen["token"] for seen in world.api.seen[-6:]}) == 1

        cookie = client.cookies[SESSION_COOKIE]
        assert (await client.post("/bff/logout", headers=csrf_headers())).status_code == 200
        for _ in range(2):  # the other instance knows too
            replay = await client.get("/bff/user", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
            assert replay.status_code == 401
