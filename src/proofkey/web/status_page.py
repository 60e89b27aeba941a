"""``/status``: the service-level page for operators, behind the admin token.

It needs ``Authorization: Bearer <admin_token>`` or the cookie its login form sets (HttpOnly,
SameSite=Strict, ``Path=/status``, valid 8 hours, an HMAC of the expiry keyed by the token — the
token itself is never stored in the browser). Without an ``admin_token`` the page does not exist
(404). Its charts are inline SVG drawn on the server: the page runs no script.

Wrong tokens, by header or by form, count against the caller's address in the shared rate
limiter (Redis when configured): after ``FAILURES_PER_WINDOW`` in ``WINDOW_SECONDS`` the page
answers 429 with ``Retry-After`` before looking at the credential, so the answer says nothing
about a guess. The token itself must carry 256 bits (settings refuse a weaker one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from proofkey.errors import OAuthError
from proofkey.observability.status import StatusBoard
from proofkey.protocol.params import parse_urlencoded
from proofkey.settings import Settings
from proofkey.store.base import RateLimiter

__all__ = ["FAILURES_PER_WINDOW", "STATUS_COOKIE", "StatusPage"]

_HERE = Path(__file__).parent
STATUS_COOKIE = "pk_status"
COOKIE_SECONDS = 8 * 3600
FAILURES_PER_WINDOW = 20
WINDOW_SECONDS = 60
STATUS_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}


class StatusPage:
    """The three routes of the page: show, login (form), logout."""

    def __init__(self, settings: Settings, status: StatusBoard, limiter: RateLimiter) -> None:
        self._token = settings.admin_token.encode()
        self._secure = settings.secure_cookies
        self._issuer = settings.effective_issuer
        self._status = status
        self._limiter = limiter
        self._templates = Environment(loader=FileSystemLoader(_HERE / "templates"),
                                      autoescape=select_autoescape(default=True),
                                      auto_reload=False)

    def _mac(self, expires: int) -> str:
        mac = hmac.new(self._token, f"proofkey-status|{expires}".encode(),
                       hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def _cookie_valid(self, request: Request) -> bool:
        cookie = request.cookies.get(STATUS_COOKIE, "")
        expires, _, mac = cookie.partition(".")
        if not expires.isdigit() or len(expires) > 12 or int(expires) < time.time():
            return False
        return hmac.compare_digest(mac.encode(), self._mac(int(expires)).encode())

    def _token_valid(self, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), self._token)

    @staticmethod
    def _key(request: Request) -> str:
        return f"status:{request.client.host if request.client else '-'}"

    async def _throttled(self, request: Request) -> Response | None:
        """A 429 page while the caller's address has used up its failures, else None."""
        wait = await self._limiter.retry_after(self._key(request), FAILURES_PER_WINDOW,
                                               WINDOW_SECONDS, time.time())
        if not wait:
            return None
        limited = self._render(429, charts=None, message="Too many attempts; wait a minute.")
        limited.headers["Retry-After"] = str(wait)
        return limited

    async def _failed(self, request: Request) -> None:
        await self._limiter.hit(self._key(request), WINDOW_SECONDS, time.time())

    def _render(self, status_code: int, **values: Any) -> HTMLResponse:
        html = self._templates.get_template("status.html").render(issuer=self._issuer,
                                                                 **values)
        response = HTMLResponse(html, status_code=status_code, headers=STATUS_HEADERS)
        if status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="proofkey-status"'
        return response

    async def show(self, request: Request) -> Response:
        header = request.headers.get("authorization")
        if header is not None:
            limited = await self._throttled(request)
            if limited is not None:
                return limited
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not self._token_valid(value.strip()):
                await self._failed(request)
                return self._render(401, charts=None, message="That token is not valid.")
        elif not self._cookie_valid(request):
            return self._render(401, charts=None, message=None)
        return self._render(200, charts=self._status.charts(), totals=self._status.totals(),
                            generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))

    async def login(self, request: Request) -> Response:
        limited = await self._throttled(request)
        if limited is not None:
            return limited
        try:
            form = parse_urlencoded(await request.body(), max_bytes=4096)
        except OAuthError:
            form = {}
        if not self._token_valid(form.get("token", "")):
            await self._failed(request)
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
