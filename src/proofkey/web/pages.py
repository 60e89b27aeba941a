"""The HTML pages: login and consent of an authorization, the account page, and error pages.

Every page is rendered with autoescaping and sent with ``Cache-Control: no-store``,
``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'`` (clickjacking, RFC 6749 §10.13),
and ``Referrer-Policy: no-referrer``. Every POST carries a CSRF token derived from the
browser cookie (``flows.interaction.csrf_token``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from proofkey.demo import DEMO_SPA_CLIENT_ID
from proofkey.errors import InvalidRequest, OAuthError, RateLimited
from proofkey.flows import interaction as flow
from proofkey.flows import logout as logout_flow
from proofkey.flows.authorize import Redirect
from proofkey.models import Client, PendingAuthorization, Session, User

from .addresses import client_ip
from .cookies import (
    SESSION_COOKIE,
    browser_secret,
    clear_session_cookie,
    current_session,
    set_browser_cookie,
    set_session_cookie,
)
from .forms import read_form
from .services import services_of

__all__ = [
    "LoginRefused",
    "SignedIn",
    "account_login",
    "account_logout",
    "demo",
    "favicon",
    "index",
    "interaction",
    "interaction_consent",
    "interaction_login",
    "password_login",
    "render_error",
    "render_missing",
    "render_page",
    "see_other",
]

_STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}
SCOPE_TEXT = {
    "openid": "Sign you in (your user identifier)",
    "profile": "Your username and name",
    "email": "Your email address",
    "offline_access": "Stay signed in when you are away (refresh tokens)",
}


def _render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    services = services_of(request)
    html = services.templates.get_template(template).render(
        issuer=services.settings.effective_issuer, **values)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    set_browser_cookie(response, request, browser_secret(request), services.settings)
    return response


def render_error(request: Request, error: OAuthError) -> HTMLResponse:
    """An error page: shown when a redirect to the client cannot be trusted or is not due."""
    response = _render(request, "error.html", status=error.status_code,
                       error=error.error, description=error.description)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def render_missing(request: Request, status: int) -> HTMLResponse:
    """The page for a browser that asked for an address with nothing (or nothing to GET)."""
    if request.url.path.startswith("/status"):
        description = ("The status page is not served at this address. It needs "
                       "PROOFKEY_ADMIN_TOKEN, and moves to PROOFKEY_ADMIN_PORT when that is set.")
    else:
        description = "There is no page at this address."
    return _render(request, "error.html", status=status,
                   error="not_found" if status == 404 else "method_not_allowed",
                   description=description)


def _see_other(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return response


async def _form(request: Request) -> dict[str, str]:
    """The posted page form (as a dict, the type ``_authenticate`` takes)."""
    return dict(await read_form(request, page=True))


async def _load(request: Request) -> tuple[str, PendingAuthorization, Client]:
    services = services_of(request)
    handle = request.path_params["handle"]
    if len(handle) > 64:
        raise InvalidRequest("unknown sign-in request", redirectable=False)
    pending, client = await flow.load_pending(
        handle, browser_secret(request), interactions=services.store, clients=services.clients,
        ctx=services.ctx)
    return handle, pending, client


async def _login_page(request: Request, handle: str, client: Client, *, status: int = 200,
                      message: str | None = None, username: str = "") -> HTMLResponse:
    """The login page: the password form (unless ``password_login`` is off) and a link per
    connector (docs/federation.md)."""
    services = services_of(request)
    links = [(c.name, f"/interaction/{handle}/connectors/{c.name}")
             for c in await services.connectors.all()]
    return _render(request, "login.html", status=status, client=client, message=message,
                   username=username, action=f"/interaction/{handle}/login",
                   password_login=services.settings.password_login, connectors=links,
                   csrf=flow.csrf_token(browser_secret(request), f"login:{handle}"))


async def interaction(request: Request) -> Response:
    try:
        handle, pending, client = await _load(request)
    except OAuthError as error:
        return render_error(request, error)
    if pending.user_id is None:
        return await _login_page(request, handle, client)
    return _render(request, "consent.html", client=client,
                   scopes=[(s, SCOPE_TEXT.get(s, s)) for s in pending.scope],
                   action=f"/interaction/{handle}/consent",
                   csrf=flow.csrf_token(browser_secret(request), f"consent:{handle}"))


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A password login that succeeded: the user and their fresh session (and its handle)."""

    user: User
    handle: str
    session: Session


@dataclass(frozen=True, slots=True)
class LoginRefused:
    """A password login that did not: what the login page says, with which status."""

    status: int  # 401: wrong username or password; 429: throttled (not checked); 403: off
    message: str
    retry_after: int | None = None

    def answer(self, page: HTMLResponse) -> HTMLResponse:
        if self.retry_after is not None:
            page.headers["Retry-After"] = str(self.retry_after)
        return page


