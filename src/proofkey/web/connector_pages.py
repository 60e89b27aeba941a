"""The two browser stops of a connector login: leaving for the upstream, and coming back.

``GET /interaction/{handle}/connectors/{name}`` (a link on the login page, or where
``idp_hint=NAME`` at /authorize leads) sends the browser to the upstream;
``GET /connectors/{name}/callback`` is the exact redirect URI registered there. Both answer
with a 303 (``no-store``), an error page, or the error redirect to the client.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proofkey.connectors import login
from proofkey.errors import InvalidRequest, OAuthError
from proofkey.flows import interaction as flow
from proofkey.flows.authorize import Redirect
from proofkey.protocol.params import parse_urlencoded
from proofkey.protocol.responses import NO_STORE_HEADERS

from .cookies import SESSION_COOKIE, browser_secret, set_browser_cookie, set_session_cookie
from .pages import render_error
from .services import services_of

__all__ = ["connector_callback", "connector_start"]


def _see_other(request: Request, url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update({**NO_STORE_HEADERS, "Referrer-Policy": "no-referrer"})
    set_browser_cookie(response, request, browser_secret(request), services_of(request).settings)
    return response


async def connector_start(request: Request) -> Response:
    services = services_of(request)
    handle, name = request.path_params["handle"], request.path_params["name"]
    secret = browser_secret(request)
    try:
        if len(handle) > 64:
            raise InvalidRequest("unknown sign-in request", redirectable=False)
        pending, _client = await flow.load_pending(
            handle, secret, interactions=services.store, clients=services.clients,
            ctx=services.ctx)
        target = await login.start(name, handle, pending, secret,
                                   connectors=services.connectors, store=services.store,
                                   limiter=services.limiter, ctx=services.ctx)
    except OAuthError as error:
        return render_error(request, error)
    return _see_other(request, target.url if isinstance(target, Redirect) else target)


async def connector_callback(request: Request) -> Response:
    services = services_of(request)
    try:
        query = parse_urlencoded(request.scope.get("query_string", b""),
                                 max_bytes=services.settings.max_query_bytes)
        outcome = await login.callback(
            request.path_params["name"], str(request.url), query, browser_secret(request),
            request.cookies.get(SESSION_COOKIE), connectors=services.connectors,
            store=services.store, ctx=services.ctx)
    except OAuthError as error:
        error.redirectable = False
        return render_error(request, error)
    if isinstance(outcome, Redirect):
        return _see_other(request, outcome.url)
    response = _see_other(request, outcome.url)
    set_session_cookie(response, outcome.session_handle, services.settings)
    return response
