"""The device authorization grant (RFC 8628) for input-constrained and headless devices.

The device asks for a device code and a user code (§3.1–3.2), shows the user code, and polls
the token endpoint (§3.4) while the user signs in on another device, enters the code and
approves (§3.3). Polls answer ``authorization_pending`` until then, ``slow_down`` when they
come faster than the interval, ``access_denied`` or ``expired_token`` at the end (§3.5). The
approved authorization is consumed exactly once, in the same transaction that creates its
grant. User-code entry is throttled per address (§5.1: brute forcing the user code), and the
store keeps only the digest of a user code's normalised form, as of every other secret.
``resource`` (RFC 8707) may name registered resources in the device request; the device's token
request may narrow them, never widen them (``invalid_target``, before the request is consumed).

A device code that already gave its tokens is ``invalid_grant``, as a used authorization code
is (RFC 6749 §5.2): RFC 8628 keeps ``expired_token`` for a code whose lifetime ran out, and a
replay is no reason to tell the device to start a new authorization.
"""

from __future__ import annotations

from typing import Any

from proofkey.crypto import digest, new_handle, new_id
from proofkey.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
    RateLimited,
    ServerError,
    SlowDown,
    UnauthorizedClient,
)
from proofkey.models import Client, DeviceAuthorization, Grant, RefreshToken, Session
from proofkey.protocol.device import (
    DEVICE_GRANT_TYPE,
    format_user_code,
    new_user_code,
    normalize_user_code,
)
from proofkey.protocol.params import Params, values_of
from proofkey.protocol.resource import Target, narrow, parse_resources, require_registered
from proofkey.protocol.scope import check_scope, parse_scope
from proofkey.store.base import AlreadyExists, DeviceStore, RateLimiter, ResourceDirectory
from proofkey.tokens.mint import TokenMinter

from . import throttle
from .context import Context
from .resources import catalog_for, target_for
from .row_caps import device_cap
from .token_response import mint_token_response

__all__ = [
    "DEVICE_CODE_TTL",
    "POLL_INTERVAL",
    "authorize_device",
    "decide",
    "find_request",
    "poll",
]

DEVICE_CODE_TTL = 600
POLL_INTERVAL = 5
_SLOW_DOWN_STEP = 5  # RFC 8628 §3.5: "the interval MUST be increased by 5 seconds"
_ENTRY_LIMIT = 10  # wrong user codes per address per window
_ENTRY_WINDOW = 300
_UNKNOWN = "that code is not valid or has expired; check it and try again"


async def authorize_device(
    form: Params, client: Client, *, devices: DeviceStore, ctx: Context, limiter: RateLimiter,
    address: str, resources: ResourceDirectory | None = None,
) -> dict[str, Any]:
    """RFC 8628 §3.1–3.2: issue a device code and a user code for an authenticated client; a
    valid request counts against the caps of ``row_caps`` (``RateLimited`` beyond them)."""
    if DEVICE_GRANT_TYPE not in client.grant_types:
        raise UnauthorizedClient("the client may not use the device authorization grant")
    catalog = await catalog_for(form, ctx.settings, resources)
    scope = check_scope(parse_scope(form.get("scope")), allowed=client.scopes,
                        supported=catalog.known_scopes(ctx.settings.scopes_supported))
    targets = parse_resources(values_of(form, "resource"))
    require_registered(targets, catalog, ctx.settings.audience)
    await device_cap(ctx.settings, DEVICE_CODE_TTL).admit(
        limiter, client_id=client.client_id, address=address, now=ctx.clock())
    now = ctx.now()
    device_code = new_handle()
    for _attempt in range(5):  # a user-code collision is rare; draw again
        user_code = new_user_code()
        try:
            await devices.save_device(DeviceAuthorization(
                device_digest=digest(device_code), user_code_digest=digest(user_code),
                client_id=client.client_id, scope=scope, created_at=now,
                expires_at=now + DEVICE_CODE_TTL, interval=POLL_INTERVAL, resources=targets))
            break
        except AlreadyExists:
            continue
    else:
        raise RateLimited("no user code is free right now; retry", retry_after=1)
    issuer = ctx.settings.effective_issuer
    return {
        "device_code": device_code,
        "user_code": format_user_code(user_code),
        "verification_uri": f"{issuer}/device",
        "verification_uri_complete": f"{issuer}/device?user_code={user_code}",
        "expires_in": DEVICE_CODE_TTL,
        "interval": POLL_INTERVAL,
    }


