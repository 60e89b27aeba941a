"""An in-process world for gateway tests: proofkey, the gateway and an API, joined by one
routing transport so a single httpx client plays the browser across all three.

``Router`` sends a request to the ASGI app registered for its host; a host that is not (or no
longer) registered fails like a closed port. It counts refresh-token grants on the way to the
provider, which is how tests see "one refresh".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proofkey.bff import create_bff_app, load_bff_settings
from proofkey.bff.app import new_session_key
from proofkey.bff.sessions import SessionStore
from tests.helpers import ISSUER, PASSWORD, USERNAME, action_of, csrf_of

APP = "https://app.example"
API_HOST = "api.internal"
BFF_ID = "bff-app"
RS_ID = "api-rs"
PROVIDER_HOST = ISSUER.split("://", 1)[1]


class Router(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.routes: dict[str, httpx.AsyncBaseTransport] = {}
        self.default: httpx.AsyncBaseTransport | None = None  # e.g. the real network
        self.refresh_grants = 0
        self.latency = 0.0  # seconds each refresh grant waits, as over a network
        self.sent: list[httpx.Request] = []

    def add(self, host: str, app: Any) -> None:
        self.routes[host] = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        target = self.routes.get(request.url.netloc.decode(), self.default)
        if target is None:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/token" and b"grant_type=refresh_token" in await request.aread():
            self.refresh_grants += 1
            await asyncio.sleep(self.latency)
        return await target.handle_async_request(request)


@dataclass
class Api:
    """The upstream: it believes a token only if proofkey's /introspect says it is active."""

    router: Router
    rs_secret: str
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        async with httpx.AsyncClient(transport=self.router) as http:
            answer = await http.post(f"{ISSUER}/introspect", data={"token": token},
                                     auth=(RS_ID, self.rs_secret))
        info = answer.json()
        self.seen.append({"token": token, "headers": dict(request.headers),
                          "path": request.url.path, "query": request.url.query})
        if not info.get("active"):
            return JSONResponse({"error": "invalid_token"}, status_code=401,
                                headers={"www-authenticate": 'Bearer error="invalid_token"'})
        if request.url.path == "/echo":
            return Response(await request.body(), status_code=201, headers={
                "set-cookie": "upstream=1; Path=/", "x-upstream": "yes",
                "connection": "x-secret-hop", "x-secret-hop": "1"})
        if request.url.path == "/teapot":
            return JSONResponse({"error": "teapot"}, status_code=418)
        return JSONResponse({"sub": info.get("sub"), "path": request.url.path,
                             "method": request.method})

    def app(self) -> Starlette:
        every = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        return Starlette(routes=[Route("/{rest:path}", self.handle, methods=every)])


class Clock:
    """Real time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def bff_settings(tmp_path: Any, bff_secret: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "issuer": ISSUER, "client_id": BFF_ID, "client_secret": bff_secret,
        "public_url": APP, "upstreams": f"/api=http://{API_HOST}",
        "session_store_url": f"sqlite:///{tmp_path}/bff.db", "session_key": new_session_key(),
    }
    values.update(overrides)
    return load_bff_settings(values, environ={})


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[Starlette]:
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def gateway(router: Router, settings: Any, *, host: str = "app.example",
                  clock: Clock | None = None,
                  store: SessionStore | None = None) -> AsyncIterator[Starlette]:
    app = create_bff_app(settings, provider_transport=router, upstream_transport=router,
                         clock=clock or time.time, store=store)
    router.add(host, app)
    async with running(app):
        yield app


def browser(router: Router) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=router, base_url=APP, follow_redirects=False)


async def sign_in(client: httpx.AsyncClient, return_url: str = "/",
                  base: str = APP, decision: str = "allow") -> httpx.Response:
    """Play the browser: /bff/login, proofkey's login and consent pages, the callback."""
    response = await client.get(f"{base}/bff/login", params={"returnUrl": return_url})
    assert response.status_code == 302, response.text
    response = await client.get(response.headers["location"])
    for _ in range(4):
        assert response.status_code == 303, response.text
        location = urljoin(str(response.url), response.headers["location"])
        if "/interaction/" not in location:
            break
        page = await client.get(location)
        form = {"csrf": csrf_of(page.text)}
        if 'name="password"' in page.text:
            form.update(username=USERNAME, password=PASSWORD)
        else:
            form["decision"] = decision
        response = await client.post(urljoin(location, action_of(page.text)), data=form)
    assert location.startswith(f"{base}/bff/callback?"), location
    assert ("code" if decision == "allow" else "error") in parse_qs(location.split("?", 1)[1])
    return await client.get(location)


def csrf_headers(origin: str = APP) -> dict[str, str]:
    return {"X-CSRF": "1", "Origin": origin, "Sec-Fetch-Site": "same-origin"}



async def session_tokens(settings: Any, client: httpx.AsyncClient) -> Any:
    """What the store holds for the browser's session, opened with the gateway's key (as an
    operator with the key could): for tests that revoke the grant behind a session."""
    from proofkey.bff.app import SESSION_COOKIE
    from proofkey.bff.sessions import Sealer, SessionTokens
    from proofkey.bff.stores import open_session_store
    from proofkey.crypto import digest

    store = open_session_store(settings.effective_store_url)
    try:
        row = await store.get(digest(client.cookies[SESSION_COOKIE]))
        assert row is not None
        data = Sealer(settings.key_bytes).open(row.sealed, row.digest)
        assert data is not None
        return SessionTokens.from_json(data)
    finally:
        await store.close()


class Balancer(httpx.AsyncBaseTransport):
    """A load balancer without stickiness: each request goes to the next instance in turn."""

    def __init__(self, apps: list[Any]) -> None:
        self.instances = [httpx.ASGITransport(app=app) for app in apps]
        self.turn = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        instance = self.instances[self.turn % len(self.instances)]
        self.turn += 1
        return await instance.handle_async_request(request)
