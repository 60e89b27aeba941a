"""``GET /authorize`` as a plain ASGI app: a browser with a session and remembered consent gets
its 303 to the client without a response object.

Half of every login round trip is this endpoint, and with an established session it renders
nothing: it parses the query, calls ``flows.authorize.start`` once and answers with a
redirect (docs/performance.md). That redirect is written here directly (``Location`` and the
``no-store`` headers); whatever needs more — an error page, a new browser cookie — goes
through the Starlette objects as before, and every outcome and header is the one the flow
decides. Like ``POST /token`` it is served outside the router (``app.ProofkeyApp``) behind the
same size caps, ``nosniff`` and last-resort handler; a store that is down gets the same
retryable page as through the router.
"""

from __future__ import annotations

import re
from typing import cast
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from proofkey.errors import OAuthError
from proofkey.flows import authorize as authorize_flow
from proofkey.flows import par as par_flow
from proofkey.protocol.params import parse_urlencoded
from proofkey.protocol.responses import NO_STORE_HEADERS
from proofkey.store.base import StoreUnavailable

from .addresses import client_ip
from .cookies import BROWSER_COOKIE, browser_secret, current_session, set_browser_cookie
from .middleware import answer_unexpected
from .pages import render_error
from .services import Services

__all__ = ["AuthorizeEndpoint"]

# What Starlette's RedirectResponse leaves unquoted in a Location: a URL made only of these
# goes out as it is, any other is quoted exactly as RedirectResponse would.
_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"
_PLAIN_LOCATION = re.compile(r"[A-Za-z0-9_.\-~:/%#?=@\[\]!$&'()*+,;]*").fullmatch
_NO_STORE = [(k.lower().encode("latin-1"), v.encode("latin-1"))
             for k, v in NO_STORE_HEADERS.items()]


def _location(url: str) -> bytes:
    if not _PLAIN_LOCATION(url):
        url = quote(url, safe=_LOCATION_SAFE)
    return url.encode("latin-1")


class AuthorizeEndpoint:
    """The RFC 6749 §3.1 authorization endpoint (GET only: the router answers other methods)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            answer = await _answer(request, cast(Services, scope["app"].state.services))
        except StoreUnavailable as exc:  # the page a browser can retry from, as elsewhere
            answer = await answer_unexpected(request, exc)
        if isinstance(answer, Response):
            await answer(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"content-length", b"0"), (b"location", _location(answer)),
                                *_NO_STORE]})
        await send({"type": "http.response.body", "body": b""})


async def _answer(request: Request, services: Services) -> Response | str:
    """The response, or only the URL of a 303 that needs nothing else (no cookie to set)."""
    try:
        params = parse_urlencoded(request.scope.get("query_string", b""),
                                  max_bytes=services.settings.max_query_bytes)
    except OAuthError as error:
        error.redirectable = False
        return render_error(request, error)
    pushed = params.get("request_uri", "").startswith(par_flow.REQUEST_URI_PREFIX)
    if pushed:  # RFC 9126 §4: the parameters come from the pushed request, used once
        try:
            params = await par_flow.resolve(params, pushed=services.store, ctx=services.ctx)
        except OAuthError as error:
            return render_error(request, error)
    secret = browser_secret(request)
    session = await current_session(request)
    outcome = await authorize_flow.start(
        params, clients=services.clients, interactions=services.store, consents=services.store,
        codes=services.store, challenges=services.store, session=session, browser_id=secret,
        ctx=services.ctx, limiter=services.limiter, address=client_ip(request), pushed=pushed,
        resources=services.resources)
    if isinstance(outcome, authorize_flow.ShowError):
        return render_error(request, outcome.error)
    if isinstance(outcome, authorize_flow.Redirect):
        url = outcome.url
    elif params.get("idp_hint"):  # straight to one connector (docs/federation.md)
        url = f"/interaction/{outcome.handle}/connectors/{quote(params['idp_hint'], safe='')}"
    else:
        url = f"/interaction/{outcome.handle}"
    if request.cookies.get(BROWSER_COOKIE) == secret:  # nothing to set: the lean answer
        return url
    response: Response = RedirectResponse(url, status_code=303)
    response.headers.update(NO_STORE_HEADERS)
    set_browser_cookie(response, request, secret, services.settings)
    return response