async def find_request(
    typed: str, *, devices: DeviceStore, limiter: RateLimiter, client_ip: str, ctx: Context
) -> DeviceAuthorization:
    """The pending request behind a code a person typed; wrong codes are throttled (§5.1).

    The attempt is counted before the code is looked up, and released when the code was right:
    of N concurrent guesses at most the limit are looked up."""
    held = await throttle.reserve(limiter, (throttle.Limit(
        "ip", f"device:ip:{client_ip}", _ENTRY_LIMIT, _ENTRY_WINDOW),), ctx.clock())
    if isinstance(held, throttle.Refused):
        raise RateLimited("too many wrong codes; wait a few minutes",
                          retry_after=held.retry_after)
    user_code = normalize_user_code(typed)
    try:
        request = (await devices.get_device_by_user_code(digest(user_code), ctx.now())
                   if user_code else None)
    except Exception:
        await throttle.release(limiter, held)
        raise
    if request is None or request.status != "pending":
        raise InvalidRequest(_UNKNOWN, redirectable=False)
    await throttle.release(limiter, held)
    return request


async def decide(
    request: DeviceAuthorization, approve: bool, session: Session, *, devices: DeviceStore,
    ctx: Context,
) -> None:
    """The signed-in user approves or denies the device's request, exactly once.

    The approval is for this one device request and is not remembered as consent: a device
    request has no redirect, so remembering it would let a later browser request of the same
    client go through without the user (RFC 8252 §8.6)."""
    now = ctx.now()
    decided = await devices.decide_device(request.user_code_digest, now, approve=approve,
                                          user_id=session.user_id,
                                          auth_time=session.auth_time)
    if not decided:
        raise InvalidRequest(_UNKNOWN, redirectable=False)


async def poll(
    form: Params, client: Client, *, devices: DeviceStore, minter: TokenMinter, ctx: Context,
    resources: ResourceDirectory, jkt: str | None = None,
) -> tuple[dict[str, str | int], str]:
    """RFC 8628 §3.4–3.5: one token request of the polling device (DPoP-bound to ``jkt``, the
    verified proof's key, if any)."""
    device_code = form.get("device_code")
    if device_code is None:
        raise InvalidRequest("device_code is required")
    requested = parse_resources(values_of(form, "resource"))
    if len(device_code) > 256:
        raise InvalidGrant("the device code is invalid", detail="device_invalid")
    now = ctx.now()
    polled = await devices.poll_device(digest(device_code), now)
    if polled is None or polled[0].client_id != client.client_id:
        raise InvalidGrant("the device code is invalid", detail="device_invalid")
    request, previous = polled
    if request.consumed_at is not None:
        raise InvalidGrant("the device code was already used", detail="device_reused")
    if request.expires_at <= now:
        raise ExpiredToken("the device code has expired; start again")
    if request.status == "denied":
        raise AccessDenied("the user denied the request")
    if previous is not None and now - previous < request.interval:
        raise SlowDown(f"poll at most every {request.interval + _SLOW_DOWN_STEP} seconds")
    if request.status == "pending":
        raise AuthorizationPending("the user has not approved the request yet")
    target = await target_for(request.scope, narrow(requested, request.resources, minter.audience),
                              directory=resources, default_audience=minter.audience)
    return await _issue(request, client, target, devices=devices, minter=minter, ctx=ctx,
                        now=now, jkt=jkt)


async def _issue(request: DeviceAuthorization, client: Client, target: Target, *,
                 devices: DeviceStore, minter: TokenMinter, ctx: Context,
                 now: int, jkt: str | None) -> tuple[dict[str, str | int], str]:
    if request.user_id is None or request.auth_time is None:
        raise ServerError("approved device request without a user")  # store contract broken
    grant_id = new_id()
    grant = Grant(grant_id, client.client_id, request.user_id, request.scope, request.auth_time,
                  now, now + ctx.settings.grant_ttl_seconds, resources=request.resources)
    refresh = new_handle() if "refresh_token" in client.grant_types else None
    refresh_record = (RefreshToken(digest(refresh), grant_id, client.client_id, now,
                                   now + ctx.settings.refresh_token_ttl_seconds,
                                   dpop_jkt=jkt if client.is_public else None)  # RFC 9449 §5
                      if refresh else None)
    if await devices.consume_device(request.device_digest, now, grant, refresh_record) is None:
        # A concurrent poll of the same device code won the approved request.
        raise InvalidGrant("the device code was already used", detail="device_reused")
    return mint_token_response(minter, client, subject=request.user_id, scope=target.scope,
                               grant_id=grant_id, auth_time=request.auth_time, now=now,
                               refresh_token=refresh, audience=target.audience,
                               jkt=jkt), grant_id
