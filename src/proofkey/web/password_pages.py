"""``/account/password/set``: where a user created with a password-set link chooses their
password (flows/user_admin). Server-rendered like the other pages (no-store, strict CSP,
CSRF); the link's token travels in the query once, then in the posted form, and is used up
by the first successful post. Access logs never record the query (observability/logs)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proofkey.errors import OAuthError
from proofkey.flows import interaction as flow
from proofkey.flows import user_admin
from proofkey.flows.admin import AdminError

from .cookies import browser_secret
from .forms import read_form
from .pages import render_error, render_page
from .services import services_of

__all__ = ["password_set", "password_set_submit"]

_PURPOSE = "password-set"
_INVALID = ("This link does not work: it was used already, has expired or was replaced by a "
            "newer one. Ask your administrator for a new link.")


def _page(request: Request, token: str, *, status: int = 200, message: str | None = None,
          username: str = "", done: bool = False) -> Response:
    return render_page(request, "password_set.html", status=status, token=token,
                       message=message, username=username, done=done,
                       csrf=flow.csrf_token(browser_secret(request), _PURPOSE))


async def password_set(request: Request) -> Response:
    services = services_of(request)
    token = request.query_params.get("token", "")
    user = await user_admin.check_password_link(services.store, token, services.ctx.now())
    if user is None:
        return _page(request, "", status=400, message=_INVALID)
    return _page(request, token, username=user.username)


async def password_set_submit(request: Request) -> Response:
    services = services_of(request)
    try:
        form = dict(await read_form(request, page=True))
        flow.check_csrf(browser_secret(request), _PURPOSE, form.get("csrf"))
    except OAuthError as error:
        return render_error(request, error)
    token, password = form.get("token", ""), form.get("password", "")
    now = services.ctx.now()
    user = await user_admin.check_password_link(services.store, token, now)
    if user is None:
        return _page(request, "", status=400, message=_INVALID)
    if password != form.get("confirm", ""):
        return _page(request, token, status=400, username=user.username,
                     message="The two passwords differ.")
    try:
        changed = await user_admin.set_password_with_link(services.store, token, password, now)
    except AdminError as exc:
        return _page(request, token, status=400, username=user.username, message=str(exc))
    if changed is None:
        return _page(request, "", status=400, message=_INVALID)
    return _page(request, "", username=changed.username, done=True)
