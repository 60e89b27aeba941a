"""``POST /token`` as a plain ASGI app: the busiest endpoint skips Starlette's request objects.

Every token exchange, refresh and device poll comes here, so the per-request framework cost
counts (docs/performance.md: Starlette's ``Request``, form reader and ``JSONResponse`` were
~55 µs of a ~580 µs exchange). It is served outside the router (``app.ProofkeyApp``) behind the
same middleware (size caps, ``nosniff``, the last-resort ``server_error``, tracing), and the
answer is the one
``endpoints`` would give: the RFC 6749 §5.1 JSON with ``no-store``, or the §5.2 error with
``WWW-Authenticate`` on a 401, plus CORS headers for a registered origin. Only the reading of
the headers it needs, the body and the JSON encoding are done here, directly.

Every ``DPoP`` header is passed on (RFC 9449 §4.3: more than one is refused, so none may be
dropped here); with nonces on, every answer carries the current ``DPoP-Nonce`` (§8.2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import cast

from starlette.types import Receive, Scope, Send

from proofkey.errors import OAuthError
from proofkey.flows.token import exchange
from proofkey.protocol.params import parse_urlencoded
from proofkey.protocol.responses import NO_STORE_HEADERS

from .addresses import address_key
from .forms import require_form
from .middleware import error_headers
from .services import Services

__all__ = ["TokenEndpoint"]

_NO_STORE = [(k.lower().encode("latin-1"), v.encode("latin-1"))
             for k, v in NO_STORE_HEADERS.items()]
_JSON_TYPE = (b"content-type", b"application/json")
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class TokenEndpoint:
    """The RFC 6749 §3.2 token endpoint (POST only: the router answers other methods)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = cast(Services, scope["app"].state.services)
        content_type = authorization = origin = None
        dpop: list[str] = []
        for name, value in scope["headers"]:  # the first of a repeated header, as Starlette
            if name == b"dpop":
                dpop.append(value.decode("latin-1"))
            elif name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"origin" and origin is None:
                origin = value.decode("latin-1")
        extra: Mapping[str, str] = {}
        try:
            require_form(content_type)
            form = parse_urlencoded(await _body(receive),
                                    max_bytes=services.settings.max_body_bytes)
            client = scope.get("client")
            answer: Mapping[str, str | int] = await exchange(
                form, authorization, services=services.token,
                client_ip=address_key(client[0]) if client else "-", ctx=services.ctx,
                dpop=dpop)
            status = 200
        except OAuthError as error:
            answer, status, extra = error.as_dict(), error.status_code, error_headers(error)
        payload = _encode(answer).encode("utf-8")
        headers = [(b"content-length", str(len(payload)).encode("latin-1")), _JSON_TYPE,
                   *_NO_STORE]
        headers.extend((k.lower().encode("latin-1"), v.encode("latin-1"))
                       for k, v in extra.items() if k not in NO_STORE_HEADERS)
        nonce = None if "DPoP-Nonce" in extra else await services.token.dpop.nonce(
            services.ctx.now())
        if nonce is not None:
            headers.append((b"dpop-nonce", nonce.encode("ascii")))
        if origin and await services.cors.allows(origin):
            headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
            headers.append((b"access-control-expose-headers", b"DPoP-Nonce"))
            headers.append((b"vary", b"Origin"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
