"""Token introspection (RFC 7662) for resource servers and for a client's own tokens.

RFC 7662 §2.1: the endpoint MUST require authorization of the caller; proofkey accepts only
authenticated confidential clients. §4: the server "SHOULD require protected resources to be
specifically authorized to call the introspection endpoint": a client marked as a resource
server may ask about any access token, any other client only about its own, and a refresh
token is described only to the client it was issued to. §2.2: if "the protected resource is
not allowed to introspect this particular token", the answer MUST be ``active: false`` — the
same bare ``{"active": false}`` as for an unknown token, so it does not tell whether the
token exists. A token for registered resources (RFC 8707) is described with its ``aud``; one
whose resource is no longer registered is inactive.
"""

from __future__ import annotations

from typing import Any

from proofkey.crypto import digest
from proofkey.errors import InvalidClient, InvalidRequest, InvalidToken
from proofkey.protocol.credentials import read_client_credentials
from proofkey.protocol.params import Params
from proofkey.store.base import ClientStore, GrantStore, RateLimiter, ResourceDirectory
from proofkey.tokens.mint import TokenMinter

from .access import active_access_token
from .client_assertion import ClientAssertions
from .client_auth import authenticate_client
from .context import Context

__all__ = ["introspect"]

_INACTIVE: dict[str, Any] = {"active": False}
_CLAIMS = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "auth_time")


async def introspect(
    form: Params, authorization: str | None, *, clients: ClientStore, grants: GrantStore,
    minter: TokenMinter, limiter: RateLimiter, client_ip: str, ctx: Context,
    assertions: ClientAssertions, resources: ResourceDirectory | None = None,
) -> dict[str, Any]:
    caller = await authenticate_client(read_client_credentials(authorization, form), clients,
                                       limiter=limiter, client_ip=client_ip, ctx=ctx,
                                       assertions=assertions)
    if caller.is_public:
        raise InvalidClient("introspection is for confidential clients")
    token = form.get("token")
    if token is None:
        raise InvalidRequest("token is required")
    now = ctx.now()
    if token.count(".") == 2:
        try:
            claims = await active_access_token(token, minter=minter, grants=grants, now=now,
                                               any_audience=True)
        except InvalidToken:
            return dict(_INACTIVE)
        others = [aud for aud in claims.audiences if aud != minter.audience]
        if others:
            catalog = await resources.catalog() if resources is not None else None
            if catalog is None or any(catalog.get(aud) is None for aud in others):
                return dict(_INACTIVE)
        if not (caller.resource_server or claims.client_id == caller.client_id):
            return dict(_INACTIVE)
        issued = claims.as_dict()
        body = {k: issued[k] for k in _CLAIMS if k in issued}
        return {"active": True, "token_type": "Bearer", **body}
    if len(token) > 256:
        return dict(_INACTIVE)
    record = await grants.find_refresh(digest(token))
    if record is None or record.client_id != caller.client_id:
        return dict(_INACTIVE)
    if record.rotated_at is not None or record.expires_at <= now:
        return dict(_INACTIVE)
    grant = await grants.get_grant(record.grant_id)
    if grant is None or grant.revoked_at is not None or grant.expires_at <= now:
        return dict(_INACTIVE)
    body = {"active": True, "token_type": "refresh_token", "client_id": record.client_id,
            "exp": record.expires_at, "iat": record.issued_at, "iss": minter.issuer,
            "scope": " ".join(grant.scope)}
    if grant.user_id is not None:
        body["sub"] = grant.user_id
    return body
