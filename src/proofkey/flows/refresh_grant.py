"""The refresh_token grant with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2).

Every use retires the presented token and issues a successor in one atomic step. Presenting a
retired token again is reuse: the whole family (grant) is revoked, access tokens included —
except a retry of the immediately previous token within the grace window
(``refresh_reuse_grace_seconds``, default 0), which retires the current successor and issues a
new one, so the family never forks into two live tokens.

The common request (no ``scope``) is one store call, ``rotate_refresh_for_client``, that
rotates only a live token of this client in a live grant. Only when it refuses does the flow
read the token to tell why (another client's, reused, a grace retry, expired or revoked), on the
same path a request with ``scope`` takes from the start (its scope is checked before rotating),
so every outcome and its event stay the same whichever way a request comes in.

DPoP (RFC 9449 §5): a public client's refresh token is bound to the key of the proof it was
issued with (``RefreshToken.dpop_jkt``; each successor keeps the key, and an unbound token's
successor is bound to the first proof's key). A refresh with another key or none is refused
(``dpop_key_mismatch``) BEFORE reuse is looked at, and revokes nothing: a thief holding a
retired token but not the key cannot burn the honest user's family. The one-call path rotates
only unbound tokens (a bound one fails it and is told apart on the checked path); a public
client's request WITH a proof takes the checked path from the start, where its key is compared
or, for an unbound token, given to the successor. A confidential client's tokens stay bound by
its authentication, and its access tokens follow the proof of each request.

``resource`` (RFC 8707) takes the checked path too: a refresh may ask for any of the grant's
resources (narrowing), never for another (``invalid_target``, before anything is rotated).
"""

from __future__ import annotations

import hmac
from typing import NoReturn

from proofkey.crypto import digest, fingerprint, new_handle
from proofkey.errors import InvalidGrant, InvalidRequest, InvalidScope
from proofkey.models import Client, Grant, RefreshToken
from proofkey.observability.events import RefreshReuseDetected, RefreshRotated
from proofkey.protocol.params import Params, values_of
from proofkey.protocol.resource import narrow, parse_resources
from proofkey.protocol.scope import parse_scope
from proofkey.store.base import GrantStore, ResourceDirectory
from proofkey.tokens.mint import TokenMinter

from .context import Context
from .resources import target_for
from .token_response import mint_token_response

__all__ = ["refresh"]

_INVALID = "the refresh token is invalid, expired or revoked"


async def refresh(
    form: Params, client: Client, *, grants: GrantStore, minter: TokenMinter, ctx: Context,
    resources: ResourceDirectory, jkt: str | None = None,
) -> tuple[dict[str, str | int], str]:
    """Rotate a refresh token (``jkt``: the verified DPoP proof's key, if any); return the token
    response and the grant id."""
    presented = form.get("refresh_token")
    if presented is None:
        raise InvalidRequest("refresh_token is required")
    if len(presented) > 256:
        raise InvalidGrant(_INVALID, detail="refresh_invalid")
    now = ctx.now()
    token_digest = digest(presented)
    new_token = new_handle()
    new_digest = digest(new_token)
    raw_scope = form.get("scope")
    requested = parse_resources(values_of(form, "resource"))
    grant = None
    if raw_scope is None and not requested and not (client.is_public and jkt is not None):
        grant = await grants.rotate_refresh_for_client(
            token_digest, client.client_id, now, new_digest,
            now + ctx.settings.refresh_token_ttl_seconds)
    if grant is not None:
        scope, targets, in_grace = grant.scope, grant.resources, False
    else:
        grant, scope, targets, in_grace = await _rotate_checked(
            presented, token_digest, raw_scope, requested, client, new_digest, jkt,
            grants=grants, now=now, ctx=ctx)
    ctx.bus.emit(RefreshRotated(client.client_id, grant.grant_id, in_grace))
    target = await target_for(scope, targets, directory=resources,
                              default_audience=minter.audience)
    return mint_token_response(minter, client, subject=grant.user_id, scope=target.scope,
                               grant_id=grant.grant_id, auth_time=grant.auth_time, now=now,
                               refresh_token=new_token, id_token=False,
                               audience=target.audience, jkt=jkt), grant.grant_id


