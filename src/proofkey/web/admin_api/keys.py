"""``/admin/api/v1/keys``: signing keys in phases (``flows.key_rotation``, the flows behind
``proofkey keys``): list them with their phase and dates, start a rotation (new keys published
now, signing after ``activate_after``), retire a key. Never a private part."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from proofkey.flows.admin import AdminError
from proofkey.flows.key_rotation import (
    DEFAULT_ACTIVATE_AFTER,
    MAX_ACTIVATE_AFTER,
    KeyView,
    list_keys,
    retire_key,
    start_rotation,
)
from proofkey.tokens.keys import keep_seconds_for

from .items import PAGE_QUERY, page, page_of
from .problems import Problem
from .routing import Call, Operation, Reply
from .schema import Arr, Int, Obj, Prop, Str

__all__ = ["OPERATIONS"]

_KID = Str(200, 1, r"[A-Za-z0-9._~-]+")
_TIME = Int(0, 2**53)
_WHEN = Int(0, 2**53, nullable=True)
KEY = Obj("SigningKey", (
    Prop("kid", _KID, required=True), Prop("alg", Str(20, 1), required=True),
    Prop("phase", Str(enum=("published", "active", "retiring", "retired"),
                      description="published: in the JWKS, not signing yet; active: signs; "
                                  "retiring: verifies, no longer signs; retired: out of the "
                                  "JWKS, deleted soon."), required=True),
    Prop("created_at", _TIME, required=True),
    Prop("activates_at", _TIME, required=True),
    Prop("retired_at", _WHEN, required=True),
    Prop("signing_ended_at", _WHEN, required=True),
    Prop("leaves_jwks_at", _WHEN, required=True),
))
ROTATION = Obj("KeyRotation", (Prop("activate_after", Int(0, MAX_ACTIVATE_AFTER, description=(
    f"Seconds from now until the new keys sign (default {DEFAULT_ACTIVATE_AFTER}, the CLI's): "
    "longer than relying parties cache the JWKS."))),))
ROTATED = Obj("RotatedKeys", (Prop("items", Arr(KEY), required=True),))


def view(key: KeyView) -> dict[str, Any]:
    return asdict(key)


def _keep(call: Call) -> int:
    s = call.services.settings
    return keep_seconds_for(s.access_token_ttl_seconds, s.id_token_ttl_seconds)


def _refused(exc: AdminError) -> Problem:
    rule = exc.rule or ""
    if rule == "not_found":
        return Problem(404, "not-found", "no signing key with this kid")
    status = 409 if rule else 422
    return Problem(status, rule.replace("_", "-") or "invalid-body", str(exc)[:300])


async def get_keys(call: Call) -> Reply:
    keys = await list_keys(call.services.store, now=call.services.ctx.now(),
                           keep_seconds=_keep(call))
    order = {v.kid: f"{i:06d}" for i, v in enumerate(keys)}  # the flow's order: alg, then age
    return Reply(200, page(call, keys, lambda v: order[v.kid], view))


async def rotate(call: Call) -> Reply:
    try:
        fresh = await start_rotation(
            call.services.store, now=call.services.ctx.now(), keep_seconds=_keep(call),
            activate_after=call.body.get("activate_after", DEFAULT_ACTIVATE_AFTER))
    except AdminError as exc:
        raise _refused(exc) from None
    await call.services.refresh_keys()
    return Reply(201, {"items": [view(k) for k in fresh]})


async def retire(call: Call) -> Reply:
    try:
        key = await retire_key(call.services.store, call.path["kid"],
                               now=call.services.ctx.now(), keep_seconds=_keep(call))
    except AdminError as exc:
        raise _refused(exc) from None
    await call.services.refresh_keys()
    return Reply(200, view(key))


OPERATIONS = (
    Operation("GET", "/keys", "listKeys", "List signing keys with their phase and dates.",
              "keys:read", get_keys, {200: ("A page of keys.", page_of("SigningKeyPage", KEY))},
              query=PAGE_QUERY, tag="keys"),
    Operation("POST", "/keys/rotate", "rotateKeys", "Publish a new key per algorithm that "
              "signs after activate_after seconds; refused while a rotation is under way.",
              "keys:write", rotate, {201: ("The new keys.", ROTATED)}, body=ROTATION,
              tag="keys"),
    Operation("POST", "/keys/{kid}/retire", "retireKey", "Stop a key signing now; it verifies "
              "until its tokens expire. Refused for the only key that can sign.",
              "keys:write", retire, {200: ("The key.", KEY)},
              path_params={"kid": _KID}, tag="keys"),
)
