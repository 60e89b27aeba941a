"""Pure ASGI middleware that lets a request through only with a valid access token, sent as
``Bearer`` or, bound to a key, as ``DPoP`` with its proof (RFC 9449 §7).

In order, for every HTTP (and WebSocket) request:
1. ``GET`` of the resource's metadata path answers the RFC 9728 document (public, CORS open).
2. Paths listed in ``public_paths`` pass untouched (health checks), and so do CORS preflight
   requests (a browser sends them without credentials; the app's CORS handling answers).
3. ``access_token`` in the query string is ``invalid_request`` (400): OAuth 2.1 §5.2.1 drops
   the query method (URLs end up in logs and ``Referer``), and RFC 6750 §2 forbids using more
   than one method in a request.
4. One ``Authorization`` header at most, of bounded size, ``Bearer`` or ``DPoP`` and a
   b64token (RFC 6750 §2.1, RFC 9449 §7.1); otherwise ``invalid_request``.
5. No token: 401 with ``WWW-Authenticate: Bearer resource_metadata="…", DPoP …, algs="…"``
   and no error code (RFC 6750 §3.1, RFC 9449 §7.2). A form body carrying ``access_token``
   (RFC 6750 §2.2) is read (up to ``max_form_bytes``) only to answer 400 instead; the kit
   never takes a token from a body.
6. The verifier decides, with the ``DPoP`` headers and the request's method and URL for the
   ``DPoP`` scheme (the URL from the configured resource's origin and the request path, never
   from ``Host``): 401 ``invalid_token``, ``invalid_dpop_proof`` or ``use_dpop_nonce`` (with
   a ``DPoP-Nonce``), 403 ``insufficient_scope`` with the ``scope`` to ask for, 503 when the
   issuer cannot be reached. The error goes in the challenge of the scheme the client used.
7. The app runs with the verified ``AccessTokenClaims`` in ``scope["proofkey.access_token"]``
   (and, with resource nonces on, a fresh ``DPoP-Nonce`` on its DPoP responses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Collection, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from .binding import BEARER, Presentation, Scheme
from .claims import AccessTokenClaims
from .errors import BearerTokenError, InvalidRequestError, UseDpopNonceError
from .metadata import challenge, check_resource, metadata_path, metadata_url, resource_metadata
from .verifier import Verifier

__all__ = ["CLAIMS_KEY", "ProtectedResource", "access_token_claims"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLAIMS_KEY = "proofkey.access_token"
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_FORM = b"application/x-www-form-urlencoded"
_SCHEMES: dict[str, Scheme] = {"bearer": "Bearer", "dpop": "DPoP"}


def access_token_claims(scope: Scope) -> AccessTokenClaims:
    """The claims the middleware verified for this request (``request.scope`` in Starlette
    and FastAPI); ``KeyError`` on a request it did not check (a public path)."""
    claims = scope[CLAIMS_KEY]
    assert isinstance(claims, AccessTokenClaims)
    return claims


class _NoToken(Exception):
    pass


def _is_preflight(scope: Scope) -> bool:
    """A CORS preflight: ``OPTIONS`` with ``Access-Control-Request-Method`` (Fetch §3.2.2)."""
    return scope.get("method") == "OPTIONS" and any(
        name.lower() == b"access-control-request-method" for name, _ in scope.get("headers", []))


class ProtectedResource:
    """Wraps ``app`` so that it only sees requests with a valid access token for
    ``verifier.audience`` (the resource identifier, which the metadata also names). DPoP is
    as ``verifier.dpop`` says (``binding.DpopPolicy``)."""

    def __init__(self, app: ASGIApp, *, verifier: Verifier,
                 required_scopes: Sequence[str] = (),
                 scopes_supported: Sequence[str] | None = None,
                 authorization_servers: Sequence[str] | None = None,
                 public_paths: Collection[str] = (), resource_name: str | None = None,
                 resource_documentation: str | None = None,
                 max_authorization_bytes: int = 8192, max_form_bytes: int = 65536) -> None:
        self.app = app
        self.verifier = verifier
        self.resource = check_resource(verifier.audience)
        self.required_scopes = tuple(required_scopes)
        self.metadata_path = metadata_path(self.resource)
        self.metadata_url = metadata_url(self.resource)
        self.metadata = json.dumps(resource_metadata(
            self.resource, authorization_servers=authorization_servers or [verifier.issuer],
            scopes_supported=self.required_scopes if scopes_supported is None
            else scopes_supported, resource_name=resource_name,
            resource_documentation=resource_documentation, dpop=verifier.dpop)).encode()
        parts = urlsplit(self.resource)
        self.origin = f"{parts.scheme}://{parts.netloc}"  # htu: this origin, the request path
        self.public_paths = frozenset(public_paths)
        self.max_authorization_bytes = max_authorization_bytes
        self.max_form_bytes = max_form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.metadata_path and scope["type"] == "http":
            await self._metadata(scope, send)
            return
        if scope["path"] in self.public_paths or _is_preflight(scope):
            await self.app(scope, receive, send)
            return
        scheme: Scheme | None = None
        try:
            scheme, token = await self._credentials(scope, receive)
            presentation = BEARER if scheme == "Bearer" else Presentation(
                "DPoP", _header_values(scope, b"dpop"), scope.get("method", "GET"),
                self.request_url(scope))
            claims = await self.verifier.verify(token, required_scopes=self.required_scopes,
                                                presentation=presentation)
        except _NoToken:
            await self._refuse(scope, send, 401, None, None)
            return
        except BearerTokenError as error:
            await self._refuse(scope, send, error.status_code, error, scheme)
            return
        nonces = self.verifier.dpop.nonces
        if scheme == "DPoP" and nonces is not None and scope["type"] == "http":
            send = _with_header(send, b"dpop-nonce", nonces.current().encode())
        await self.app({**scope, CLAIMS_KEY: claims}, receive, send)

    def request_url(self, scope: Scope) -> str:
        """The URL a DPoP proof's ``htu`` must name: the configured resource's origin and the
        path as the client sent it (``raw_path``, else ``path`` re-encoded)."""
        raw: bytes | None = scope.get("raw_path")
        path = (raw.decode("latin-1").split("?", 1)[0] if raw
                else quote(scope.get("path", "/"), safe="/:@!$&'()*+,;=-._~"))
        return self.origin + path

    async def _credentials(self, scope: Scope, receive: Receive) -> tuple[Scheme, str]:
        query: bytes = scope.get("query_string", b"")
        if b"access_token" in query and any(
                name == "access_token" for name, _ in parse_qsl(query.decode("latin-1"),
                                                                keep_blank_values=True)):
            raise InvalidRequestError("send the access token in the Authorization header, "
                                      "never in the URL")
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        values = [value for name, value in headers if name.lower() == b"authorization"]
        if len(values) > 1:
            raise InvalidRequestError("more than one Authorization header")
        if not values:
            await self._no_token_in_body(scope, headers, receive)
            raise _NoToken
        if len(values[0]) > self.max_authorization_bytes:
            raise InvalidRequestError("the Authorization header is too large")
        name, _, credentials = values[0].decode("latin-1").partition(" ")
        scheme = _SCHEMES.get(name.lower())  # RFC 9110 §11.1: schemes are case-insensitive
        if scheme is None:
            raise _NoToken  # another scheme: no access token was presented
        token = credentials.strip(" ")
        if _B64TOKEN.fullmatch(token) is None:
            raise InvalidRequestError("the Authorization header is malformed")
        return scheme, token

    async def _no_token_in_body(self, scope: Scope, headers: list[tuple[bytes, bytes]],
                                receive: Receive) -> None:
        content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
        if scope["type"] != "http" or not content_type.lower().startswith(_FORM):
            return
        body = b""
        while len(body) <= self.max_form_bytes:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if b"access_token" in body and any(name == "access_token" for name, _ in parse_qsl(
                body[: self.max_form_bytes].decode("latin-1"), keep_blank_values=True)):
            raise InvalidRequestError("send the access token in the Authorization header, "
                                      "never in the body")

    async def _refuse(self, scope: Scope, send: Send, status: int,
                      error: BearerTokenError | None, scheme: Scheme | None) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # policy violation
            return
        headers = [(b"cache-control", b"no-store")]
        if status != 503:
            headers.append((b"www-authenticate", challenge(
                self.metadata_url, error, dpop=self.verifier.dpop, scheme=scheme).encode()))
        if isinstance(error, UseDpopNonceError):
            headers.append((b"dpop-nonce", error.nonce.encode()))
        body = b"" if error is None else json.dumps(
            {"error": error.error, "error_description": error.description}).encode()
        if body:
            headers.append((b"content-type", b"application/json"))
        await _respond(send, status, headers, body)

    async def _metadata(self, scope: Scope, send: Send) -> None:
        cors = [(b"access-control-allow-origin", b"*")]
        if scope["method"] == "OPTIONS":
            await _respond(send, 204, [*cors, (b"access-control-allow-methods", b"GET")], b"")
        elif scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, [(b"allow", b"GET, HEAD, OPTIONS")], b"")
        else:
            body = b"" if scope["method"] == "HEAD" else self.metadata
            await _respond(send, 200, [*cors, (b"content-type", b"application/json"),
                                       (b"cache-control", b"public, max-age=300")], body,
                           length=len(self.metadata))


def _header_values(scope: Scope, name: bytes) -> tuple[str, ...]:
    return tuple(value.decode("latin-1") for key, value in scope.get("headers", [])
                 if key.lower() == name)


def _with_header(send: Send, name: bytes, value: bytes) -> Send:
    """``send`` that adds one header to the response start."""
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (name, value)]}
        await send(message)
    return wrapped


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
                   length: int | None = None) -> None:
    size = str(len(body) if length is None else length).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", size)]})
    await send({"type": "http.response.body", "body": body})