async def password_login(request: Request, form: Mapping[str, str],
                         client_id: str | None) -> SignedIn | LoginRefused:
    """The one password login of the pages (/interaction, /account, /device): the throttled
    check of ``flows.interaction.authenticate`` (reserve, verify, release), then a fresh
    session replacing the browser's previous one."""
    services = services_of(request)
    if not services.settings.password_login:  # connectors only (docs/federation.md)
        return LoginRefused(403, "Password sign-in is turned off here; use an identity "
                                 "provider.")
    try:
        user = await flow.authenticate(
            form.get("username", ""), form.get("password", ""), users=services.store,
            limiter=services.limiter, client_ip=client_ip(request),
            client_id=client_id, ctx=services.ctx)
    except flow.BadCredentials:
        return LoginRefused(401, "Incorrect username or password.")
    except RateLimited as error:
        return LoginRefused(429, "Too many failed attempts. Try again later.",
                            error.retry_after)
    handle, session = await flow.start_session(
        user, sessions=services.store, previous=request.cookies.get(SESSION_COOKIE),
        ctx=services.ctx)
    return SignedIn(user, handle, session)


async def interaction_login(request: Request) -> Response:
    services = services_of(request)
    try:
        handle, pending, client = await _load(request)
        form = await _form(request)
        flow.check_csrf(browser_secret(request), f"login:{handle}", form.get("csrf"))
    except OAuthError as error:
        return render_error(request, error)
    login = await password_login(request, form, client.client_id)
    if isinstance(login, LoginRefused):
        return login.answer(await _login_page(request, handle, client, status=login.status,
                                              message=login.message,
                                              username=form.get("username", "")[:200]))
    session_handle, session = login.handle, login.session
    try:
        outcome = await flow.after_login(handle, pending, session, client_profile=client.profile,
                                         interactions=services.store,
                                         consents=services.store, codes=services.store,
                                         ctx=services.ctx)
    except OAuthError as error:
        return render_error(request, error)
    target = outcome.url if isinstance(outcome, Redirect) else f"/interaction/{handle}"
    response = _see_other(target)
    set_session_cookie(response, session_handle, services.settings)
    return response


async def interaction_consent(request: Request) -> Response:
    services = services_of(request)
    try:
        handle, pending, client = await _load(request)
        form = await _form(request)
        flow.check_csrf(browser_secret(request), f"consent:{handle}", form.get("csrf"))
        session = await current_session(request)
        if session is None or session.user_id != pending.user_id:
            raise InvalidRequest("your sign-in session has ended; start again",
                                 redirectable=False)
        decision = form.get("decision")
        if decision not in {"allow", "deny"}:
            raise InvalidRequest("choose allow or deny", redirectable=False)
        outcome = await flow.decide_consent(
            handle, pending, decision == "allow", client_profile=client.profile,
            interactions=services.store,
            consents=services.store, codes=services.store, ctx=services.ctx)
    except OAuthError as error:
        return render_error(request, error)
    return _see_other(outcome.url)


async def account_login(request: Request) -> Response:
    services = services_of(request)
    try:
        form = await _form(request)
        flow.check_csrf(browser_secret(request), "account", form.get("csrf"))
    except OAuthError as error:
        return render_error(request, error)
    login = await password_login(request, form, None)
    if isinstance(login, LoginRefused):
        return login.answer(_render(
            request, "account.html", status=login.status, user=None, message=login.message,
            csrf=flow.csrf_token(browser_secret(request), "account")))
    response = _see_other("/account")
    set_session_cookie(response, login.handle, services.settings)
    return response


async def account_logout(request: Request) -> Response:
    services = services_of(request)
    try:
        form = await _form(request)
        flow.check_csrf(browser_secret(request), "account", form.get("csrf"))
    except OAuthError as error:
        return render_error(request, error)
    session = await current_session(request)
    if session is not None:  # as a logout: the clients' revoke_on_logout applies
        await logout_flow.end_session(session, how="account", client_id=None,
                                      sessions=services.store, accounts=services.store,
                                      clients=services.clients, ctx=services.ctx)
    response = _see_other("/account")
    clear_session_cookie(response, services.settings)
    return response


async def favicon(request: Request) -> Response:
    """``/favicon.ico``, which browsers ask for on every site: the SVG icon the pages link."""
    return FileResponse(_STATIC / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


async def index(request: Request) -> Response:
    return _render(request, "index.html")


async def demo(request: Request) -> Response:
    """The browser PKCE demo: a static single-page app, scripts from this origin only."""
    response = _render(request, "demo.html", client_id=DEMO_SPA_CLIENT_ID,
                       logout_csrf=flow.csrf_token(browser_secret(request), "account"))
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
    return response


render_page = _render  # for the other page modules (logout_pages)
see_other = _see_other
