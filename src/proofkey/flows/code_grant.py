"""The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, OAuth 2.1 §4.1.3).

Order, deliberately: syntax checks first (a malformed request burns nothing and revokes
nothing), then the code is **redeemed atomically** (``CodeStore.redeem_code``: one UPDATE …
WHERE redeemed_at IS NULL … RETURNING), and only then are client, redirect_uri and the PKCE
verifier compared: consume, then verify. Consuming first means a code gets exactly one
verification attempt: a wrong verifier burns it, so a stolen code cannot be brute-forced, and
of N concurrent redemptions exactly one proceeds. The grant the code issues (and its first
refresh token) is created in the same transaction as the consume, so a replay that finds the
code redeemed always finds the grant to revoke, even while the winning redemption is still in
flight; a binding check that fails after the redeem revokes that grant (the code stays burned).
A replay of a redeemed code is ``invalid_grant``; if the replay itself is valid (right client,
redirect_uri and verifier) the tokens issued from the code are revoked (RFC 6749 §4.1.2:
"If an authorization code is used more than once, the authorization server MUST deny the
request and SHOULD revoke (when possible) all tokens previously issued based on that
authorization code"); an invalid replay revokes nothing (OAuth 2.1 §7.5.2), so a guessing
attacker cannot revoke a victim's tokens.

DPoP (RFC 9449): a code issued for ``dpop_jkt`` (§10) is bound to that key like its other
bindings: a proof with another key, or none, is ``invalid_grant`` (``dpop_key_mismatch``), and a
replay without the key revokes nothing. A public client's first refresh token is bound to the
proof's key (§5), if any.

``resource`` (RFC 8707) is checked for syntax before the redeem; that it names only resources
the code was authorized for (a subset: it may narrow, never widen) is a binding checked after
it, like the others.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

from proofkey.crypto import digest, fingerprint, new_handle, new_id
from proofkey.errors import InvalidGrant, InvalidRequest, OAuthError
from proofkey.models import AuthorizationCode, Client, RefreshToken
from proofkey.observability.events import CodeReplayed
from proofkey.protocol import pkce
from proofkey.protocol.params import Params, values_of
from proofkey.protocol.resource import narrow, parse_resources
from proofkey.store.base import CodeStore, GrantStore, ResourceDirectory
from proofkey.tokens.mint import TokenMinter

from .context import Context
from .resources import target_for
from .token_response import mint_token_response

__all__ = ["redeem_code"]


async def redeem_code(
    form: Params, client: Client, *, codes: CodeStore, grants: GrantStore, minter: TokenMinter,
    ctx: Context, resources: ResourceDirectory, jkt: str | None = None,
) -> tuple[dict[str, str | int], str]:
    """Exchange a code for tokens (DPoP-bound to ``jkt``, the verified proof's key, if any);
    return the token response and the new grant id."""
    code = form.get("code")
    if code is None:
        raise InvalidRequest("code is required")
    redirect_uri = form.get("redirect_uri")
    if redirect_uri is None:
        raise InvalidRequest("redirect_uri is required")
    verifier = pkce.check_verifier_syntax(form.get("code_verifier"))
    requested = parse_resources(values_of(form, "resource"))
    if len(code) > 256:
        raise InvalidGrant("the authorization code is invalid or expired", detail="code_invalid")

    now = ctx.now()
    code_digest = digest(code)
    grant_id = new_id()
    refresh: str | None = None
    refresh_record: RefreshToken | None = None
    if "refresh_token" in client.grant_types:
        refresh = new_handle()
        refresh_record = RefreshToken(digest(refresh), grant_id, client.client_id, now,
                                      now + ctx.settings.refresh_token_ttl_seconds,
                                      dpop_jkt=jkt if client.is_public else None)
    record = await codes.redeem_code(code_digest, now, grant_id,
                                     now + ctx.settings.grant_ttl_seconds, refresh_record)
    if record is None:  # unknown, expired, or redeemed before: tell which
        await _refuse_unusable(await codes.find_code(code_digest), code, client, redirect_uri,
                               verifier, jkt, grants=grants, ctx=ctx)
    try:
        _bound_to(record, client, redirect_uri, verifier, jkt)
        chosen = narrow(requested, record.resources, minter.audience)
        target = await target_for(record.scope, chosen, directory=resources,
                                  default_audience=minter.audience)
    except OAuthError:
        await grants.revoke_grant(grant_id, now)  # never handed out; the code stays burned
        raise

    return mint_token_response(minter, client, subject=record.user_id, scope=target.scope,
                               grant_id=grant_id, auth_time=record.auth_time, now=now,
                               refresh_token=refresh, nonce=record.nonce,
                               audience=target.audience, jkt=jkt), grant_id


def _bound_to(record: AuthorizationCode, client: Client, redirect_uri: str,
              verifier: str, jkt: str | None) -> None:
    """The code's bindings: RFC 6749 §4.1.3 client and redirect_uri, RFC 7636 §4.6 PKCE,
    RFC 9449 §10 the DPoP key."""
    if record.client_id != client.client_id:
        raise InvalidGrant("the authorization code was issued to another client",
                           detail="client_mismatch")
    if record.redirect_uri != redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request",
                           detail="redirect_uri_mismatch")
    pkce.verify(verifier, record.code_challenge)
    if record.dpop_jkt is not None and (jkt is None or not hmac.compare_digest(
            record.dpop_jkt.encode("ascii", "replace"), jkt.encode("ascii"))):
        raise InvalidGrant("the authorization code is bound to another DPoP key",
                           detail="dpop_key_mismatch")


async def _refuse_unusable(
    found: AuthorizationCode | None, code: str, client: Client, redirect_uri: str,
    verifier: str, jkt: str | None, *, grants: GrantStore, ctx: Context,
) -> NoReturn:
    """The code cannot be redeemed: unknown, expired, or a replay. Always raises."""
    if found is None or found.redeemed_at is None:
        raise InvalidGrant("the authorization code is invalid or expired",
                           detail="code_expired" if found else "code_invalid")
    revoked = False
    try:
        _bound_to(found, client, redirect_uri, verifier, jkt)
    except OAuthError:
        pass  # an invalid replay revokes nothing (OAuth 2.1 §7.5.2)
    else:
        if found.grant_id is not None:
            revoked = await grants.revoke_grant(found.grant_id, ctx.now())
    ctx.bus.emit(CodeReplayed(client.client_id, fingerprint(code), found.grant_id, revoked))
    raise InvalidGrant("the authorization code was already used", detail="code_reused")
