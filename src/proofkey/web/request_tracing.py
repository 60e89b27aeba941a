"""A server span per HTTP request, named by route template (installed only when tracing is on).

Span names and the ``http.route`` attribute never carry the raw path: an interaction path holds
a handle, and unknown paths may hold anything a client sent.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proofkey.observability.tracing import Tracing

__all__ = ["TracingMiddleware", "route_of"]

_ROUTES = {
    "/authorize": "authorize", "/token": "token", "/revoke": "revoke",
    "/introspect": "introspect", "/userinfo": "userinfo", "/jwks": "jwks",
    "/par": "par", "/device_authorization": "device_authorization", "/device": "device",
    "/device/login": "device_login", "/device/decide": "device_decide",
    "/.well-known/openid-configuration": "discovery",
    "/.well-known/oauth-authorization-server": "discovery",
    "/healthz": "healthz", "/readyz": "readyz", "/account": "account",
    "/account/login": "account_login", "/account/logout": "account_logout", "/": "index",
    "/demo": "demo",
    "/status": "status", "/status/login": "status_login", "/status/logout": "status_logout",
}


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
        if len(parts) == 5 and parts[3] == "connectors":
            return "connector_start", "/interaction/{handle}/connectors/{name}"
    if path.startswith("/connectors/") and path.endswith("/callback") and path.count("/") == 3:
        return "connector_callback", "/connectors/{name}/callback"
    if path.startswith("/static/"):
        return "static", "/static/{path}"
    return "http", "other"


class TracingMiddleware:
    """A server span around every HTTP request, with the W3C ``traceparent`` honoured."""

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
