"""Is an access token still good? Signature and claims, then grant and per-token revocation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proofkey.errors import InvalidToken
from proofkey.store.base import GrantStore
from proofkey.tokens.mint import TokenMinter

__all__ = ["active_access_token"]


async def active_access_token(
    token: str, *, minter: TokenMinter, grants: GrantStore, now: int
) -> Mapping[str, Any]:
    """The claims of a valid, unrevoked access token; InvalidToken otherwise."""
    claims = minter.verify_access_token(token, now)
    jti = claims.get("jti")
    if not isinstance(jti, str) or await grants.is_access_token_revoked(jti):
        raise InvalidToken("the access token has been revoked")
    grant_id = claims.get("gid")
    if grant_id is not None:
        grant = await grants.get_grant(str(grant_id))
        if grant is None or grant.revoked_at is not None or grant.expires_at <= now:
            raise InvalidToken("the access token has been revoked")
    return claims
