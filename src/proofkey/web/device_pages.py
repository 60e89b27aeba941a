"""The device grant at the HTTP edge (RFC 8628): the device authorization endpoint and the pages
where a person signs in, enters the user code and approves or denies.

§3.1–3.2: ``POST /device_authorization`` authenticates the client as the token endpoint does and
answers JSON with ``Cache-Control: no-store``; errors are RFC 6749 §5.2 JSON. §3.3: ``/device``
signs the user in with the same login as the interaction pages (CSRF, throttling, a fresh
session), takes the code (wrong codes are throttled per address, §5.1) and shows the client, the
scopes and the code to compare with the device's (§5.4, remote phishing) before Allow or Deny.
Nothing ties the request to a browser: the user code is the binding, so the user may approve in
any browser they sign in with. Pages carry the headers of ``pages.PAGE_HEADERS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from proofkey.errors import InvalidRequest, OAuthError, RateLimited
from proofkey.flows import device as device_flow
from proofkey.flows import interaction
from proofkey.flows.client_auth import authenticate_client
from proofkey.models import Session, User
from proofkey.protocol.credentials import read_client_credentials
from proofkey.protocol.device import format_user_code, normalize_user_code
from proofkey.protocol.params import Params
from proofkey.protocol.responses import NO_STORE_HEADERS

from .addresses import client_ip
from .cookies import (
    browser_secret,
    current_session,
    set_browser_cookie,
    set_session_cookie,
)
from .forms import read_form
from .middleware import error_response
from .pages import PAGE_HEADERS, SCOPE_TEXT, LoginRefused, password_login, render_error
from .services import services_of

__all__ = ["device", "device_authorization", "device_decide", "device_login", "device_submit"]

_PURPOSE = "device"  # the CSRF purpose of every device form
_SHOWN_MAX = 32  # characters of a typed code echoed back into the form


@dataclass(frozen=True, slots=True)
class _SignedIn:
    session: Session
    user: User


async def device_authorization(request: Request) -> Response:
    """RFC 8628 §3.1: a device code and a user code for an authenticated client."""
    services = services_of(request)
    try:
        form = await read_form(request)
        credentials = read_client_credentials(request.headers.get("authorization"), form)
        client = await authenticate_client(credentials, services.clients,
                                           limiter=services.limiter,
                                           client_ip=client_ip(request), ctx=services.ctx,
                                           assertions=services.assertions)
        body = await device_flow.authorize_device(form, client, devices=services.store,
                                                  ctx=services.ctx, limiter=services.limiter,
                                                  address=client_ip(request),
                                                  resources=services.resources)
    except RateLimited as error:
        return error_response(error, {"Retry-After": str(error.retry_after)})
    except OAuthError as error:
        return error_response(error)
    return JSONResponse(body, headers=dict(NO_STORE_HEADERS))


# -- the user's side (§3.3) ----------------------------------------------------------------------


def _render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    services = services_of(request)
    secret = browser_secret(request)
    html = services.templates.get_template(template).render(
        issuer=services.settings.effective_issuer,
        csrf=interaction.csrf_token(secret, _PURPOSE), **values)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    set_browser_cookie(response, request, secret, services.settings)
    return response


def _shown(typed: str | None) -> str:
    """A typed code as the form shows it again: canonical (``BCDF-GHJK``) when it is one."""
    if not typed:
        return ""
    code = normalize_user_code(typed)
    return format_user_code(code) if code else typed[:_SHOWN_MAX]


def _login_page(request: Request, user_code: str, *, status: int = 200,
                message: str | None = None, username: str = "") -> HTMLResponse:
    return _render(request, "device_login.html", status=status, user_code=user_code,
                   message=message, username=username)


def _entry_page(request: Request, signed_in: _SignedIn, user_code: str, *, status: int = 200,
                message: str | None = None) -> HTMLResponse:
    return _render(request, "device_entry.html", status=status, user_code=user_code,
                   message=message, username=signed_in.user.username)


async def _signed_in(request: Request) -> _SignedIn | None:
    session = await current_session(request)
    user = await services_of(request).store.get_user(session.user_id) if session else None
    return _SignedIn(session, user) if session and user else None


async def _checked_form(request: Request) -> Params:
    """The posted form, after its CSRF token (RFC 6749 §10.12) is checked."""
    form = await read_form(request, page=True)
    interaction.check_csrf(browser_secret(request), _PURPOSE, form.get("csrf"))
    return form


def _see_other(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return response


async def device(request: Request) -> Response:
    """``GET /device[?user_code=…]``: sign in first, then the code form (pre-filled)."""
    user_code = _shown(request.query_params.get("user_code"))
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _login_page(request, user_code)
    return _entry_page(request, signed_in, user_code)


async def device_login(request: Request) -> Response:
    """``POST /device/login``: the interaction pages' login, then back to the code form."""
    services = services_of(request)
    try:
        form = await _checked_form(request)
    except OAuthError as error:
        return render_error(request, error)
    user_code = _shown(form.get("user_code"))
    login = await password_login(request, form, None)
    if isinstance(login, LoginRefused):
        return login.answer(_login_page(request, user_code, status=login.status,
                                        message=login.message,
                                        username=form.get("username", "")[:200]))
    query = f"?{urlencode({'user_code': user_code})}" if user_code else ""
    response = _see_other(f"/device{query}")
    set_session_cookie(response, login.handle, services.settings)
    return response


async def device_submit(request: Request) -> Response:
    """``POST /device``: look the typed code up (throttled) and ask the user to confirm."""
    services = services_of(request)
    try:
        form = await _checked_form(request)
    except OAuthError as error:
        return render_error(request, error)
    typed = form.get("user_code", "")
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _login_page(request, _shown(typed), message="Sign in to continue.")
    try:
        pending = await device_flow.find_request(
            typed, devices=services.store, limiter=services.limiter,
            client_ip=client_ip(request), ctx=services.ctx)
    except RateLimited as error:
        return render_error(request, error)
    except OAuthError as error:
        return _entry_page(request, signed_in, _shown(typed), status=400,
                           message=error.description)
    try:
        client = await services.clients.get_client(pending.client_id)
    except OAuthError:  # a metadata document that cannot be used any more
        client = None
    if client is None:  # removed since the device asked
        return _entry_page(request, signed_in, _shown(typed), status=400,
                           message="That code is not valid any more.")
    return _render(request, "device_confirm.html", client=client,
                   scopes=[(s, SCOPE_TEXT.get(s, s)) for s in pending.scope],
                   user_code=_shown(typed),
                   username=signed_in.user.username)


async def device_decide(request: Request) -> Response:
    """``POST /device/decide``: record Allow or Deny, exactly once."""
    services = services_of(request)
    try:
        form = await _checked_form(request)
        decision = form.get("decision")
        if decision not in {"allow", "deny"}:
            raise InvalidRequest("choose allow or deny", redirectable=False)
    except OAuthError as error:
        return render_error(request, error)
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _login_page(request, _shown(form.get("user_code")),
                           message="Your sign-in session has ended; sign in again.")
    try:
        pending = await device_flow.find_request(
            form.get("user_code", ""), devices=services.store, limiter=services.limiter,
            client_ip=client_ip(request), ctx=services.ctx)
        await device_flow.decide(pending, decision == "allow", signed_in.session,
                                 devices=services.store, ctx=services.ctx)
    except OAuthError as error:
        return render_error(request, error)
    return _render(request, "device_done.html", approved=decision == "allow")
