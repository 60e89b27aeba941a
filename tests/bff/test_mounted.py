"""The gateway mounted in an existing Starlette app, whose lifespan does not run the mounted
app's: it starts its store on first use and works beside the host's own routes."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from proofkey.bff import create_bff_app
from tests.bff.conftest import World
from tests.bff.kit import bff_settings, browser, running, sign_in


async def _health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("host ok")


async def test_a_mounted_gateway_logs_in_and_proxies_beside_the_hosts_routes(
    world: World, tmp_path: Path,
) -> None:
    bff = create_bff_app(bff_settings(tmp_path, world.bff_secret),
                         provider_transport=world.router, upstream_transport=world.router)
    host = Starlette(routes=[Route("/health", _health), Mount("/", app=bff)])
    world.router.add("app.example", host)
    async with running(host), browser(world.router) as client:
        assert (await client.get("/health")).text == "host ok"
        await sign_in(client)
        assert (await client.get("/bff/user")).status_code == 200
        assert (await client.get("/api/x")).json()["path"] == "/x"
    await bff.state.bff.stop()
