"""The HTTP edge's safety net: size caps, baseline security headers, and the last error handler.

Anything unexpected becomes an RFC 6749 §5.2 ``server_error`` with a generic description; the
server log gets the exception type and location, never request values. A store that is down
answers 503 ``temporarily_unavailable`` with ``Retry-After``: JSON on the protocol endpoints, an
HTML error page on the browser pages (``/authorize``, login, consent, account, device).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proofkey.errors import (
    InvalidRequest,
    OAuthError,
    ServerError,
    TemporarilyUnavailable,
    UseDpopNonce,
)
from proofkey.protocol.responses import NO_STORE_HEADERS
from proofkey.settings import Settings
from proofkey.store.base import StoreUnavailable

from .admin_api.problems import Problem, problem_response
from .pages import render_error, render_missing

__all__ = [
    "answer_unexpected",
    "around",
    "error_handlers",
    "error_headers",
    "error_response",
    "install_middleware",
    "is_page",
]

_log = logging.getLogger("proofkey.web")


def error_headers(error: OAuthError, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers of an RFC 6749 §5.2 error: no-store, and a challenge on a 401 (§5.2:
    "MUST include the WWW-Authenticate response header field"); Retry-After when throttled."""
    merged = dict(NO_STORE_HEADERS)
    if error.retry_after is not None:
        merged["Retry-After"] = str(error.retry_after)
    if isinstance(error, UseDpopNonce):  # RFC 9449 §8: the nonce the proof must carry
        merged["DPoP-Nonce"] = error.nonce
    if headers:
        merged.update(headers)
    if error.status_code == 401 and "WWW-Authenticate" not in merged:
        merged["WWW-Authenticate"] = 'Basic realm="proofkey"'
    return merged


def error_response(error: OAuthError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An RFC 6749 §5.2 JSON error with no-store caching."""
    return JSONResponse(error.as_dict(), status_code=error.status_code,
                        headers=error_headers(error, headers))


def _server_error(path: str, exc: Exception) -> JSONResponse:
    if isinstance(exc, StoreUnavailable):
        _log.error("store unavailable at %s: %s", path, type(exc).__name__)
        return error_response(TemporarilyUnavailable(
            "the service is temporarily unavailable; retry later"), {"Retry-After": "5"})
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f"{frame.filename}:{frame.lineno}" if frame else "?"
    # Only the type and the location: exception messages may quote request values.
    _log.error("unexpected %s at %s (%s)", type(exc).__name__, path, where)
    return error_response(ServerError())


def is_page(path: str) -> bool:
    """Whether ``path`` is a browser page (answered with HTML), not a JSON endpoint."""
    if path in {"/", "/authorize", "/device", "/demo"}:
        return True
    if path.startswith("/admin/api"):
        return False
    return path == "/admin" or path.startswith(("/interaction/", "/account", "/device/",
                                                "/admin/"))


async def answer_unexpected(request: Request, exc: Exception) -> Response:
    """The answer to an exception an endpoint did not handle: 503 with Retry-After for a store
    that is down (a page on the browser pages), else ``server_error``."""
    response = _server_error(request.url.path, exc)
    if isinstance(exc, StoreUnavailable) and is_page(request.url.path):
        # A browser gets a page it can show (and retry), with the same status and Retry-After.
        try:
            page = render_error(request, TemporarilyUnavailable(
                "The service is temporarily unavailable. Please try again in a moment."))
        except Exception:  # the page itself failed: the JSON answer still stands
            return response
        page.headers["Retry-After"] = response.headers["Retry-After"]
        return page
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (404, 405) as RFC 6749 §5.2-shaped JSON instead of plain text; a page
    for a browser's navigation (a GET that accepts HTML)."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/admin/api/"):  # a path its routes cannot even match
        return problem_response(Problem(exc.status_code, "not-found" if exc.status_code == 404
                                        else "method-not-allowed", "no such path in the "
                                        "admin API" if exc.status_code == 404 else
                                        "method not allowed"))
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        try:
            return render_missing(request, exc.status_code)
        except Exception:  # noqa: S110 - no page templates here (the admin port): JSON below
            pass
    description = {404: "no such endpoint", 405: "method not allowed"}.get(
        exc.status_code, "the request cannot be handled")
    response = JSONResponse(InvalidRequest(description).as_dict(), status_code=exc.status_code,
                            headers=dict(exc.headers or {}))
    return response


def error_handlers() -> Mapping[Any, Callable[[Request, Exception], Any]]:
    return {Exception: answer_unexpected, StoreUnavailable: answer_unexpected,
            HTTPException: _http_error}


class LimitsMiddleware:
    """Refuse oversized query strings and bodies before any endpoint reads them; add
    ``X-Content-Type-Options: nosniff`` to every response; answer any exception that escaped
    the endpoints with ``server_error`` and swallow it. (Starlette's own last-resort handler
    re-raises after answering, and the ASGI server would then log the exception *with its
    message*, which may quote request values.)"""

    def __init__(self, app: ASGIApp, *, max_body: int, max_query: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_query = max_query

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        if len(scope.get("query_string", b"")) > self.max_query:
            await _too_large(scope, receive, send_with_headers, 414, "the query string is too long")
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                await _too_large(scope, receive, send_with_headers, 413,
                                 "the request body is too large")
                return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, capped_receive, send_with_headers)
        except _BodyTooLarge:
            if not started:
                await _too_large(scope, receive, send_with_headers, 413,
                                 "the request body is too large")
        except Exception as exc:
            response = _server_error(scope.get("path", "?"), exc)
            if not started:
                await response(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send, status: int,
                     description: str) -> None:
    if str(scope.get("path", "")).startswith("/admin/api/"):  # RFC 9457 there, as every error
        problem = Problem(status, "too-large", description)
        await problem_response(problem)(scope, receive, send)
        return
    body = InvalidRequest(description).as_dict()
    response = JSONResponse(body, status_code=status, headers=dict(NO_STORE_HEADERS))
    await response(scope, receive, send)


def install_middleware(app: Starlette, settings: Settings) -> None:
    app.add_middleware(LimitsMiddleware, max_body=settings.max_body_bytes,
                       max_query=settings.max_query_bytes)


def around(endpoint: ASGIApp, settings: Settings) -> ASGIApp:
    """``endpoint`` behind what ``install_middleware`` adds (for routes served outside the
    router: ``app.ProofkeyApp``)."""
    return LimitsMiddleware(endpoint, max_body=settings.max_body_bytes,
                            max_query=settings.max_query_bytes)
