"""The logout endpoint (OIDC RP-Initiated Logout 1.0) and the account page's session control.

``/logout`` (GET and POST, §2) checks the request with ``flows.logout.plan_logout``: a refusal
is an error page, never a redirect; without a valid ``id_token_hint`` for the signed-in user
the user confirms on a page first (a CSRF-protected POST to ``/logout/confirm``); afterwards
the browser goes to the client's registered post-logout URI (``state`` added) or to a plain
"You are signed out" page. ``/account`` lists the user's sessions and the apps holding their
grants; ending a session or disconnecting an app is a CSRF-protected POST. Every page has the
headers of ``pages.PAGE_HEADERS`` (no-store, no framing, strict CSP).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from proofkey.errors import InvalidRequest, OAuthError
from proofkey.flows import interaction as flow
from proofkey.flows import logout as logout_flow
from proofkey.models import Client, Grant, Session
from proofkey.protocol.logout import LogoutRequest, parse_logout_request
from proofkey.protocol.params import parse_urlencoded

from .cookies import browser_secret, clear_session_cookie, current_session
from .forms import read_form
from .pages import render_error, render_page, see_other
from .services import services_of

__all__ = ["account", "account_disconnect", "account_end_session", "logout", "logout_confirm"]

_CONFIRM, _ACCOUNT = "logout", "account"


def _when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def _afterwards(request: Request, target: str | None) -> Response:
    """To the registered post-logout URI, or the signed-out page; the session cookie cleared."""
    services = services_of(request)
    response = see_other(target) if target else render_page(request, "logged_out.html")
    clear_session_cookie(response, services.settings)
    return response


async def _params(request: Request) -> Mapping[str, str]:
    if request.method == "POST":
        return await read_form(request, page=True)
    try:
        return parse_urlencoded(request.scope.get("query_string", b""),
                                max_bytes=services_of(request).settings.max_query_bytes)
    except OAuthError as error:
        error.redirectable = False
        raise


async def logout(request: Request) -> Response:
    """§2: the RP sends the browser here by GET or POST."""
    services = services_of(request)
    session = await current_session(request)
    try:
        asked = parse_logout_request(await _params(request))
        plan = await logout_flow.plan_logout(asked, session=session, clients=services.clients,
                                             minter=services.minter, ctx=services.ctx)
    except OAuthError as error:
        return render_error(request, error)
    if session is None:  # nobody to sign out here
        return _afterwards(request, plan.target)
    if not plan.confirm:
        await logout_flow.end_session(
            session, how="rp_initiated", client_id=plan.client.client_id if plan.client else None,
            sessions=services.store, accounts=services.store, clients=services.clients,
            ctx=services.ctx)
        return _afterwards(request, plan.target)
    return render_page(request, "logout_confirm.html", client=plan.client,
                       hint_ignored=plan.hint_ignored, action="/logout/confirm",
                       post_logout_redirect_uri=asked.post_logout_redirect_uri or "",
                       state=asked.state or "",
                       csrf=flow.csrf_token(browser_secret(request), _CONFIRM))


async def logout_confirm(request: Request) -> Response:
    """The user confirmed on the page: the request is checked again (without the hint, whose
    client the form names), then the session ends."""
    services = services_of(request)
    session = await current_session(request)
    try:
        form = await read_form(request, page=True)
        flow.check_csrf(browser_secret(request), _CONFIRM, form.get("csrf"))
        asked = parse_logout_request(form)
        plan = await logout_flow.plan_logout(
            LogoutRequest(None, asked.client_id, asked.post_logout_redirect_uri, asked.state),
            session=session, clients=services.clients, minter=services.minter,
            ctx=services.ctx)
    except OAuthError as error:
        return render_error(request, error)
    if session is not None:
        await logout_flow.end_session(
            session, how="rp_initiated", client_id=plan.client.client_id if plan.client else None,
            sessions=services.store, accounts=services.store, clients=services.clients,
            ctx=services.ctx)
    return _afterwards(request, plan.target)


async def _apps(grants: list[Grant], request: Request) -> list[dict[str, object]]:
    """One entry per client holding grants: its name, scopes and how many grants."""
    services = services_of(request)
    by_client: dict[str, list[Grant]] = {}
    for grant in grants:
        by_client.setdefault(grant.client_id, []).append(grant)
    apps = []
    for client_id, held in sorted(by_client.items()):
        client: Client | None = await services.clients.get_client(client_id)
        apps.append({"client_id": client_id,
                     "name": client.name if client and client.name else client_id,
                     "scopes": sorted({s for g in held for s in g.scope}),
                     "since": _when(min(g.created_at for g in held)), "grants": len(held)})
    return apps


def _session_rows(sessions: list[Session], current: Session) -> list[dict[str, object]]:
    return [{"id": s.session_digest, "created": _when(s.auth_time),
             "expires": _when(s.expires_at),
             "current": s.session_digest == current.session_digest} for s in sessions]


async def account(request: Request) -> Response:
    services = services_of(request)
    session = await current_session(request)
    user = await services.store.get_user(session.user_id) if session else None
    csrf = flow.csrf_token(browser_secret(request), _ACCOUNT)
    if session is None or user is None:
        return render_page(request, "account.html", user=None, csrf=csrf)
    now = services.ctx.now()
    return render_page(
        request, "account.html", user=user, csrf=csrf,
        sessions=_session_rows(await services.store.list_sessions(user.user_id, now), session),
        apps=await _apps(await services.store.list_grants(user.user_id, now), request))


async def _signed_in_form(request: Request) -> tuple[Session, Mapping[str, str]]:
    form = await read_form(request, page=True)
    flow.check_csrf(browser_secret(request), _ACCOUNT, form.get("csrf"))
    session = await current_session(request)
    if session is None:
        raise InvalidRequest("you are not signed in", redirectable=False)
    return session, form


async def account_end_session(request: Request) -> Response:
    """End one of the signed-in user's sessions (this one too: then signed out here)."""
    services = services_of(request)
    try:
        session, form = await _signed_in_form(request)
        target = form.get("session", "")
        if len(target) > 64 or not await logout_flow.end_other_session(
                session.user_id, target, accounts=services.store, clients=services.clients,
                ctx=services.ctx):
            raise InvalidRequest("that session has ended already", redirectable=False)
    except OAuthError as error:
        return render_error(request, error)
    response = see_other("/account")
    if target == session.session_digest:
        clear_session_cookie(response, services.settings)
    return response


async def account_disconnect(request: Request) -> Response:
    """Take back an app's access: its grants revoked (refresh tokens stop), consent forgotten."""
    services = services_of(request)
    try:
        session, form = await _signed_in_form(request)
        client_id = form.get("client_id", "")
        if not client_id or len(client_id) > 2000:
            raise InvalidRequest("choose an app to disconnect", redirectable=False)
        await logout_flow.disconnect_app(session.user_id, client_id, accounts=services.store,
                                         ctx=services.ctx)
    except OAuthError as error:
        return render_error(request, error)
    return see_other("/account")
