"""What every console page shares: the admin check, the page headers, CSRF and rendering.

Pages are the HTML pages of ``web.pages`` (autoescaped templates, ``Cache-Control: no-store``,
no framing, no referrer, a CSP without any inline script or style) with ``form-action 'self'``
added. The console cookie ``pk_admin`` holds a random handle whose digest keys the console
session (``flows.console_auth``): HttpOnly, SameSite=Strict, ``Path=/admin``, Secure on an
https issuer. Every form carries a CSRF token: the HMAC of the browser secret for the login
form, and for the signed-in forms one bound to the console session as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from proofkey.errors import OAuthError
from proofkey.flows import console_auth
from proofkey.flows import interaction as flow
from proofkey.models import AdminSession, User
from proofkey.observability.client_window import ClientDay
from proofkey.protocol.params import Params

from ..cookies import browser_secret
from ..forms import read_form
from ..pages import PAGE_HEADERS, render_error, render_page
from ..services import services_of

__all__ = ["ADMIN_COOKIE", "CONSOLE_CSP", "Admin", "clear_admin_cookie", "console_page",
           "login_redirect", "posted_form", "refused", "see_other_console", "set_admin_cookie",
           "signed_in", "traffic_of"]

ADMIN_COOKIE = "pk_admin"
CONSOLE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")
CONSOLE_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": CONSOLE_CSP}
NAV = (("clients", "/admin/clients", "Clients"), ("users", "/admin/users", "Users"),
       ("sessions", "/admin/sessions", "Sessions"), ("keys", "/admin/keys", "Keys"),
       ("audit", "/admin/audit", "Audit log"))


@dataclass(frozen=True, slots=True)
class Admin:
    """The signed-in administrator of a request, and the CSRF token of their forms."""

    session: AdminSession
    user: User
    csrf: str


def _csrf_purpose(session: AdminSession) -> str:
    return f"console:{session.session_digest}"


async def signed_in(request: Request) -> Admin | None:
    """The request's administrator, if its console cookie names a session that still holds."""
    services = services_of(request)
    found = await console_auth.current_admin(
        request.cookies.get(ADMIN_COOKIE), users=services.store, sessions=services.store,
        ctx=services.ctx)
    if found is None:
        return None
    session, user = found
    return Admin(session, user, flow.csrf_token(browser_secret(request), _csrf_purpose(session)))


async def posted_form(request: Request, admin: Admin) -> Params:
    """A signed-in form's fields, its CSRF token checked (InvalidRequest, shown as a page)."""
    form = await read_form(request, page=True)
    flow.check_csrf(browser_secret(request), _csrf_purpose(admin.session), form.get("csrf"))
    return form


def console_page(request: Request, template: str, *, admin: Admin | None, active: str = "",
                 status: int = 200, **values: Any) -> HTMLResponse:
    response = render_page(request, f"console/{template}", status=status, admin=admin,
                           nav=NAV, active=active, **values)
    response.headers.update(CONSOLE_HEADERS)
    return response


def login_redirect() -> Response:
    return see_other_console("/admin/login")


def see_other_console(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return response


def refused(request: Request, error: OAuthError) -> HTMLResponse:
    """A console form that cannot be carried out: the error page, with the console's CSP."""
    response = render_error(request, error)
    response.headers.update(CONSOLE_HEADERS)
    return response


def set_admin_cookie(response: Response, request: Request, handle: str) -> None:
    services = services_of(request)
    response.set_cookie(ADMIN_COOKIE, handle, max_age=console_auth.CONSOLE_SESSION_SECONDS,
                        path="/admin", httponly=True, samesite="strict",
                        secure=services.settings.secure_cookies)


def clear_admin_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(ADMIN_COOKIE, path="/admin", httponly=True, samesite="strict",
                           secure=services_of(request).settings.secure_cookies)


def traffic_of(request: Request) -> ClientDay:
    """The status board's per-client day of this process (``observability.client_window``)."""
    return cast(ClientDay, request.app.state.observers.status.clients)
