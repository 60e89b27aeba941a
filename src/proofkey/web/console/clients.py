"""``/admin/clients``: the client catalog (``flows.console_clients``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proofkey.flows.console_clients import catalog

from ..services import services_of
from .common import console_page, login_redirect, signed_in, traffic_of

__all__ = ["clients"]


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


async def clients(request: Request) -> Response:
    admin = await signed_in(request)
    if admin is None:
        return login_redirect()
    services = services_of(request)
    found = await catalog(clients=services.store, traffic=traffic_of(request))
    return console_page(request, "clients.html", admin=admin, active="clients", catalog=found,
                        percent=percent)
