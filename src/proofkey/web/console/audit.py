"""``/admin/audit``: the newest audit lines, filtered by event and words
(``flows.console_audit``); where the audit log goes when the console cannot read it all."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proofkey.flows.console_audit import read_audit

from ..services import services_of
from .common import console_page, login_redirect, signed_in

__all__ = ["audit"]


async def audit(request: Request) -> Response:
    admin = await signed_in(request)
    if admin is None:
        return login_redirect()
    settings = services_of(request).settings
    event = request.query_params.get("event", "")[:100]
    query = request.query_params.get("q", "")[:200]
    view = await read_audit(audit_log=settings.audit_log, data_dir=settings.data_dir,
                            event=event, query=query)
    return console_page(request, "audit.html", admin=admin, active="audit", view=view,
                        event=event, query=query)
