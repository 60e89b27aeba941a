"""Is an access token still good? Signature and claims, then grant and per-token revocation."""

from __future__ import annotations

from proofkey.errors import InvalidToken
from proofkey.store.base import GrantStore
from proofkey.tokens.mint import AccessClaims, TokenMinter

__all__ = ["active_access_token"]


async def active_access_token(
    token: str, *, minter: TokenMinter, grants: GrantStore, now: int,
    any_audience: bool = False,
) -> AccessClaims:
    """The claims of a valid, unrevoked access token; InvalidToken otherwise. Its audience
    must include the server's own unless ``any_audience`` (``TokenMinter.verify_access_token``)."""
    claims = minter.verify_access_token(token, now, any_audience=any_audience)
    if await grants.is_access_token_revoked(claims.jti):
        raise InvalidToken("the access token has been revoked")
    if claims.gid is not None:
        grant = await grants.get_grant(claims.gid)
        if grant is None or grant.revoked_at is not None or grant.expires_at <= now:
            raise InvalidToken("the access token has been revoked")
    return claims
