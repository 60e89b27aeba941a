"""Refresh shortly before expiry, once per session for concurrent requests; a revoked grant
ends the session with a 401 and a login hint; idle and absolute lifetimes end sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.bff.conftest import World
from tests.bff.kit import Clock, bff_settings, browser, gateway, session_tokens, sign_in
from tests.helpers import ISSUER

ACCESS_TTL = 600  # proofkey's default access-token lifetime


async def test_concurrent_requests_of_one_session_cause_one_refresh(
    world: World, tmp_path: Path,
) -> None:
    clock = Clock()
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret), clock=clock), \
            browser(world.router) as client:
        await sign_in(client)
        assert (await client.get("/api/first")).status_code == 200
        first_token = world.api.seen[-1]["token"]
        assert world.router.refresh_grants == 0
        clock.offset = ACCESS_TTL - 10  # inside the 30 s before expiry
        world.router.latency = 0.05  # the requests overlap while the refresh is under way
        answers = await asyncio.gather(*(client.get(f"/api/n/{i}") for i in range(6)))
        assert [a.status_code for a in answers] == [200] * 6
        assert world.router.refresh_grants == 1
        tokens = {seen["token"] for seen in world.api.seen[-6:]}
        assert len(tokens) == 1
        assert first_token not in tokens
        metrics = (await client.get("/metrics")).text
        assert 'proofkey_bff_refreshes_total{outcome="ok"} 1.0' in metrics


async def test_a_revoked_refresh_token_answers_401_with_a_login_hint_and_ends_the_session(
    world: World, tmp_path: Path,
) -> None:
    clock = Clock()
    settings = bff_settings(tmp_path, world.bff_secret)
    async with gateway(world.router, settings, clock=clock), browser(world.router) as client:
        await sign_in(client)
        refresh_token = (await session_tokens(settings, client)).refresh_token
        async with httpx.AsyncClient(transport=world.router) as rp:
            revoked = await rp.post(f"{ISSUER}/revoke", data={"token": refresh_token},
                                    auth=("bff-app", world.bff_secret))
        assert revoked.status_code == 200
        clock.offset = ACCESS_TTL
        answer = await client.get("/api/x")
        assert answer.status_code == 401
        assert answer.json()["error"] == "login_required"
        assert answer.json()["login_url"] == "/bff/login"
        assert refresh_token not in answer.text
        assert (await client.get("/bff/user")).status_code == 401  # the session is gone
        metrics = (await client.get("/metrics")).text
        assert 'proofkey_bff_refreshes_total{outcome="rejected"} 1.0' in metrics


async def test_a_session_ends_after_its_idle_lifetime_and_use_slides_it(
    world: World, tmp_path: Path,
) -> None:
    clock = Clock()
    settings = bff_settings(tmp_path, world.bff_secret, session_idle_seconds=300,
                            session_absolute_seconds=3600, refresh_before_seconds=0)
    async with gateway(world.router, settings, clock=clock), browser(world.router) as client:
        await sign_in(client)
        clock.offset = 200
        assert (await client.get("/bff/user")).status_code == 200  # slides to 200 + 300
        clock.offset = 450
        assert (await client.get("/bff/user")).status_code == 200  # slides to 450 + 300
        revocations = sum(r.url.path == "/revoke" for r in world.router.sent)
        clock.offset = 760
        assert (await client.get("/bff/user")).status_code == 401
        # the ended session's refresh token is revoked at the provider, not left alive
        assert sum(r.url.path == "/revoke" for r in world.router.sent) == revocations + 1


async def test_a_session_ends_after_its_absolute_lifetime_even_when_in_use(
    world: World, tmp_path: Path,
) -> None:
    clock = Clock()
    settings = bff_settings(tmp_path, world.bff_secret, session_idle_seconds=300,
                            session_absolute_seconds=600, refresh_before_seconds=0)
    async with gateway(world.router, settings, clock=clock), browser(world.router) as client:
        await sign_in(client)
        for offset in (250, 500):
            clock.offset = offset
            assert (await client.get("/bff/user")).status_code == 200
        clock.offset = 601
        assert (await client.get("/bff/user")).status_code == 401


async def test_a_gateway_with_another_key_cannot_read_the_sessions(
    world: World, tmp_path: Path,
) -> None:
    settings = bff_settings(tmp_path, world.bff_secret)
    async with gateway(world.router, settings), browser(world.router) as client:
        await sign_in(client)
        assert (await client.get("/bff/user")).status_code == 200
    other = bff_settings(tmp_path, world.bff_secret)  # same store file, a new random key
    async with gateway(world.router, other), browser(world.router) as fresh:
        fresh.cookies = client.cookies
        answer = await fresh.get("/bff/user")
        assert answer.status_code == 401
        assert answer.json()["error"] == "login_required"
