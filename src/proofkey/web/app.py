"""The composition root: build the app for a Settings, wire typed collaborators, run the lifespan.

Nothing happens at import. ``create_app(settings)`` returns a Starlette app whose lifespan opens
the store, applies migrations, loads (or creates) the signing keys and starts housekeeping; the
route table is at the bottom of this module, one line per endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import httpx
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from proofkey.observability.events import EventBus
from proofkey.observability.log_writer import lines_dropped
from proofkey.observability.logs import configure_logging, stop_log_writer
from proofkey.observability.tracing import Tracing
from proofkey.settings import Settings, load_settings
from proofkey.store.base import ChallengeReuse, RateLimiter
from proofkey.tokens.keys import keep_seconds_for, prune_retired_keys

from . import (
    connector_pages,
    console,
    device_pages,
    endpoints,
    logout_pages,
    pages,
    password_pages,
    registration_endpoint,
)
from .admin_api import admin_api
from .admin_port import AdminServer
from .authorize_endpoint import AuthorizeEndpoint
from .metrics_endpoint import scrape_endpoint
from .middleware import around, error_handlers, install_middleware
from .request_tracing import TracingMiddleware
from .services import Observers, Services, build_limiter, build_observers, build_services
from .status_page import ReuseSource, StatusPage
from .token_endpoint import TokenEndpoint

__all__ = ["ProofkeyApp", "create_app", "create_app_from_env"]

_log = logging.getLogger("proofkey")
_HERE = Path(__file__).parent
HOUSEKEEPING_SECONDS = 60.0
# Expired rows go in small batches with a yield to requests in between: on SQLite a batch runs
# on the event loop (1,000 rows: ~8 ms; 250: ~1 ms), and under sustained load a minute can
# leave ~10^5 expired codes to delete. Up to 500,000 rows per table per run.
PURGE_BATCH = 250
PURGE_ROUNDS = 2000
# Dynamic clients' last use (for `proofkey client prune`) is read from the grants and refresh
# tokens they issued, hourly, instead of a write on the token path; the overlap covers a slow
# round.
USE_RECORDING_SECONDS = 3600
USE_OVERLAP = 300


async def _housekeeping(services: Services) -> None:
    """Purge expired rows, drop keys whose tokens have all expired and pick up rotated keys;
    with jitter, so that instances do not run in step."""
    recorded = int(time.time()) - USE_RECORDING_SECONDS  # uses since the last hour
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS * random.uniform(0.8, 1.2))  # noqa: S311
        try:
            now = int(time.time())
            if now - recorded >= USE_RECORDING_SECONDS:  # before purging: expired rows count
                await services.store.record_client_use(recorded - USE_OVERLAP, now)
                recorded = now
            keep = keep_seconds_for(services.settings.access_token_ttl_seconds,
                                    services.settings.id_token_ttl_seconds)
            await prune_retired_keys(services.store, now, keep_seconds=keep)
            await services.refresh_keys()
            purged = 0
            for _ in range(PURGE_ROUNDS):  # batches until done: no backlog under load
                deleted = await services.store.purge_expired(now, batch=PURGE_BATCH)
                purged += deleted
                if not deleted:
                    break
                await asyncio.sleep(0)
            if purged:
                _log.debug("purged %d expired rows", purged)
        except Exception:
            _log.exception("housekeeping failed")


class ProofkeyApp(Starlette):
    """Starlette, with the busiest routes served outside the router.

    ``POST /token`` and ``GET /authorize`` (half of every round trip) go straight to their
    plain ASGI endpoints, each behind the same edge (``middleware.around``: size caps,
    ``nosniff``, the last-resort ``server_error``) and the request span when tracing is on.
    They skip Starlette's two exception layers and the route table (docs/performance.md);
    each endpoint handles its own errors, so every answer is the one the router gave. Any
    other method or path, ``HEAD /authorize`` included, takes the router as before.
    """

    hot_routes: Mapping[tuple[str, str], ASGIApp] = MappingProxyType({})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hot = self.hot_routes.get((scope["method"], scope["path"]))
            if hot is not None:
                scope["app"] = self
                await hot(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, bus: EventBus | None = None,
               tracing: Tracing | None = None, clock: Callable[[], float] = time.time,
               limiter: RateLimiter | None = None, freeze_heap: bool = False,
               queued_logs: bool = False,
               upstream_transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The ASGI app for ``settings``; ``bus`` lets tests and operators subscribe to events,
    ``tracing`` replaces the one the ``OTEL_*`` variables describe, ``clock`` is the time
    every flow reads (tests move it forward instead of sleeping), ``limiter`` replaces the one
    the settings describe (in-process, or Redis), ``upstream_transport`` the HTTP transport
    connectors reach upstream providers with (tests).
    ``freeze_heap`` (for a server process that runs one app) moves everything alive after
    start-up out of the garbage collector's reach: a full collection then walks only what
    requests created, not the ~10^5 objects of the imported libraries, which keeps its pause
    out of the latency tail.
    ``queued_logs`` (for a server process) writes log lines from a thread of their own, so a
    slow reader of stderr cannot stall requests (``observability.log_writer``); the lifespan's
    shutdown drains it. Without it the caller writes each line, to whatever ``sys.stderr`` is
    then (tests read it right after a request)."""
    observers = build_observers(settings, bus or EventBus(), tracing=tracing)
    limits = limiter or build_limiter(settings)
    observers.metrics.watch_rate_limiter(lambda: limits.evictions)
    observers.metrics.watch_log_drops(lines_dropped)

    async def challenge_reuse() -> list[ChallengeReuse]:
        """For the status page: read after the lifespan has built the services."""
        services: Services = app.state.services
        return await services.store.challenge_reuse(services.ctx.now())

    ops_routes = _ops_routes(settings, observers, limits, challenge_reuse,
                             restricted=not settings.admin_port and not settings.metrics_public)
    console_routes = console.routes()  # the operator console (docs/admin.md)
    admin = None
    # The admin REST API goes with the ops routes: on the admin port when one is set.
    api = [admin_api()]
    admin_app = Starlette(routes=[*ops_routes, *console_routes,
                                  *(api if settings.admin_port else []), _static()],
                          exception_handlers=error_handlers())
    if settings.admin_port:
        admin = AdminServer(admin_app, host=settings.host, port=settings.admin_port)
        install_middleware(admin_app, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            services = await build_services(settings, observers, limits, clock=clock,
                                            upstream_transport=upstream_transport)
            try:
                app.state.services = services
                admin_app.state.services = services  # the status page flags legacy connectors
                _announce_metrics(settings)
                if admin is not None:
                    await admin.start()
                if freeze_heap:
                    gc.collect()
                    gc.freeze()
                task = asyncio.create_task(_housekeeping(services))
                try:
                    yield
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    if admin is not None:
                        await admin.stop()
            finally:
                await services.connectors.aclose()
                await services.store.close()
                if queued_logs:  # every line logged so far reaches stderr before exit
                    stop_log_writer()
        finally:
            await limits.close()
            observers.tracing.shutdown()  # after the store has closed: its span is exported

    authorize_endpoint, token_endpoint = AuthorizeEndpoint(), TokenEndpoint()
    routes = [
        Route("/.well-known/oauth-authorization-server", endpoints.server_metadata),
        Route("/.well-known/openid-configuration", endpoints.server_metadata),
        Route("/jwks", endpoints.jwks),
        Route("/authorize", authorize_endpoint, methods=["GET"]),
        Route("/par", endpoints.par, methods=["POST"]),
        Route("/token", token_endpoint, methods=["POST"]),
        Route("/revoke", endpoints.revoke, methods=["POST"]),
        Route("/introspect", endpoints.introspect, methods=["POST"]),
        Route("/userinfo", endpoints.userinfo, methods=["GET", "POST"]),
        Route("/token", endpoints.preflight, methods=["OPTIONS"]),
        Route("/revoke", endpoints.preflight, methods=["OPTIONS"]),
        Route("/userinfo", endpoints.preflight, methods=["OPTIONS"]),
        Route("/register", registration_endpoint.register, methods=["POST"]),
        Route("/register/{client_id}", registration_endpoint.manage,
              methods=["GET", "PUT", "DELETE"]),
        Route("/healthz", endpoints.healthz),
        Route("/readyz", endpoints.readyz),
        Route("/interaction/{handle}", pages.interaction, methods=["GET"]),
        Route("/interaction/{handle}/login", pages.interaction_login, methods=["POST"]),
        Route("/interaction/{handle}/consent", pages.interaction_consent, methods=["POST"]),
        Route("/interaction/{handle}/connectors/{name}", connector_pages.connector_start,
              methods=["GET"]),
        Route("/connectors/{name}/callback", connector_pages.connector_callback,
              methods=["GET"]),
        Route("/account", logout_pages.account, methods=["GET"]),
        Route("/account/sessions/end", logout_pages.account_end_session, methods=["POST"]),
        Route("/account/apps/disconnect", logout_pages.account_disconnect, methods=["POST"]),
        Route("/logout", logout_pages.logout, methods=["GET", "POST"]),
        Route("/logout/confirm", logout_pages.logout_confirm, methods=["POST"]),
        Route("/account/login", pages.account_login, methods=["POST"]),
        Route("/account/logout", pages.account_logout, methods=["POST"]),
        Route("/account/password/set", password_pages.password_set, methods=["GET"]),
        Route("/account/password/set", password_pages.password_set_submit, methods=["POST"]),
        Route("/device_authorization", device_pages.device_authorization, methods=["POST"]),
        Route("/device", device_pages.device, methods=["GET"]),
        Route("/device", device_pages.device_submit, methods=["POST"]),
        Route("/device/login", device_pages.device_login, methods=["POST"]),
        Route("/device/decide", device_pages.device_decide, methods=["POST"]),
        Route("/demo", pages.demo, methods=["GET"]),
        Route("/", pages.index, methods=["GET"]),
        Route("/favicon.ico", pages.favicon, methods=["GET"]),
        *([] if admin is not None else [*ops_routes, *console_routes, *api]),
        _static(),
    ]
    app = ProofkeyApp(routes=routes, lifespan=lifespan, exception_handlers=error_handlers())
    install_middleware(app, settings)
    hot: dict[tuple[str, str], ASGIApp] = {("POST", "/token"): token_endpoint,
                                           ("GET", "/authorize"): authorize_endpoint}
    hot = {key: around(endpoint, settings) for key, endpoint in hot.items()}
    if observers.tracing.enabled:  # outermost: the span covers the size caps too
        app.add_middleware(TracingMiddleware, tracing=observers.tracing,
                           metrics_path=settings.metrics_path)
        hot = {key: TracingMiddleware(edge, tracing=observers.tracing,
                                      metrics_path=settings.metrics_path)
               for key, edge in hot.items()}
    app.hot_routes = hot
    configure_logging(settings, observers.metrics, queued=queued_logs)
    app.state.observers = observers
    admin_app.state.observers = observers  # the console reads the status board's client day
    return app


def _static() -> Mount:
    return Mount("/static", StaticFiles(directory=_HERE / "static"), name="static")


def _ops_routes(settings: Settings, observers: Observers, limiter: RateLimiter,
                reuse: ReuseSource, *, restricted: bool) -> list[BaseRoute]:
    """``/metrics`` and ``/status``, each when its setting turns it on."""
    routes: list[BaseRoute] = []
    if settings.metrics_path:
        scrape = scrape_endpoint(observers.metrics, restricted=restricted,
                                 trusted_proxies=settings.trusted_proxies)
        routes.append(Route(settings.metrics_path, scrape, methods=["GET"]))
    if settings.admin_token:
        page = StatusPage(settings, observers.status, limiter, reuse)
        routes += [Route("/status", page.show, methods=["GET"]),
                   Route("/status/login", page.login, methods=["POST"]),
                   Route("/status/logout", page.logout, methods=["POST"])]
    return routes


def _announce_metrics(settings: Settings) -> None:
    if not settings.metrics_path:
        return
    if settings.admin_port:
        where = f"on the admin port {settings.admin_port}"
    elif settings.metrics_public:
        where = "on the main port to everyone (PROOFKEY_METRICS_PUBLIC=true)"
    else:
        where = ("on the main port to loopback and trusted proxies only "
                 "(PROOFKEY_METRICS_PUBLIC=true serves everyone)")
    _log.info("metrics at %s are served %s", settings.metrics_path, where)


def create_app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` and worker processes: settings from the environment."""
    return create_app(load_settings(), freeze_heap=True, queued_logs=True)
