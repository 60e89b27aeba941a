"""The gateway against another provider, node-oidc-provider 9 (found by discovery only):
login with PAR and PKCE, the user's claims, an API call whose token the API checks at the
provider's userinfo endpoint, a refresh, logout with revocation."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.bff.kit import (
    API_HOST,
    APP,
    Clock,
    Router,
    bff_settings,
    browser,
    csrf_headers,
    gateway,
)
from tests.interop.conftest import (
    NodeOidcProvider,
    ensure_node_packages,
    sign_in_at_node_oidc_provider,
    start_node_oidc_provider,
)

WEB_ID = "bff-gateway"
WEB_SECRET = "-" + secrets.token_urlsafe(32)  # a leading dash, as token_urlsafe gives 1 in 64


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOidcProvider]:
    running = start_node_oidc_provider(
        ensure_node_packages(), tmp_path_factory.mktemp("node-oidc-provider"),
        extra_args=["--web-client-id", WEB_ID, f"--web-client-secret={WEB_SECRET}",
                    "--web-redirect-uri", f"{APP}/bff/callback"])
    try:
        yield running
    finally:
        running.stop()


def _userinfo_checking_api(issuer: str, seen: list[str]) -> Starlette:
    async def handle(request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        seen.append(token)
        async with httpx.AsyncClient(timeout=10) as http:
            metadata = (await http.get(f"{issuer}/.well-known/openid-configuration")).json()
            me = await http.get(metadata["userinfo_endpoint"],
                                headers={"Authorization": f"Bearer {token}"})
        if me.status_code != 200:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"sub": me.json()["sub"]})
    return Starlette(routes=[Route("/{rest:path}", handle, methods=["GET", "POST"])])


async def test_the_gateway_works_against_node_oidc_provider(
    provider: NodeOidcProvider, tmp_path: Path,
) -> None:
    router = Router()
    router.default = httpx.AsyncHTTPTransport()  # the provider is a real process
    seen: list[str] = []
    router.add(API_HOST, _userinfo_checking_api(provider.issuer, seen))
    clock = Clock()
    settings = bff_settings(tmp_path, WEB_SECRET, issuer=provider.issuer, client_id=WEB_ID)
    async with gateway(router, settings, clock=clock), browser(router) as client:
        started = await client.get("/bff/login", params={"returnUrl": "/home"})
        assert started.status_code == 302
        assert "request_uri=" in started.headers["location"]  # PAR, as the provider offers
        callback = sign_in_at_node_oidc_provider(started.headers["location"])
        assert callback.startswith(f"{APP}/bff/callback?")
        done = await client.get(callback)
        assert done.status_code == 303
        assert done.headers["location"] == "/home"

        user = (await client.get("/bff/user")).json()
        assert user["sub"] == provider.sub
        assert user["name"] == "Ada Lovelace"  # from userinfo, for the same subject

        assert (await client.post("/api/a", headers=csrf_headers())).json() == {
            "sub": provider.sub}
        clock.offset = 600 - 10  # node-oidc-provider's access tokens live 600 s
        assert (await client.get("/api/b")).status_code == 200
        assert len(set(seen)) == 2  # refreshed at node-oidc-provider

        out = await client.post("/bff/logout", headers=csrf_headers())
        assert out.status_code == 200
        assert (await client.get("/api/c")).status_code == 401
    await router.default.aclose()
