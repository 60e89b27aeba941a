"""Operations at the HTTP edge: ``/metrics``, the ``/status`` page, request spans, admin port.

``install_ops(app, settings, bus)`` subscribes the metrics and the status board to the event
bus, adds the routes, and — when the ``OTEL_*`` variables switch tracing on — a server span per
request and spans around store calls. With ``admin_port`` set, ``/metrics`` and ``/status`` are
served by a second, minimal server on that port (started by the app's lifespan) and not on the
main one. (With several worker processes only one of them can bind the admin port; each worker
keeps its own in-process numbers.)

``/status`` needs ``Authorization: Bearer <admin_token>`` or the cookie its login form sets
(HttpOnly, SameSite=Strict, ``Path=/status``, valid 8 hours, an HMAC of the expiry keyed by the
token — the token itself is never stored in the browser). Without an ``admin_token`` the page
does not exist (404). Its charts are inline SVG drawn on the server: the page runs no script.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proofkey import __version__
from proofkey.errors import OAuthError
from proofkey.observability.events import EventBus
from proofkey.observability.metrics import Metrics
from proofkey.observability.status import StatusBoard
from proofkey.observability.tracing import Tracing
from proofkey.protocol.params import parse_urlencoded
from proofkey.settings import Settings

from .services import Services

__all__ = ["Ops", "TracingMiddleware", "install_ops", "route_of"]

_log = logging.getLogger("proofkey.ops")
_HERE = Path(__file__).parent
STATUS_COOKIE = "pk_status"
COOKIE_SECONDS = 8 * 3600
_LOGIN_FAILURES_PER_MINUTE = 20
STATUS_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}
_ROUTES = {
    "/authorize": "authorize", "/token": "token", "/revoke": "revoke",
    "/introspect": "introspect", "/userinfo": "userinfo", "/jwks": "jwks",
    "/.well-known/openid-configuration": "discovery",
    "/.well-known/oauth-authorization-server": "discovery",
    "/healthz": "healthz", "/readyz": "readyz", "/account": "account",
    "/account/login": "account_login", "/account/logout": "account_logout", "/": "index",
    "/demo": "demo",
    "/status": "status", "/status/login": "status_login", "/status/logout": "status_logout",
}


@dataclasses.dataclass
class Ops:
    """What ``install_ops`` wired, for ``create_app`` (logging) and for tests."""

    metrics: Metrics
    status: StatusBoard
    tracing: Tracing
    admin: _AdminServer | None = None


def install_ops(app: Starlette, settings: Settings, bus: EventBus, *,
                environ: Mapping[str, str] | None = None,
                tracing: Tracing | None = None) -> Ops:
    """Subscribe metrics and status to ``bus``, add the ops routes, tracing and admin port."""
    metrics = Metrics(version=__version__)
    status = StatusBoard()
    metrics.add_redaction_listener(status.count_redaction)
    bus.subscribe(metrics)
    bus.subscribe(status)
    tracing = tracing or Tracing.from_env(os.environ if environ is None else environ,
                                          service_version=__version__)
    if tracing.enabled:
        bus.subscribe(tracing)
        app.add_middleware(TracingMiddleware, tracing=tracing, metrics_path=settings.metrics_path)
    routes = _routes(settings, metrics, status)
    ops = Ops(metrics, status, tracing)
    if settings.admin_port and routes:
        admin_app = Starlette(routes=[*routes, Mount("/static", StaticFiles(
            directory=_HERE / "static"), name="static")])
        ops.admin = _AdminServer(admin_app, settings)
    else:
        app.router.routes.extend(routes)
    _wrap_lifespan(app, settings, ops)
    return ops


def _wrap_lifespan(app: Starlette, settings: Settings, ops: Ops) -> None:
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(inner: Any) -> AsyncIterator[Any]:
        try:
            async with original(inner) as state:
                services = getattr(app.state, "services", None)
                if isinstance(services, Services):
                    ops.metrics.watch_rate_limiter(lambda: services.limiter.evictions)
                if ops.tracing.enabled and isinstance(services, Services):
                    _trace_store(services, ops.tracing, settings)
                if ops.admin is not None:
                    await ops.admin.start()
                try:
                    yield state
                finally:
                    if ops.admin is not None:
                        await ops.admin.stop()
        finally:
            ops.tracing.shutdown()  # after the store has closed: its span is exported too

    app.router.lifespan_context = lifespan


def _trace_store(services: Services, tracing: Tracing, settings: Settings) -> None:
    system = settings.effective_database_url.split(":", 1)[0]
    system = "postgresql" if system.startswith("postgres") else system
    store = tracing.traced(services.store, system)
    services.store = store
    services.token = dataclasses.replace(services.token, clients=store, codes=store,
                                         grants=store)


def _routes(settings: Settings, metrics: Metrics, status: StatusBoard) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    if settings.metrics_path:
        async def scrape(request: Request) -> Response:
            body, content_type = metrics.render()
            return Response(body, media_type=content_type,
                            headers={"Cache-Control": "no-store"})

        routes.append(Route(settings.metrics_path, scrape, methods=["GET"]))
    if settings.admin_token:
        page = _StatusPage(settings, status)
        routes += [Route("/status", page.show, methods=["GET"]),
                   Route("/status/login", page.login, methods=["POST"]),
                   Route("/status/logout", page.logout, methods=["POST"])]
    return routes


# -- the status page ------------------------------------------------------------------------


class _StatusPage:
    def __init__(self, settings: Settings, status: StatusBoard) -> None:
        self._token = settings.admin_token
        self._secure = settings.secure_cookies
        self._issuer = settings.effective_issuer
        self._status = status
        self._failures: tuple[int, int] = (0, 0)  # (minute, failed logins in it)
        self._templates = Environment(loader=FileSystemLoader(_HERE / "templates"),
                                      autoescape=select_autoescape(default=True),
                                      auto_reload=False)

    def _mac(self, expires: int) -> str:
        mac = hmac.new(self._token.encode(), f"proofkey-status|{expires}".encode(),
                       hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(
                value.strip().encode(), self._token.encode())
        cookie = request.cookies.get(STATUS_COOKIE, "")
        expires, _, mac = cookie.partition(".")
        if not expires.isdigit() or len(expires) > 12 or int(expires) < time.time():
            return False
        return hmac.compare_digest(mac.encode(), self._mac(int(expires)).encode())

    def _render(self, status_code: int, **values: Any) -> HTMLResponse:
        html = self._templates.get_template("status.html").render(issuer=self._issuer,
                                                                 **values)
        response = HTMLResponse(html, status_code=status_code, headers=STATUS_HEADERS)
        if status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="proofkey-status"'
        return response

    async def show(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._render(401, charts=None, message=None)
        return self._render(200, charts=self._status.charts(), totals=self._status.totals(),
                            generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))

    async def login(self, request: Request) -> Response:
        minute = int(time.time() // 60)
        if self._failures[0] == minute and self._failures[1] >= _LOGIN_FAILURES_PER_MINUTE:
            limited = self._render(429, charts=None, message="Too many attempts; wait a minute.")
            limited.headers["Retry-After"] = "60"
            return limited
        try:
            form = parse_urlencoded(await request.body(), max_bytes=4096)
        except OAuthError:
            form = {}
        token = form.get("token", "")
        if not token or not hmac.compare_digest(token.encode(), self._token.encode()):
            count = self._failures[1] + 1 if self._failures[0] == minute else 1
            self._failures = (minute, count)
            return self._render(401, charts=None, message="That token is not valid.")
        expires = int(time.time()) + COOKIE_SECONDS
        response = RedirectResponse("/status", status_code=303, headers={
            "Cache-Control": "no-store"})
        response.set_cookie(STATUS_COOKIE, f"{expires}.{self._mac(expires)}",
                            max_age=COOKIE_SECONDS, path="/status", httponly=True,
                            samesite="strict", secure=self._secure)
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/status", status_code=303,
                                    headers={"Cache-Control": "no-store"})
        response.delete_cookie(STATUS_COOKIE, path="/status", httponly=True,
                               samesite="strict", secure=self._secure)
        return response


# -- tracing --------------------------------------------------------------------------------


def route_of(path: str, metrics_path: str = "") -> tuple[str, str]:
    """A request's span name and route template; never the raw path (it may hold a handle)."""
    known = _ROUTES.get(path)
    if known is not None:
        return known, path
    if metrics_path and path == metrics_path:
        return "metrics", path
    if path.startswith("/interaction/"):
        parts = path.split("/")
        if len(parts) == 3:
            return "interaction", "/interaction/{handle}"
        if len(parts) == 4 and parts[3] in {"login", "consent"}:
            return parts[3], "/interaction/{handle}/" + parts[3]
    if path.startswith("/static/"):
        return "static", "/static/{path}"
    return "http", "other"


