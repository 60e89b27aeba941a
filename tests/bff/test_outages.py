"""Failure behaviour: the provider or an upstream down gives the SPA clear JSON (502/503/504),
never a redirect, and a session survives a provider outage."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse

from proofkey.bff import create_bff_app
from tests.bff.conftest import World
from tests.bff.kit import (
    API_HOST,
    PROVIDER_HOST,
    Clock,
    bff_settings,
    browser,
    gateway,
    sign_in,
)

ACCESS_TTL = 600


class Timeouts(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)


def _broken() -> Starlette:
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
    return app  # type: ignore[return-value]


async def test_the_provider_down_at_login_answers_503_json_with_retry_after(
    world: World, tmp_path: Path,
) -> None:
    provider = world.router.routes.pop(PROVIDER_HOST)
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        answer = await client.get("/bff/login")
        assert answer.status_code == 503
        assert answer.json()["error"] == "provider_unavailable"
        assert answer.headers["retry-after"] == "30"
        assert "location" not in answer.headers
        world.router.routes[PROVIDER_HOST] = provider
        assert (await client.get("/bff/login")).status_code == 302  # and later it works


async def test_the_provider_down_at_refresh_answers_503_and_the_session_survives(
    world: World, tmp_path: Path,
) -> None:
    clock = Clock()
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret), clock=clock), \
            browser(world.router) as client:
        await sign_in(client)
        provider = world.router.routes.pop(PROVIDER_HOST)
        clock.offset = ACCESS_TTL - 10
        answer = await client.get("/api/x")
        assert answer.status_code == 503
        assert answer.json()["error"] == "provider_unavailable"
        world.router.routes[PROVIDER_HOST] = provider
        assert (await client.get("/api/x")).status_code == 200
        assert world.router.refresh_grants == 1


async def test_a_provider_that_answers_500_is_a_502_for_the_spa(
    world: World, tmp_path: Path,
) -> None:
    clock = Clock()
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret), clock=clock), \
            browser(world.router) as client:
        await sign_in(client)
        world.router.add(PROVIDER_HOST, _broken())
        clock.offset = ACCESS_TTL - 10
        answer = await client.get("/api/x")
        assert answer.status_code == 502
        assert answer.json()["error"] == "provider_error"
        assert (await client.get("/bff/user")).status_code == 200  # still logged in


async def test_an_upstream_down_is_a_502_and_a_silent_one_a_504(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        await sign_in(client)
        api = world.router.routes.pop(API_HOST)
        down = await client.get("/api/x")
        assert down.status_code == 502
        assert down.json()["error"] == "upstream_unavailable"
        world.router.routes[API_HOST] = Timeouts()
        slow = await client.get("/api/x")
        assert slow.status_code == 504
        assert slow.json()["error"] == "upstream_timeout"
        world.router.routes[API_HOST] = api
        assert (await client.get("/api/x")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'proofkey_bff_proxied_requests_total{status="5xx",upstream="/api"} 2.0' in metrics


async def test_a_session_store_that_cannot_be_reached_is_a_503_json(
    world: World, tmp_path: Path,
) -> None:
    from proofkey.bff.app import SESSION_COOKIE
    from tests.process.conftest import free_port

    settings = bff_settings(tmp_path, world.bff_secret,
                            session_store_url=f"postgresql://u@127.0.0.1:{free_port()}/none")
    app = create_bff_app(settings, provider_transport=world.router,
                         upstream_transport=world.router)
    world.router.add("app.example", app)
    async with browser(world.router) as client:  # no lifespan: the store starts on first use
        answer = await client.get("/bff/user", headers={"Cookie": f"{SESSION_COOKIE}=x"})
        assert answer.status_code == 503
        assert answer.json()["error"] == "store_unavailable"
        assert answer.headers["retry-after"] == "5"