async def _rotate_checked(
    presented: str, token_digest: str, raw_scope: str | None, requested: tuple[str, ...],
    client: Client, new_digest: str, jkt: str | None, *, grants: GrantStore, now: int,
    ctx: Context,
) -> tuple[Grant, tuple[str, ...], tuple[str, ...], bool]:
    """Check step by step, refusing with the reason, then rotate (or retry in the grace window);
    return the grant, the scope and resources granted and whether it was a grace retry."""
    current = await grants.find_refresh(token_digest)
    if current is None or current.client_id != client.client_id:
        # RFC 6749 §6: the refresh token must have been issued to the authenticated client.
        raise InvalidGrant(_INVALID, detail="refresh_invalid")
    grant = await grants.get_grant(current.grant_id)
    if grant is None:
        raise InvalidGrant(_INVALID, detail="refresh_invalid")
    if not _same_key(current.dpop_jkt, jkt):
        # RFC 9449 §5, and before reuse: without the key, not even a retired token revokes.
        raise InvalidGrant("the refresh token is bound to another DPoP key",
                           detail="dpop_key_mismatch")
    if current.rotated_at is not None and not _within_grace(current, now, ctx):
        # Reuse is detected before anything else is checked: a retired token must revoke its
        # family even when the request is wrong in some other way too (e.g. its scope).
        await _reject(current, presented, grants=grants, now=now, ctx=ctx)
    scope = _narrowed_scope(raw_scope, grant)
    targets = narrow(requested, grant.resources, ctx.settings.audience)
    bound = current.dpop_jkt or (jkt if client.is_public else None)
    successor = RefreshToken(new_digest, grant.grant_id, client.client_id, now,
                             now + ctx.settings.refresh_token_ttl_seconds, token_digest,
                             dpop_jkt=bound)
    in_grace = False
    if await grants.rotate_refresh(token_digest, now, successor) is None:
        # Re-read: a concurrent request may have rotated it between our read and our update.
        current = await grants.find_refresh(token_digest) or current
        in_grace = await _retry_in_grace(current, successor, grants=grants, now=now, ctx=ctx)
        if not in_grace:
            await _reject(current, presented, grants=grants, now=now, ctx=ctx)
    return grant, scope, targets, in_grace


def _same_key(bound: str | None, jkt: str | None) -> bool:
    """May a request with the proof key ``jkt`` (None: no proof) use a token bound to
    ``bound`` (None: not bound)?"""
    if bound is None:
        return True
    return jkt is not None and hmac.compare_digest(bound.encode("ascii", "replace"),
                                                   jkt.encode("ascii"))


def _narrowed_scope(raw: str | None, grant: Grant) -> tuple[str, ...]:
    """RFC 6749 §6: a requested scope "MUST NOT include any scope not originally granted"."""
    if raw is None:
        return grant.scope
    requested = parse_scope(raw)
    if not set(requested) <= set(grant.scope):
        raise InvalidScope("the requested scope exceeds the original grant")
    return requested


def _within_grace(token: RefreshToken, now: int, ctx: Context) -> bool:
    """Was ``token`` rotated so recently that presenting it again may be a retry?"""
    grace = ctx.settings.refresh_reuse_grace_seconds
    return grace > 0 and token.rotated_at is not None and now - token.rotated_at <= grace


async def _retry_in_grace(current: RefreshToken, successor: RefreshToken, *, grants: GrantStore,
                          now: int, ctx: Context) -> bool:
    """A retry of the just-rotated token: retire its live successor instead of forking."""
    if not _within_grace(current, now, ctx) or current.replaced_by is None:
        return False
    replacement = RefreshToken(successor.token_digest, successor.grant_id, successor.client_id,
                               successor.issued_at, successor.expires_at, current.replaced_by,
                               dpop_jkt=successor.dpop_jkt)
    return await grants.rotate_refresh(current.replaced_by, now, replacement) is not None


async def _reject(current: RefreshToken, presented: str, *, grants: GrantStore, now: int,
                  ctx: Context) -> NoReturn:
    """Not rotatable: reuse of a retired token revokes the family; otherwise just refuse."""
    if current.rotated_at is not None:
        # RFC 9700 §4.14.2: on reuse, invalidate the whole refresh token family.
        await grants.revoke_grant(current.grant_id, now)
        ctx.bus.emit(RefreshReuseDetected(current.client_id, current.grant_id,
                                          fingerprint(presented)))
        raise InvalidGrant(_INVALID, detail="refresh_reused")
    raise InvalidGrant(_INVALID, detail="refresh_expired")
