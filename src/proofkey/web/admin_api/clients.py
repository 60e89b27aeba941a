"""``/admin/api/v1/clients``: list, read, register, change, remove a client and rotate its
secret, all through the registration policy (``flows.admin``, ``flows.admin_clients``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from proofkey.flows.admin import AdminError, register_client
from proofkey.flows.admin_clients import change_client, remove_client, rotate_secret
from proofkey.flows.resources import known_scopes
from proofkey.models import Client
from proofkey.protocol.registration import AUTH_METHODS, GRANT_TYPES, ID_TOKEN_ALGS
from proofkey.store.base import AlreadyExists

from .items import PAGE_QUERY, check_if_match, etag_of, page, page_of
from .problems import Problem
from .routing import Call, Operation, Reply
from .schema import Arr, Bool, Int, JwkSet, Obj, Prop, Str

__all__ = ["OPERATIONS"]

_ID = Str(128, 1, r"[A-Za-z0-9._~-]+", description="1-128 characters of A-Z a-z 0-9 . _ ~ -")
_URIS = Arr(Str(2000, 1), max_items=20)
_SCOPES = Arr(Str(100, 1, r"[\x21\x23-\x5B\x5D-\x7E]+"), max_items=50,
              description="RFC 6749 scope tokens the client may ask for.")
_GRANTS = Arr(Str(enum=tuple(sorted(GRANT_TYPES))), max_items=4, min_items=1)
_ALG = Str(enum=tuple(sorted(ID_TOKEN_ALGS)))
_FLAGS = (
    Prop("require_pushed_authorization_requests", Bool("Accept only pushed requests.")),
    Prop("resource_server", Bool("May introspect other clients' access tokens.")),
    Prop("reject_reused_challenge", Bool("Refuse a code_challenge seen before.")),
    Prop("revoke_on_logout", Bool("Logout revokes the tokens of the ended session.")),
)
# private_key_jwt (RFC 7523 §2.2, RFC 7591 §2), DPoP (RFC 9449 §5.2) and the profile; which
# values may be registered together is the policy's call (PKL060-PKL066, PKL100-PKL107).
_KEYS = (
    Prop("jwks", JwkSet(nullable=True, description="The client's public JWK Set, inline "
                        "(private_key_jwt); null for none. Not with jwks_uri.")),
    Prop("jwks_uri", Str(2000, 1, nullable=True, description="https URL of the client's "
                         "public JWK Set (private_key_jwt); null for none. Not with jwks.")),
    Prop("token_endpoint_auth_signing_alg", Str(20, 1, r"[A-Za-z0-9]+", nullable=True,
         description="The one JWS alg the client's assertions may use; null for any "
                     "asymmetric one (none and HMAC are refused: PKL065).")),
    Prop("require_dpop", Bool("RFC 9449 §5.2 dpop_bound_access_tokens: the client's access "
                              "tokens must be DPoP-bound.")),
    Prop("profile", Str(enum=("fapi2",), nullable=True, description="Security profile: fapi2 "
                        "(FAPI 2.0 Security Profile, PKL100-PKL107) or null. A fapi2 client "
                        "cannot be taken out of it by a change.")),
)
_CHANGEABLE = (
    Prop("name", Str(200)), Prop("redirect_uris", _URIS), Prop("scopes", _SCOPES),
    Prop("grant_types", _GRANTS), Prop("id_token_signed_response_alg", _ALG),
    Prop("post_logout_redirect_uris", _URIS), *_FLAGS, *_KEYS,
)
NEW_CLIENT = Obj("NewClient", (
    Prop("client_id", _ID, required=True),
    Prop("type", Str(enum=("confidential", "public")), required=True),
    Prop("token_endpoint_auth_method", Str(enum=tuple(sorted(AUTH_METHODS)))),
    *_CHANGEABLE,
))
CLIENT_CHANGE = Obj("ClientChange", _CHANGEABLE,
                    "The fields to change; the others keep their values.")
_NULLABLE_TIME = Int(0, 2**53, nullable=True)
CLIENT = Obj("Client", (
    Prop("client_id", _ID, required=True),
    Prop("type", Str(enum=("confidential", "public")), required=True),
    Prop("token_endpoint_auth_method", Str(enum=tuple(sorted(AUTH_METHODS))), required=True),
    *(Prop(p.name, p.type, required=True) for p in _CHANGEABLE),
    Prop("registered_by", Str(enum=("cli", "dynamic")), required=True),
    Prop("client_uri", Str(2000), required=True), Prop("logo_uri", Str(2000), required=True),
    Prop("created_at", Int(0, 2**53), required=True),
    Prop("last_used_at", _NULLABLE_TIME, required=True),
))
CLIENT_WITH_SECRET = Obj("ClientWithSecret", (
    *CLIENT.props,
    Prop("client_secret", Str(100, nullable=True, description="Shown once.")),
    Prop("warnings", Arr(Str(1000), max_items=100)),
))


def view(client: Client) -> dict[str, Any]:
    return {"client_id": client.client_id, "type": client.client_type,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "name": client.name, "redirect_uris": list(client.redirect_uris),
            "scopes": sorted(client.scopes), "grant_types": sorted(client.grant_types),
            "id_token_signed_response_alg": client.id_token_signed_response_alg,
            "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
            "require_pushed_authorization_requests":
                client.require_pushed_authorization_requests,
            "resource_server": client.resource_server,
            "reject_reused_challenge": client.reject_reused_challenge,
            "revoke_on_logout": client.revoke_on_logout,
            "jwks": json.loads(client.jwks) if client.jwks else None,
            "jwks_uri": client.jwks_uri or None,
            "token_endpoint_auth_signing_alg": client.token_endpoint_auth_signing_alg or None,
            "require_dpop": client.require_dpop, "profile": client.profile or None,
            "registered_by": client.registered_by, "client_uri": client.client_uri,
            "logo_uri": client.logo_uri, "created_at": client.created_at,
            "last_used_at": client.last_used_at}


def _stored(body: Mapping[str, Any]) -> dict[str, Any]:
    """The key and profile fields of a body as ``Client`` keeps them (null is "")."""
    out: dict[str, Any] = {}
    if "jwks" in body:
        out["jwks"] = json.dumps(body["jwks"], separators=(",", ":")) if body["jwks"] else ""
    for name in ("jwks_uri", "token_endpoint_auth_signing_alg", "profile"):
        if name in body:
            out[name] = body[name] or ""
    return out


def _refused(error: AdminError) -> Problem:
    return Problem(422, "policy", str(error)[:1000], rule=error.rule)


async def _current(call: Call) -> Client:
    client = await call.services.store.get_client(call.path["client_id"])
    if client is None:
        raise Problem(404, "not-found", "no client with this id")
    return client


def _etag(client: Client) -> str:
    """Strong: from the stored version (bumped by every update, whoever makes it) and the
    representation (which also shows ``last_used_at``, set without a version bump)."""
    return etag_of({"version": client.version, "client": view(client)})


async def _checked(call: Call) -> tuple[Client, bool]:
    """The client as read, after the ``If-Match`` check; and whether its write must be a
    compare-and-swap on the version read (every ETag but ``*``)."""
    client = await _current(call)
    check_if_match(call, _etag(client))
    return client, (call.if_match or "").strip() != "*"


async def _lost(call: Call) -> Problem:
    """Why a conditional write changed nothing: the client is gone (404) or another write,
    perhaps on another server instance, changed it after it was read (412)."""
    if await call.services.store.get_client(call.path["client_id"]) is None:
        return Problem(404, "not-found", "no client with this id")
    return Problem(412, "precondition-failed", "the item changed since the ETag in If-Match "
                   "was read; read it again")


async def list_clients(call: Call) -> Reply:
    clients = await call.services.store.list_clients()
    return Reply(200, page(call, clients, lambda c: c.client_id, view))


async def get_client(call: Call) -> Reply:
    client = await _current(call)
    return Reply(200, view(client), _etag(client))


async def create_client(call: Call) -> Reply:
    b, services = call.body, call.services
    keys = _stored(b)
    try:
        new = await register_client(
            services.clients, b["client_id"], client_type=b["type"],
            redirect_uris=b.get("redirect_uris", ()),
            scopes=b.get("scopes", services.settings.scopes_supported),
            supported_scopes=await known_scopes(services.settings, services.store),
            grant_types=b.get("grant_types", ("authorization_code", "refresh_token")),
            auth_method=b.get("token_endpoint_auth_method"),
            id_token_alg=b.get("id_token_signed_response_alg", "RS256"),
            name=b.get("name", ""),
            require_par=b.get("require_pushed_authorization_requests", False),
            resource_server=b.get("resource_server", False),
            reject_reused_challenge=b.get("reject_reused_challenge", False),
            post_logout_redirect_uris=b.get("post_logout_redirect_uris", ()),
            revoke_on_logout=b.get("revoke_on_logout", False),
            jwks=keys.get("jwks", ""), jwks_uri=keys.get("jwks_uri", ""),
            auth_signing_alg=keys.get("token_endpoint_auth_signing_alg", ""),
            require_dpop=b.get("require_dpop", False), profile=keys.get("profile", ""),
            now=services.ctx.now())
    except AdminError as exc:
        raise _refused(exc) from None
    except AlreadyExists:
        raise Problem(409, "exists", "a client with this id exists already") from None
    body = view(new.client)
    etag = _etag(new.client)
    body.update(client_secret=new.secret.reveal() if new.secret else None,
                warnings=list(new.warnings))
    return Reply(201, body, etag, f"/clients/{new.client.client_id}")


async def update_client(call: Call) -> Reply:
    client, conditional = await _checked(call)
    services = call.services
    try:
        changed = await change_client(
            services.store, client, {**call.body, **_stored(call.body)},
            supported_scopes=await known_scopes(services.settings, services.store),
            now=services.ctx.now(), conditional=conditional)
    except AdminError as exc:
        raise _refused(exc) from None
    if changed is None:
        raise await _lost(call)
    body = view(changed.client)
    return Reply(200, {**body, "warnings": list(changed.warnings)}, _etag(changed.client))


async def delete_client(call: Call) -> Reply:
    client, _ = await _checked(call)
    if not await remove_client(call.services.clients, client.client_id,
                               now=call.services.ctx.now()):
        raise Problem(404, "not-found", "no client with this id")
    return Reply(204)


async def rotate_client_secret(call: Call) -> Reply:
    client, conditional = await _checked(call)
    try:
        rotated = await rotate_secret(call.services.store, client, conditional=conditional)
    except AdminError as exc:
        raise Problem(409, "public-client", str(exc), rule=exc.rule) from None
    if rotated is None:
        raise await _lost(call)
    changed, secret = rotated
    return Reply(200, {**view(changed), "client_secret": secret.reveal(), "warnings": []},
                 _etag(changed))


_ITEM = "/clients/{client_id}"
_PATH = {"client_id": _ID}
_ERR = "problem"
OPERATIONS = (
    Operation("GET", "/clients", "listClients", "List clients, a page at a time.",
              "clients:read", list_clients, {200: ("A page of clients.",
                                                   page_of("ClientPage", CLIENT))},
              query=PAGE_QUERY, tag="clients"),
    Operation("POST", "/clients", "createClient", "Register a client (the registration "
              "policy applies; a confidential client's secret is shown once).",
              "clients:write", create_client,
              {201: ("The client, with its secret once.", CLIENT_WITH_SECRET)},
              body=NEW_CLIENT, tag="clients"),
    Operation("GET", _ITEM, "getClient", "Read a client.", "clients:read", get_client,
              {200: ("The client.", CLIENT)}, path_params=_PATH, tag="clients"),
    Operation("PATCH", _ITEM, "updateClient", "Change a client (the registration policy "
              "applies to the result).", "clients:write", update_client,
              {200: ("The changed client.", CLIENT_WITH_SECRET)}, body=CLIENT_CHANGE,
              path_params=_PATH, if_match=True, tag="clients"),
    Operation("DELETE", _ITEM, "deleteClient", "Remove a client and revoke its grants.",
              "clients:write", delete_client, {204: ("Removed.", None)}, path_params=_PATH,
              if_match=True, tag="clients"),
    Operation("POST", _ITEM + "/secret", "rotateClientSecret", "Give a confidential client a "
              "new secret (shown once; the old one stops working).", "clients:write",
              rotate_client_secret, {200: ("The client with its new secret.",
                                           CLIENT_WITH_SECRET)},
              path_params=_PATH, if_match=True, tag="clients"),
)
