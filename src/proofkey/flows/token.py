"""The token endpoint (RFC 6749 §3.2, §5): authenticate the client, dispatch on grant_type.

Every outcome, success or refusal, is emitted as an event with a closed-set outcome
(``proofkey.outcomes.TokenOutcome``: an invalid_grant's refusal, else the error code), which
metrics and the audit log turn into SLIs; except a device
poll answered ``authorization_pending`` (RFC 8628 §3.5): that is the grant's normal waiting
state, not a refusal, and counting it would burn the token-exchange error budget.

DPoP (RFC 9449): once the client is authenticated and may use the grant type, its proof (the
``DPoP`` header values) is checked by ``DpopGate``; the grant then binds what it issues to the
proof's key. A grant refused because its code or refresh token is bound to another key is
counted as a DPoP ``key_mismatch`` too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from proofkey.crypto import fingerprint
from proofkey.errors import (
    AuthorizationPending,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from proofkey.models import Client
from proofkey.observability.events import DpopRefused, TokenExchanged, TokenExchangeFailed
from proofkey.outcomes import TokenOutcome, error_outcome, is_grant_type
from proofkey.protocol.credentials import read_client_credentials
from proofkey.protocol.device import DEVICE_GRANT_TYPE
from proofkey.protocol.params import Params, values_of
from proofkey.protocol.resource import parse_resources, require_registered
from proofkey.protocol.responses import token_body
from proofkey.protocol.scope import check_scope, format_scope, parse_scope
from proofkey.store.base import (
    ClientStore,
    CodeStore,
    DeviceStore,
    GrantStore,
    RateLimiter,
    ResourceDirectory,
)
from proofkey.tokens.mint import TokenMinter

from .client_assertion import ClientAssertions
from .client_auth import authenticate_client
from .code_grant import redeem_code
from .context import Context
from .device import poll
from .dpop import DpopGate
from .refresh_grant import refresh
from .resources import catalog_for, target_for

__all__ = ["TokenServices", "exchange"]


@dataclass(frozen=True, slots=True)
class TokenServices:
    clients: ClientStore
    codes: CodeStore
    grants: GrantStore
    devices: DeviceStore
    minter: TokenMinter
    limiter: RateLimiter  # failed client authentications (flows/client_auth)
    resources: ResourceDirectory  # registered resources (RFC 8707)
    assertions: ClientAssertions  # private_key_jwt (RFC 7523 §2.2)
    dpop: DpopGate  # DPoP proofs (RFC 9449)


async def exchange(
    form: Params, authorization: str | None, *, services: TokenServices, client_ip: str,
    ctx: Context, dpop: Sequence[str] = (),
) -> dict[str, str | int]:
    """Handle one token request (``dpop``: every ``DPoP`` header value, in order); raise an
    OAuthError for every refusal."""
    started = time.perf_counter()
    grant_type = form.get("grant_type")
    client: Client | None = None
    jkt: str | None = None
    try:
        if grant_type is None:
            raise InvalidRequest("grant_type is required", detail="invalid_request")
        credentials = read_client_credentials(authorization, form)
        client = await authenticate_client(credentials, services.clients,
                                           limiter=services.limiter, client_ip=client_ip,
                                           ctx=ctx, assertions=services.assertions)
        if not is_grant_type(grant_type):
            raise UnsupportedGrantType("the grant_type is not supported")
        if grant_type not in client.grant_types:
            raise UnauthorizedClient("the client may not use this grant_type")
        proof = await services.dpop.check(dpop, client, ctx)
        jkt = proof.jkt if proof is not None else None
        if grant_type == "authorization_code":
            body, grant_id = await redeem_code(form, client, codes=services.codes,
                                               grants=services.grants, minter=services.minter,
                                               ctx=ctx, resources=services.resources, jkt=jkt)
        elif grant_type == "refresh_token":
            body, grant_id = await refresh(form, client, grants=services.grants,
                                           minter=services.minter, ctx=ctx,
                                           resources=services.resources, jkt=jkt)
        elif grant_type == DEVICE_GRANT_TYPE:
            body, grant_id = await poll(form, client, devices=services.devices,
                                        minter=services.minter, ctx=ctx,
                                        resources=services.resources, jkt=jkt)
        else:
            body = await _client_credentials(form, client, services, ctx, jkt)
            grant_id = None
    except AuthorizationPending:
        raise
    except OAuthError as error:
        outcome = _outcome(error)
        if outcome == "dpop_key_mismatch":
            ctx.bus.emit(DpopRefused(client.client_id if client else None, "key_mismatch",
                                     fingerprint(jkt) if jkt else None))
        ctx.bus.emit(TokenExchangeFailed(
            client.client_id if client else None,
            grant_type if is_grant_type(grant_type) else None,
            outcome, error.error, time.perf_counter() - started,
            error.detail if error.detail != outcome else None))
        raise
    ctx.bus.emit(TokenExchanged(client.client_id, grant_type, grant_id,
                                time.perf_counter() - started))
    return body


def _outcome(error: OAuthError) -> TokenOutcome:
    """The M1 outcome: an invalid_grant's refusal, else the error code (closed set)."""
    refusal = error.refusal if isinstance(error, InvalidGrant) else None
    return refusal or error_outcome(error.error)


async def _client_credentials(form: Params, client: Client, services: TokenServices,
                              ctx: Context, jkt: str | None) -> dict[str, str | int]:
    """RFC 6749 §4.4: confidential clients only; no refresh token (§4.4.3). RFC 8707: the
    token is for the registered ``resource``(s) named, else for the default audience."""
    if client.is_public:
        raise UnauthorizedClient("public clients may not use client_credentials")
    catalog = await catalog_for(form, ctx.settings, services.resources)
    scope = check_scope(parse_scope(form.get("scope")), allowed=client.scopes,
                        supported=catalog.known_scopes(ctx.settings.scopes_supported))
    if "openid" in scope:
        raise InvalidScope("openid needs a user; it cannot be used with client_credentials")
    resources = parse_resources(values_of(form, "resource"))
    require_registered(resources, catalog, services.minter.audience)
    target = await target_for(scope, resources, directory=services.resources,
                              default_audience=services.minter.audience)
    now = ctx.now()
    access = services.minter.access_token(
        client_id=client.client_id, subject=None, scope=format_scope(target.scope),
        grant_id=None, auth_time=None, now=now, audience=target.audience, jkt=jkt)
    return token_body(access_token=access.token, expires_in=access.expires_at - now,
                      scope=format_scope(target.scope),
                      token_type="Bearer" if jkt is None else "DPoP")
