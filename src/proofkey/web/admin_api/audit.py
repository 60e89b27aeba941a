"""``/admin/api/v1/audit``: the audit log file, newest first, with the console's filters.

The same flow as the console's audit page (``flows.console_audit.read_audit``): the tail of
``PROOFKEY_AUDIT_LOG``, filtered by event and by words; lines were redacted when written and
are returned as stored. A cursor is a position in the file, so a page can reach further back
than the console's tail. Without ``PROOFKEY_AUDIT_LOG`` the server's own audit lines go to its
JSON log on stderr, where no API can read them: the call is a ``409 no-audit-file`` problem.
"""

from __future__ import annotations

from typing import Any

from proofkey.flows.console_audit import AuditEntry, read_audit

from .items import PAGE_QUERY, cursor_for, position_of
from .problems import Problem
from .routing import Call, Operation, Reply
from .schema import Arr, Obj, Prop, Str

__all__ = ["OPERATIONS"]

_MAX_VALUE = 4000
AUDIT_QUERY = Obj("AuditQuery", (
    *PAGE_QUERY.props,
    Prop("event", Str(100, description="Only lines of this event (AdminApiCall, LoginFailed, "
                                       "client_updated, ...).")),
    Prop("q", Str(200, description="Only lines whose fields contain every one of these "
                                   "words (case-insensitive).")),
))
_FIELD = Obj("AuditField", (Prop("name", Str(200), required=True),
                            Prop("value", Str(_MAX_VALUE), required=True)))
ENTRY = Obj("AuditEntry", (
    Prop("ts", Str(100), required=True), Prop("event", Str(200), required=True),
    Prop("fields", Arr(_FIELD, max_items=200), required=True),
))
AUDIT_PAGE = Obj("AuditPage", (
    Prop("items", Arr(ENTRY, max_items=200), required=True),
    Prop("next_cursor", Str(max_length=400, nullable=True), required=True),
))


def view(entry: AuditEntry) -> dict[str, Any]:
    seen: dict[str, str] = {}  # names are unique in a JSON line; truncation could repeat one
    for name, value in entry.fields[:200]:
        seen.setdefault(name[:200], value[:_MAX_VALUE])
    return {"ts": entry.ts[:100], "event": entry.event[:200],
            "fields": [{"name": k, "value": v} for k, v in seen.items()]}


async def list_audit(call: Call) -> Reply:
    settings = call.services.settings
    if not settings.audit_log:
        raise Problem(409, "no-audit-file", "no audit file is configured: set "
                      "PROOFKEY_AUDIT_LOG so that the server appends its audit lines to a "
                      "file this API can read (without it they go to the server's log stream)")
    before = None
    if "cursor" in call.query:
        position = position_of(str(call.query["cursor"]))
        if not position.isdigit() or len(position) > 18:
            raise Problem(400, "invalid-cursor", "the cursor is not one this API gave out")
        before = int(position)
    found = await read_audit(audit_log=settings.audit_log, data_dir=settings.data_dir,
                             event=str(call.query.get("event", "")),
                             query=str(call.query.get("q", "")),
                             limit=int(call.query.get("limit", 50)), before=before)
    return Reply(200, {"items": [view(e) for e in found.entries],
                       "next_cursor": None if found.next_before is None
                       else cursor_for(str(found.next_before))})


OPERATIONS = (
    Operation("GET", "/audit", "listAudit", "Read the audit log file, newest first, a page "
              "at a time (the console's audit page, by API).", "audit:read", list_audit,
              {200: ("A page of audit lines.", AUDIT_PAGE)}, query=AUDIT_QUERY, tag="audit"),
)
