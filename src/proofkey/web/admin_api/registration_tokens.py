"""``/admin/api/v1/registration-tokens``: initial access tokens for ``POST /register``
(RFC 7591 §3; ``flows.initial_tokens``), shown once when created."""

from __future__ import annotations

from typing import Any

from proofkey.flows.initial_tokens import MAX_LIFETIME, MAX_USES, create_initial_token
from proofkey.models import InitialAccessToken

from .items import PAGE_QUERY, check_if_match, etag_of, page, page_of
from .problems import Problem
from .routing import Call, Operation, Reply
from .schema import Int, Obj, Prop, Str

__all__ = ["OPERATIONS"]

_ID = Str(64, 1, r"[A-Za-z0-9_-]+")
NEW_TOKEN = Obj("NewRegistrationToken", (
    Prop("lifetime_seconds", Int(1, MAX_LIFETIME), required=True),
    Prop("uses", Int(1, MAX_USES, description="Registrations it allows (default 1).")),
))
_TIME = Int(0, 2**53)
TOKEN = Obj("RegistrationToken", (
    Prop("token_id", _ID, required=True), Prop("created_at", _TIME, required=True),
    Prop("expires_at", _TIME, required=True), Prop("uses_left", Int(0, MAX_USES),
                                                   required=True)))
TOKEN_WITH_SECRET = Obj("RegistrationTokenWithSecret", (
    *TOKEN.props, Prop("token", Str(100, description="Shown once."), required=True)))


def view(token: InitialAccessToken) -> dict[str, Any]:
    return {"token_id": token.token_id, "created_at": token.created_at,
            "expires_at": token.expires_at, "uses_left": token.uses_left}


async def _current(call: Call) -> InitialAccessToken:
    for token in await call.services.store.list_initial_tokens():
        if token.token_id == call.path["token_id"]:
            return token
    raise Problem(404, "not-found", "no registration token with this id")


async def list_tokens(call: Call) -> Reply:
    tokens = await call.services.store.list_initial_tokens()
    return Reply(200, page(call, tokens, lambda t: t.token_id, view))


async def get_token(call: Call) -> Reply:
    body = view(await _current(call))
    return Reply(200, body, etag_of(body))


async def create_token(call: Call) -> Reply:
    made = await create_initial_token(call.services.store,
                                      lifetime=call.body["lifetime_seconds"],
                                      uses=call.body.get("uses", 1),
                                      now=call.services.ctx.now())
    body = view(made.record)
    return Reply(201, {**body, "token": made.token.reveal()}, etag_of(body),
                 f"/registration-tokens/{made.record.token_id}")


async def delete_token(call: Call) -> Reply:
    token = await _current(call)
    check_if_match(call, etag_of(view(token)))
    if not await call.services.store.revoke_initial_token(token.token_id):
        raise Problem(404, "not-found", "no registration token with this id")
    return Reply(204)


_ITEM = "/registration-tokens/{token_id}"
_PATH = {"token_id": _ID}
_TAG = "registration-tokens"
OPERATIONS = (
    Operation("GET", "/registration-tokens", "listRegistrationTokens", "List initial access "
              "tokens (without the tokens).", "registration-tokens:read", list_tokens,
              {200: ("A page of tokens.", page_of("RegistrationTokenPage", TOKEN))},
              query=PAGE_QUERY, tag=_TAG),
    Operation("POST", "/registration-tokens", "createRegistrationToken", "Create an initial "
              "access token for POST /register (shown once).", "registration-tokens:write",
              create_token, {201: ("The token, shown once.", TOKEN_WITH_SECRET)},
              body=NEW_TOKEN, tag=_TAG),
    Operation("GET", _ITEM, "getRegistrationToken", "Read one token's record.",
              "registration-tokens:read", get_token, {200: ("The record.", TOKEN)},
              path_params=_PATH, tag=_TAG),
    Operation("DELETE", _ITEM, "deleteRegistrationToken", "Revoke a token.",
              "registration-tokens:write", delete_token, {204: ("Revoked.", None)},
              path_params=_PATH, if_match=True, tag=_TAG),
)
