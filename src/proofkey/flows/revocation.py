"""Token revocation (RFC 7009).

Revoking a refresh token revokes its whole grant, access tokens included (RFC 7009 §2.1: the
server "SHOULD also invalidate all access tokens based on the same authorization grant").
Revoking an access token revokes that token (by ``jti``) until it expires. Unknown, invalid or
foreign tokens get the same 200 as a successful revocation (RFC 7009 §2.2), so the endpoint
reveals nothing about tokens the client does not own.
"""

from __future__ import annotations

from proofkey.crypto import digest
from proofkey.errors import InvalidRequest, InvalidToken, UnsupportedTokenType
from proofkey.observability.events import TokenRevoked
from proofkey.protocol.credentials import read_client_credentials
from proofkey.protocol.params import Params
from proofkey.store.base import ClientStore, GrantStore, RateLimiter
from proofkey.tokens.mint import TokenMinter

from .client_assertion import ClientAssertions
from .client_auth import authenticate_client
from .context import Context

__all__ = ["revoke"]

_HINTS = frozenset({"access_token", "refresh_token"})


async def revoke(
    form: Params, authorization: str | None, *, clients: ClientStore, grants: GrantStore,
    minter: TokenMinter, limiter: RateLimiter, client_ip: str, ctx: Context,
    assertions: ClientAssertions,
) -> None:
    client = await authenticate_client(read_client_credentials(authorization, form), clients,
                                       limiter=limiter, client_ip=client_ip, ctx=ctx,
                                       assertions=assertions)
    token = form.get("token")
    if token is None:
        raise InvalidRequest("token is required")
    hint = form.get("token_type_hint")
    if hint is not None and hint not in _HINTS:
        raise UnsupportedTokenType("token_type_hint must be access_token or refresh_token")
    now = ctx.now()
    if token.count(".") == 2:
        try:
            # Whatever resource it is for (RFC 8707): the client revokes its own tokens.
            claims = minter.verify_access_token(token, now, any_audience=True)
        except InvalidToken:
            return
        if claims.client_id == client.client_id:
            await grants.revoke_access_token(claims.jti, claims.exp)
            ctx.bus.emit(TokenRevoked(client.client_id, "access_token", None))
        return
    if len(token) > 256:
        return
    record = await grants.find_refresh(digest(token))
    if record is not None and record.client_id == client.client_id:
        await grants.revoke_grant(record.grant_id, now)
        ctx.bus.emit(TokenRevoked(client.client_id, "refresh_token", record.grant_id))
