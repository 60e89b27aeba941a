"""Reading form posts (RFC 6749 §3.2, Appendix B): one content-type rule and one strict parser
for the protocol endpoints, the pages and the raw ``/token`` app.

An endpoint's error is JSON; a page's is rendered on the page and never redirects, so a page
form's errors are marked not redirectable and say "form" rather than "request body".
"""

from __future__ import annotations

from starlette.requests import Request

from proofkey.errors import InvalidRequest, OAuthError
from proofkey.protocol.params import Params, parse_urlencoded

from .services import services_of

__all__ = ["is_form", "read_form", "require_form"]

_FORM = "application/x-www-form-urlencoded"


def is_form(content_type: str | None) -> bool:
    """RFC 6749 §3.2: token requests are ``application/x-www-form-urlencoded``."""
    return (content_type or "").split(";", 1)[0].strip().lower() == _FORM


def require_form(content_type: str | None, *, page: bool = False) -> None:
    """Refuse a body that is not a form, before it is read."""
    if not is_form(content_type):
        if page:
            raise InvalidRequest("the form must be sent as application/x-www-form-urlencoded",
                                 redirectable=False)
        raise InvalidRequest("the request body must be application/x-www-form-urlencoded")


async def read_form(request: Request, *, page: bool = False) -> Params:
    """The body of a form POST, strictly parsed (duplicates, bad encoding refused)."""
    require_form(request.headers.get("content-type"), page=page)
    body = await request.body()
    try:
        return parse_urlencoded(body, max_bytes=services_of(request).settings.max_body_bytes)
    except OAuthError as error:
        if page:
            error.redirectable = False
        raise
