"""The console's door: ``/admin`` (to the catalog, or to sign in), the sign-in form and sign out.

Signing in is the throttled password check of every login; a user without the admin role gets
403 and the same form again; wrong credentials 401, throttled 429 with ``Retry-After``. A
successful sign-in replaces any console session of the browser (no fixation).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proofkey.errors import OAuthError, RateLimited
from proofkey.flows import console_auth
from proofkey.flows import interaction as flow

from ..addresses import client_ip
from ..cookies import browser_secret
from ..forms import read_form
from ..services import services_of
from .common import (
    ADMIN_COOKIE,
    clear_admin_cookie,
    console_page,
    login_redirect,
    posted_form,
    refused,
    see_other_console,
    set_admin_cookie,
    signed_in,
)

__all__ = ["home", "login", "login_form", "logout"]

_LOGIN = "console-login"


def _form(request: Request, *, status: int = 200, message: str | None = None,
          username: str = "") -> Response:
    return console_page(request, "login.html", admin=None, status=status, message=message,
                        username=username,
                        csrf=flow.csrf_token(browser_secret(request), _LOGIN))


async def home(request: Request) -> Response:
    if await signed_in(request) is None:
        return login_redirect()
    return see_other_console("/admin/clients")


async def login_form(request: Request) -> Response:
    if await signed_in(request) is not None:
        return see_other_console("/admin/clients")
    return _form(request)


async def login(request: Request) -> Response:
    services = services_of(request)
    try:
        form = await read_form(request, page=True)
        flow.check_csrf(browser_secret(request), _LOGIN, form.get("csrf"))
    except OAuthError as error:
        return refused(request, error)
    username = form.get("username", "")
    try:
        opened = await console_auth.console_login(
            username, form.get("password", ""), users=services.store, sessions=services.store,
            limiter=services.limiter, client_ip=client_ip(request),
            previous=request.cookies.get(ADMIN_COOKIE), ctx=services.ctx)
    except flow.BadCredentials:
        return _form(request, status=401, message="Incorrect username or password.",
                     username=username[:200])
    except RateLimited as error:
        page = _form(request, status=429, message="Too many failed attempts. Try again later.",
                     username=username[:200])
        page.headers["Retry-After"] = str(error.retry_after)
        return page
    except console_auth.NotAdmin:
        return _form(request, status=403, username=username[:200],
                     message="This account may not use the console: it has no admin role.")
    response = see_other_console("/admin/clients")
    set_admin_cookie(response, request, opened.handle)
    return response


async def logout(request: Request) -> Response:
    services = services_of(request)
    admin = await signed_in(request)
    if admin is None:
        return login_redirect()
    try:
        await posted_form(request, admin)
    except OAuthError as error:
        return refused(request, error)
    await console_auth.console_logout(admin.session, sessions=services.store, ctx=services.ctx)
    response = login_redirect()
    clear_admin_cookie(response, request)
    return response
