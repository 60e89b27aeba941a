"""The gateway's ASGI app: /bff/login, /bff/callback, /bff/user, /bff/logout, the proxied
prefixes, loopback-only /metrics and, if configured, the SPA's static files.

``create_bff_app(settings)`` is usable standalone (uvicorn) or mounted at the root of an
existing Starlette/FastAPI app; it starts its store and clients on first use when the host app
does not run its lifespan. Every problem answers JSON (``error``, ``error_description``, and
``login_url`` when logging in again helps): no XHR ever gets a redirect.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path

import httpx
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from proofkey.bff.gateway import BffProblem, Gateway
from proofkey.bff.guard import csrf_problem, local_return_path
from proofkey.bff.headers import SecurityHeaders
from proofkey.bff.metrics import BffMetrics
from proofkey.bff.proxy import forward
from proofkey.bff.sessions import Sealer, SessionStore
from proofkey.bff.settings import BffSettings, Upstream
from proofkey.bff.stores import open_session_store, store_unavailable
from proofkey.sdk import AsyncOAuthClient

__all__ = ["LOGIN_COOKIE", "SESSION_COOKIE", "create_bff_app"]

_log = logging.getLogger("proofkey.bff")
SESSION_COOKIE = "__Host-bff-session"
LOGIN_COOKIE = "__Host-bff-login"
LOGIN_URL = "/bff/login"
_NO_STORE = {"Cache-Control": "no-store"}


def problem(exc: BffProblem) -> JSONResponse:
    body: dict[str, object] = {"error": exc.error, "error_description": exc.description}
    headers = dict(_NO_STORE)
    if exc.login:
        body["login_url"] = LOGIN_URL
    if exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(body, status_code=exc.status, headers=headers)


class BffApp:
    """The endpoints, over one Gateway; the HTTP clients start lazily, once."""

    def __init__(self, settings: BffSettings, store: SessionStore,
                 provider_transport: httpx.AsyncBaseTransport | None,
                 upstream_transport: httpx.AsyncBaseTransport | None,
                 clock: Callable[[], float],
                 tracer_provider: trace.TracerProvider | None = None) -> None:
        self.settings = settings
        self.metrics = BffMetrics()
        key = settings.key_bytes
        if key is None:
            _log.warning("no session key configured: a random one is used, sessions end when "
                         "this process stops and are not shared with other instances")
            key = os.urandom(32)
        client = AsyncOAuthClient(
            settings.issuer, settings.client_id, settings.redirect_uri,
            client_secret=settings.client_secret or None, scope=settings.scope,
            use_par=settings.use_par, transport=provider_transport,
            timeout=settings.provider_timeout_seconds,
            # The gateway forwards Bearer tokens upstream and refreshes them from any
            # instance: it has no DPoP key to share (yet), so it asks for none.
            dpop="off")
        tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("proofkey.bff")
        self.gateway = Gateway(settings, store, Sealer(key), client, self.metrics, clock,
                               tracer)
        self.http = httpx.AsyncClient(transport=upstream_transport, follow_redirects=False,
                                      timeout=settings.upstream_timeout_seconds)
        self._started = False
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self.gateway.store.migrate()
                self._started = True

    async def stop(self) -> None:
        await self.gateway.client.aclose()
        await self.http.aclose()
        await self.gateway.store.close()

    def cookie(self, response: Response, name: str, value: str, *, max_age: int | None,
               same_site: str) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True,
                            samesite=same_site)  # type: ignore[arg-type]

    def endpoint(self, handler: Callable[[Request], Awaitable[Response]]
                 ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            refusal = csrf_problem(request.method, request.headers, self.settings.origin)
            if refusal is not None:
                return problem(BffProblem(403, "csrf_refused", refusal))
            try:
                await self.start()
                return await handler(request)
            except BffProblem as exc:
                return problem(exc)
            except Exception as exc:  # the type only: a message could quote a value
                if store_unavailable(exc):
                    _log.error("session store unavailable (%s)", type(exc).__name__)
                    return problem(BffProblem(503, "store_unavailable", "the session store "
                                              "cannot be reached; try again later",
                                              retry_after=5))
                _log.error("unexpected %s in %s", type(exc).__name__, request.url.path)
                return problem(BffProblem(500, "server_error", "the gateway failed"))
        return run

    async def login(self, request: Request) -> Response:
        return_path = local_return_path(request.query_params.get("returnUrl"))
        if return_path is None:
            raise BffProblem(400, "invalid_request", "returnUrl must be a path on this site")
        started = await self.gateway.start_login(return_path)
        response = RedirectResponse(started.url, status_code=302, headers=_NO_STORE)
        self.cookie(response, LOGIN_COOKIE, started.login_id, max_age=600, same_site="lax")
        return response

    async def callback(self, request: Request) -> Response:
        session_id, return_path = await self.gateway.finish_login(
            request.cookies.get(LOGIN_COOKIE), str(request.url))
        with contextlib.suppress(BffProblem):  # a login replaces an older session (fixation)
            await self.gateway.logout(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(return_path, status_code=303, headers=_NO_STORE)
        self.cookie(response, SESSION_COOKIE, session_id, max_age=None,
                    same_site=self.settings.same_site)
        response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True,
                               samesite="lax")
        return response

    async def user(self, request: Request) -> Response:
        _, tokens = await self.gateway.session(request.cookies.get(SESSION_COOKIE))
        return JSONResponse(self.gateway.user(tokens), headers=_NO_STORE)

    async def logout(self, request: Request) -> Response:
        target = await self.gateway.logout(request.cookies.get(SESSION_COOKIE))
        response = JSONResponse({"logout_url": target}, headers=_NO_STORE)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                               samesite=self.settings.same_site)  # type: ignore[arg-type]
        return response

    def proxy(self, upstream: Upstream) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            with self.gateway.tracer.start_as_current_span(
                    "bff.proxy", attributes={"bff.upstream": upstream.prefix}) as span:
                try:
                    session, tokens = await self.gateway.session(
                        request.cookies.get(SESSION_COOKIE))
                    token = await self.gateway.access_token(session, tokens)
                    response = await forward(self.http, upstream, request, token)
                except BffProblem as exc:
                    self.metrics.proxy(upstream.prefix, exc.status)
                    span.set_attribute("http.response.status_code", exc.status)
                    raise
                self.metrics.proxy(upstream.prefix, response.status_code)
                span.set_attribute("http.response.status_code", response.status_code)
                return response
        return handle

    async def scrape(self, request: Request) -> Response:
        host = request.client.host if request.client else ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return Response(self.metrics.exposition(),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    def routes(self) -> list[BaseRoute]:
        ep = self.endpoint
        routes: list[BaseRoute] = [
            Route("/bff/login", ep(self.login), methods=["GET"]),
            Route("/bff/callback", ep(self.callback), methods=["GET"]),
            Route("/bff/user", ep(self.user), methods=["GET"]),
            Route("/bff/logout", ep(self.logout), methods=["POST"]),
        ]
        every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        for upstream in self.settings.upstreams:
            handler = ep(self.proxy(upstream))
            routes += [Route(upstream.prefix, handler, methods=every),
                       Route(upstream.prefix + "/{rest:path}", handler, methods=every)]
        if self.settings.metrics_path:
            routes.append(Route(self.settings.metrics_path, self.scrape, methods=["GET"]))
        static = _static_dir(self.settings.static_dir)
        if static is not None:
            routes.append(Mount("/", app=StaticFiles(directory=static, html=True)))
        return routes


def _static_dir(value: str) -> Path | None:
    if not value:
        return None
    if value == "sample":
        return Path(str(resources.files("proofkey.bff") / "sample"))
    return Path(value)


def create_bff_app(settings: BffSettings, *, store: SessionStore | None = None,
                   provider_transport: httpx.AsyncBaseTransport | None = None,
                   upstream_transport: httpx.AsyncBaseTransport | None = None,
                   clock: Callable[[], float] = time.time,
                   tracer_provider: trace.TracerProvider | None = None) -> Starlette:
    """The gateway as an ASGI app. Transports and clock are injectable for tests; spans go to
    ``tracer_provider``, else to the process's global OpenTelemetry provider."""
    bff = BffApp(settings, store or open_session_store(settings.effective_store_url),
                 provider_transport, upstream_transport, clock, tracer_provider)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bff.start()
        try:
            yield
        finally:
            await bff.stop()

    app = Starlette(routes=bff.routes(), lifespan=lifespan, middleware=[Middleware(
        SecurityHeaders, proxied=[u.prefix for u in settings.upstreams],
        sample=settings.static_dir == "sample")])
    app.state.bff = bff
    return app


def new_session_key() -> str:
    """A fresh key for ``session_key``: 32 random bytes, base64url."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
