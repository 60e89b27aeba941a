"""``/admin/api/v1/grants`` and ``/sessions``: what users hold, listed and ended by user or by
client (``flows.grant_admin``, the flows behind ``proofkey grant|session``). Revoking a grant
stops every refresh token of its family and its access tokens at introspection; ending a
session signs its browser out (its grants stay). A session's id is the SHA-256 digest the
store keys it by, never its cookie."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from proofkey.flows.admin import AdminError
from proofkey.flows.grant_admin import (
    GrantView,
    Selector,
    SessionView,
    end_sessions,
    list_grants,
    list_sessions,
    revoke_grants,
)

from .items import PAGE_QUERY, page, page_of
from .problems import Problem
from .routing import Call, Operation, Reply
from .schema import Arr, Int, Obj, Prop, Str

__all__ = ["OPERATIONS"]

_USER = Str(128, 1, r"[A-Za-z0-9._@+-]+", description="A username or a user id.")
_CLIENT = Str(2048, 1, description="A client id.")
_GRANT_ID = Str(64, 1, r"[A-Za-z0-9_-]+")
_SESSION_ID = Str(64, 64, r"[0-9a-f]+", description="The SHA-256 (hex) the store keys it by.")
_TIME = Int(0, 2**53)
_WHEN = Int(0, 2**53, nullable=True)
GRANT = Obj("Grant", (
    Prop("grant_id", _GRANT_ID, required=True), Prop("client_id", Str(2048), required=True),
    Prop("user_id", Str(128, nullable=True), required=True),
    Prop("scope", Arr(Str(200), max_items=200), required=True),
    Prop("auth_time", _WHEN, required=True), Prop("created_at", _TIME, required=True),
    Prop("expires_at", _TIME, required=True), Prop("revoked_at", _WHEN, required=True)))
SESSION = Obj("Session", (
    Prop("session_id", _SESSION_ID, required=True), Prop("user_id", Str(128), required=True),
    Prop("auth_time", _TIME, required=True), Prop("expires_at", _TIME, required=True)))
_BY = (Prop("user", _USER), Prop("client", _CLIENT))
BY_QUERY = Obj("ByUserOrClientQuery", (*PAGE_QUERY.props, *_BY),
               description="Exactly one of user and client.")
BY_BODY = Obj("ByUserOrClient", _BY, description="Exactly one of user and client.")
REVOKED = Obj("GrantsRevoked", (Prop("revoked", Int(0, 2**53), required=True),))
ENDED = Obj("SessionsEnded", (Prop("ended", Int(0, 2**53), required=True),))


def _grant(g: GrantView) -> dict[str, Any]:
    return {**asdict(g), "scope": list(g.scope)}


def _session(s: SessionView) -> dict[str, Any]:
    return asdict(s)


def _selector(given: Any, *, in_query: bool) -> Selector:
    user, client = given.get("user"), given.get("client")
    if (user is None) == (client is None):
        detail = "name exactly one of user and client"
        if in_query:
            raise Problem(400, "invalid-query", detail)
        raise Problem(422, "invalid-body", detail, errors=[("/", detail)])
    return Selector(user=user, client=client)


def _refused(exc: AdminError, what: str) -> Problem:
    if exc.rule == "not_found":
        return Problem(404, "not-found", f"no such {what}")
    return Problem(422, "invalid-body", str(exc)[:300])


async def get_grants(call: Call) -> Reply:
    try:
        grants = await list_grants(call.services.store, _selector(call.query, in_query=True),
                                   now=call.services.ctx.now())
    except AdminError as exc:
        raise _refused(exc, "user or client") from None
    return Reply(200, page(call, grants, lambda g: g.grant_id, _grant))


async def delete_grant(call: Call) -> Reply:
    try:
        await revoke_grants(call.services.store, Selector(id=call.path["grant_id"]),
                            now=call.services.ctx.now())
    except AdminError as exc:
        raise _refused(exc, "grant") from None
    return Reply(204)


async def revoke_all(call: Call) -> Reply:
    try:
        count = await revoke_grants(call.services.store, _selector(call.body, in_query=False),
                                    now=call.services.ctx.now())
    except AdminError as exc:
        raise _refused(exc, "user or client") from None
    return Reply(200, {"revoked": count})


async def get_sessions(call: Call) -> Reply:
    try:
        sessions = await list_sessions(call.services.store,
                                       _selector(call.query, in_query=True),
                                       now=call.services.ctx.now())
    except AdminError as exc:
        raise _refused(exc, "user or client") from None
    return Reply(200, page(call, sessions, lambda s: s.session_id, _session))


async def delete_session(call: Call) -> Reply:
    try:
        await end_sessions(call.services.store, Selector(id=call.path["session_id"]),
                           now=call.services.ctx.now())
    except AdminError as exc:
        raise _refused(exc, "session") from None
    return Reply(204)


async def end_all(call: Call) -> Reply:
    try:
        count = await end_sessions(call.services.store, _selector(call.body, in_query=False),
                                   now=call.services.ctx.now())
    except AdminError as exc:
        raise _refused(exc, "user or client") from None
    return Reply(200, {"ended": count})


# the fixed paths come before the parameterised ones: routes match in table order
OPERATIONS = (
    Operation("GET", "/grants", "listGrants", "Active grants of a user or of a client.",
              "grants:read", get_grants, {200: ("A page of grants.", page_of("GrantPage", GRANT))},
              query=BY_QUERY, tag="grants"),
    Operation("POST", "/grants/revoke-all", "revokeAllGrants", "Revoke every active grant of a "
              "user or of a client (their refresh tokens stop at once).", "grants:write",
              revoke_all, {200: ("How many were revoked.", REVOKED)}, body=BY_BODY,
              tag="grants"),
    Operation("DELETE", "/grants/{grant_id}", "revokeGrant", "Revoke one grant.",
              "grants:write", delete_grant, {204: ("Revoked.", None)},
              path_params={"grant_id": _GRANT_ID}, tag="grants"),
    Operation("GET", "/sessions", "listSessions", "Live login sessions of a user, or those in "
              "which a client got a live grant.", "sessions:read", get_sessions,
              {200: ("A page of sessions.", page_of("SessionPage", SESSION))},
              query=BY_QUERY, tag="sessions"),
    Operation("POST", "/sessions/end-all", "endAllSessions", "End every session of a user, or "
              "those a client's live grants came from (grants stay).", "sessions:write",
              end_all, {200: ("How many were ended.", ENDED)}, body=BY_BODY, tag="sessions"),
    Operation("DELETE", "/sessions/{session_id}", "endSession", "End one session.",
              "sessions:write", delete_session, {204: ("Ended.", None)},
              path_params={"session_id": _SESSION_ID}, tag="sessions"),
)
