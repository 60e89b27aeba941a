"""The UserInfo endpoint (OIDC Core §5.3) behind a bearer access token (RFC 6750) or a
DPoP-bound one with its proof (RFC 9449 §7, ``presented_token``)."""

from __future__ import annotations

from typing import Any

from proofkey.errors import InsufficientScope, InvalidToken
from proofkey.observability.events import DpopRefused
from proofkey.store.base import GrantStore, ReplayStore, UserStore
from proofkey.tokens.mint import TokenMinter

from .access import active_access_token
from .context import Context
from .presented_token import DpopProofRefused, Presented, check_presentation, dpop_reason

__all__ = ["userinfo"]


async def userinfo(
    presented: Presented, *, users: UserStore, grants: GrantStore, replay: ReplayStore,
    minter: TokenMinter, ctx: Context,
) -> dict[str, Any]:
    now = ctx.now()
    claims = await active_access_token(presented.token, minter=minter, grants=grants, now=now)
    try:
        await check_presentation(presented, replay=replay, now=now)
    except (DpopProofRefused, InvalidToken) as refused:
        reason = dpop_reason(refused)
        if reason is not None:  # counted with the token endpoint's (the DPoP failure SLI)
            ctx.bus.emit(DpopRefused(claims.client_id, reason))
        raise
    scope = claims.scope.split()
    if "openid" not in scope:
        raise InsufficientScope("the access token lacks the openid scope")
    user = await users.get_user(claims.sub)
    if user is None:
        raise InvalidToken("the user no longer exists")
    info: dict[str, Any] = {"sub": user.user_id}
    if "profile" in scope:
        info["preferred_username"] = user.username
        if user.name:
            info["name"] = user.name
    if "email" in scope and user.email:
        info["email"] = user.email
    return info
