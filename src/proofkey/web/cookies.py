"""The two cookies: the login session handle and the browser secret (CSRF and binding key).

Both are HttpOnly, SameSite=Lax (a cross-site POST carries neither) and Secure whenever the
issuer is https. The session cookie holds a random handle whose digest keys the stored
session; the browser cookie holds a random secret whose digest binds pending authorizations
to the browser that started them and whose HMAC is the CSRF token of every form.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from proofkey.crypto import digest, new_handle
from proofkey.models import Session
from proofkey.settings import Settings

from .services import services_of

__all__ = [
    "BROWSER_COOKIE",
    "SESSION_COOKIE",
    "browser_secret",
    "clear_session_cookie",
    "current_session",
    "session_handle",
    "set_browser_cookie",
    "set_session_cookie",
]

SESSION_COOKIE = "pk_session"
BROWSER_COOKIE = "pk_browser"
_HANDLE = re.compile(r"[A-Za-z0-9_-]{43}")
_YEAR = 365 * 86400


def browser_secret(request: Request) -> str:
    """This browser's secret: the cookie's when well-formed, else a new one (set it later)."""
    existing = request.cookies.get(BROWSER_COOKIE)
    if existing and _HANDLE.fullmatch(existing):
        return existing
    cached: str | None = getattr(request.state, "new_browser_secret", None)
    if cached is None:
        cached = new_handle()
        request.state.new_browser_secret = cached
    return cached


def session_handle(request: Request) -> str | None:
    """The session cookie's handle, unless absent or longer than any handle we issue."""
    handle = request.cookies.get(SESSION_COOKIE)
    return handle if handle and len(handle) <= 128 else None


async def current_session(request: Request) -> Session | None:
    """The live login session the session cookie names, if any."""
    handle = session_handle(request)
    if handle is None:
        return None
    services = services_of(request)
    return await services.store.get_session(digest(handle), services.ctx.now())


def set_browser_cookie(response: Response, request: Request, secret: str,
                       settings: Settings) -> None:
    if request.cookies.get(BROWSER_COOKIE) != secret:
        response.set_cookie(BROWSER_COOKIE, secret, max_age=_YEAR, path="/", httponly=True,
                            samesite="lax", secure=settings.secure_cookies)


def set_session_cookie(response: Response, handle: str, settings: Settings) -> None:
    response.set_cookie(SESSION_COOKIE, handle, max_age=settings.session_ttl_seconds, path="/",
                        httponly=True, samesite="lax", secure=settings.secure_cookies)


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=settings.secure_cookies)
