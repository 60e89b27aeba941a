"""``/admin/keys``: the signing keys and their phase (``flows.console_keys``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proofkey.flows.console_keys import list_keys

from ..services import services_of
from .common import console_page, login_redirect, signed_in
from .users import when

__all__ = ["keys"]


async def keys(request: Request) -> Response:
    admin = await signed_in(request)
    if admin is None:
        return login_redirect()
    services = services_of(request)
    rows = await list_keys(keys=services.store, now=services.ctx.now())
    return console_page(request, "keys.html", admin=admin, active="keys", keys=rows, when=when)
