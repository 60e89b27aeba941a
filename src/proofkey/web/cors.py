"""CORS for browser apps: token, revocation and userinfo answer only registered origins.

An origin is registered when some client has a redirect URI on it (a loopback IP redirect URI
registers that host at any port, as RFC 8252 §7.3 matches it). Discovery and JWKS are public
documents and answer any origin. The authorization endpoint never sends CORS headers: it is
navigated to, not fetched.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from proofkey.protocol.redirect_uri import is_loopback_ip_uri
from proofkey.store.base import ClientStore

__all__ = ["CorsPolicy", "allow_any_origin"]

_MAX_AGE = "600"


def _origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class CorsPolicy:
    """Knows the registered origins, refreshed from the client store every ``ttl`` seconds."""

    def __init__(self, clients: ClientStore, ttl: float = 30.0) -> None:
        self._clients = clients
        self._ttl = ttl
        self._loaded_at = float("-inf")
        self._origins: frozenset[str] = frozenset()
        self._loopback_hosts: frozenset[str] = frozenset()

    async def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._loaded_at < self._ttl:
            return
        origins: set[str] = set()
        loopback: set[str] = set()
        for client in await self._clients.list_clients():
            for uri in client.redirect_uris:
                if is_loopback_ip_uri(uri):
                    loopback.add(urlsplit(uri).hostname or "")
                origin = _origin(uri)
                if origin:
                    origins.add(origin)
        self._origins, self._loopback_hosts = frozenset(origins), frozenset(loopback)
        self._loaded_at = now

    async def allows(self, origin: str) -> bool:
        await self._refresh()
        if origin.lower() in self._origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme == "http" and (parts.hostname or "") in self._loopback_hosts

    async def decorate(self, request: Request, response: Response) -> Response:
        """Add CORS headers to an actual response when the Origin is registered."""
        origin = request.headers.get("origin")
        if origin and await self.allows(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    async def preflight(self, request: Request) -> Response:
        """Answer an OPTIONS preflight; without CORS headers the browser refuses the call."""
        response = Response(status_code=204, headers={"Vary": "Origin"})
        origin = request.headers.get("origin")
        if origin and await self.allows(origin):
            response.headers.update({
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "Authorization, Content-Type, DPoP",
                "Access-Control-Max-Age": _MAX_AGE,
            })
        return response


def allow_any_origin(response: Response) -> Response:
    """Public documents (metadata, JWKS) may be read by any origin."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