class TracingMiddleware:
    """A server span around every HTTP request (installed only when tracing is on)."""

    def __init__(self, app: ASGIApp, *, tracing: Tracing, metrics_path: str = "") -> None:
        self.app = app
        self.tracing = tracing
        self.metrics_path = metrics_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name, route = route_of(scope.get("path", ""), self.metrics_path)
        traceparent = None
        for key, value in scope.get("headers", ()):
            if key == b"traceparent":
                traceparent = value.decode("latin-1")[:128]
                break
        with self.tracing.request_span(name, method=scope.get("method", "GET"), route=route,
                                       traceparent=traceparent) as span:

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_status_code(int(message["status"]))
                await send(message)

            await self.app(scope, receive, send_status)


# -- the admin port -------------------------------------------------------------------------


class _QuietServer(uvicorn.Server):
    """A uvicorn server inside another one's event loop: the main server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


class _AdminServer:
    """Serves the ops routes on ``admin_port``; skipped with a warning if the port is taken
    (another worker process has it)."""

    def __init__(self, app: Starlette, settings: Settings) -> None:
        self.app = app
        self.host = settings.host
        self.port = settings.admin_port
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    def _bind(self) -> socket.socket | None:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            _log.warning("admin port %s:%d unavailable: %s", self.host, self.port, exc.strerror)
            return None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            _log.warning("admin port %s:%d not bound (%s); /metrics and /status are not served "
                         "by this process", self.host, self.port, exc.strerror)
            return None
        sock.set_inheritable(True)
        return sock

    async def start(self) -> None:
        sock = self._bind()
        if sock is None:
            return
        config = uvicorn.Config(self.app, lifespan="off", log_config=None, access_log=False,
                                server_header=False, proxy_headers=False)
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(200):
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        _log.info("admin server on %s:%d serves the metrics and status routes", self.host,
                  self.port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout=10)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
