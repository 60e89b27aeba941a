"""``/status``: the service-level page for operators, behind the admin token.

It needs ``Authorization: Bearer <admin_token>`` or the cookie its login form sets (HttpOnly,
SameSite=Strict, ``Path=/status``, valid 8 hours, an HMAC of the expiry keyed by the token — the
token itself is never stored in the browser). Without an ``admin_token`` the page does not exist
(404). Its charts are inline SVG drawn on the server: the page runs no script.

Every attempt, by header or by form, is counted against the caller's address in the shared rate
limiter (Redis when configured) before the token is compared, and released when it was right:
after ``FAILURES_PER_WINDOW`` wrong ones in ``WINDOW_SECONDS`` the page answers 429 with
``Retry-After`` without looking at the credential, so the answer says nothing about a guess.
The token itself must carry 256 bits (settings refuse a weaker one).
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


async def _legacy_connectors(request: Request) -> list[str]:
    """Connectors marked legacy (no PKCE S256 advertised upstream), flagged on the page."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return []
    return [c.name for c in await services.connectors.all() if c.legacy]


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

    async def _attempt(self, request: Request, presented: str) -> Response | None:
        """Count the attempt before checking it (concurrent guesses cannot slip past the
        limit), release it if the token was right: None then, else the 401 or 429 page."""
        held = await self._limiter.reserve(self._key(request), FAILURES_PER_WINDOW,
                                           WINDOW_SECONDS, time.time())
        if not held.granted:
            limited = self._render(429, charts=None,
                                   message="Too many attempts; wait a minute.")
            limited.headers["Retry-After"] = str(held.retry_after)
            return limited
        if not self._token_valid(presented):
            return self._render(401, charts=None, message="That token is not valid.")
        await self._limiter.release(held)
        return None

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
            scheme, _, value = header.partition(" ")
            refused = await self._attempt(request,
                                          value.strip() if scheme.lower() == "bearer" else "")
            if refused is not None:
                return refused
        elif not self._cookie_valid(request):
            return self._render(401, charts=None, message=None)
        return self._render(200, charts=self._status.charts(), totals=self._status.totals(),
                            legacy_connectors=await _legacy_connectors(request),
                            generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))

    async def login(self, request: Request) -> Response:
        try:
            form = parse_urlencoded(await request.body(), max_bytes=4096)
        except OAuthError:
            form = {}
        refused = await self._attempt(request, form.get("token", ""))
        if refused is not None:
            return refused
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
