"""``/admin/users`` (list, search) and ``/admin/sessions`` (one user's login sessions; ending
one is a CSRF-protected POST) — ``flows.console_users``."""

from __future__ import annotations

import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from proofkey.errors import InvalidRequest, OAuthError
from proofkey.flows import console_users

from ..services import services_of
from .common import console_page, login_redirect, posted_form, refused, see_other_console, signed_in

__all__ = ["end_session", "sessions", "users", "when"]


def when(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def _query(request: Request, name: str) -> str:
    return request.query_params.get(name, "")[:200]


async def users(request: Request) -> Response:
    admin = await signed_in(request)
    if admin is None:
        return login_redirect()
    query = _query(request, "q")
    found = await console_users.find_users(query, users=services_of(request).store)
    return console_page(request, "users.html", admin=admin, active="users", query=query,
                        found=found, when=when)


async def sessions(request: Request) -> Response:
    admin = await signed_in(request)
    if admin is None:
        return login_redirect()
    services = services_of(request)
    username = _query(request, "user")
    listed = None
    if username:
        listed = await console_users.user_sessions(username, users=services.store,
                                                   accounts=services.store, ctx=services.ctx)
    return console_page(request, "sessions.html", admin=admin, active="sessions",
                        username=username, listed=listed, when=when,
                        status=404 if username and listed is None else 200)


async def end_session(request: Request) -> Response:
    admin = await signed_in(request)
    if admin is None:
        return login_redirect()
    services = services_of(request)
    try:
        form = await posted_form(request, admin)
        username = form.get("user", "")
        found = await console_users.user_sessions(username, users=services.store,
                                                  accounts=services.store, ctx=services.ctx)
        if found is None or not await console_users.end_user_session(
                found.user.user_id, form.get("session", ""), admin=admin.user,
                accounts=services.store, clients=services.store, ctx=services.ctx):
            raise InvalidRequest("that session has ended already", redirectable=False)
    except OAuthError as error:
        return refused(request, error)
    return see_other_console(f"/admin/sessions?user={quote(username, safe='')}")
