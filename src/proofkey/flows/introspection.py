"""Token introspection (RFC 7662) for confidential clients such as resource servers.

RFC 7662 §2.1: the endpoint MUST require authorization of the caller; proofkey accepts only
authenticated confidential clients. Anything not active answers just ``{"active": false}``
(§2.2), whatever the reason.
"""

from __future__ import annotations

from typing import Any

from proofkey.crypto import digest
from proofkey.errors import InvalidClient, InvalidRequest, InvalidToken
from proofkey.protocol.credentials import read_client_credentials
from proofkey.protocol.params import Params
from proofkey.store.base import ClientStore, GrantStore, RateLimiter
from proofkey.tokens.mint import TokenMinter

from .access import active_access_token
from .client_auth import authenticate_client
from .context import Context

__all__ = ["introspect"]

_INACTIVE: dict[str, Any] = {"active": False}
_CLAIMS = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "auth_time")


async def introspect(
    form: Params, authorization: str | None, *, clients: ClientStore, grants: GrantStore,
    minter: TokenMinter, limiter: RateLimiter, client_ip: str, ctx: Context,
) -> dict[str, Any]:
    caller = await authenticate_client(read_client_credentials(authorization, form), clients,
                                       limiter=limiter, client_ip=client_ip, ctx=ctx)
    if caller.is_public:
        raise InvalidClient("introspection is for confidential clients")
    token = form.get("token")
    if token is None:
        raise InvalidRequest("token is required")
    now = ctx.now()
    if token.count(".") == 2:
        try:
            claims = await active_access_token(token, minter=minter, grants=grants, now=now)
        except InvalidToken:
            return dict(_INACTIVE)
        issued = claims.as_dict()
        body = {k: issued[k] for k in _CLAIMS if k in issued}
        return {"active": True, "token_type": "Bearer", **body}
    if len(token) > 256:
        return dict(_INACTIVE)
    record = await grants.find_refresh(digest(token))
    if record is None or record.rotated_at is not None or record.expires_at <= now:
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
