"""Login and consent between /authorize and the code: the user-facing half of the code flow.

A pending authorization is bound to the browser that started it (the digest of its browser
cookie), so a victim cannot be made to finish an attacker's request. Form posts carry a CSRF
token derived from that browser secret (HMAC); the pending request ends exactly once
(``take_pending`` is atomic), and only then is a code issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from proofkey.crypto import (
    constant_time_equal,
    digest,
    fingerprint,
    new_handle,
    verify_password_async,
)
from proofkey.errors import AccessDenied, InvalidRequest, RateLimited
from proofkey.models import Client, PendingAuthorization, Session, User
from proofkey.observability.events import LoginFailed, LoginSucceeded, LoginThrottled
from proofkey.protocol.responses import redirect_with
from proofkey.store.base import (
    ClientStore,
    CodeStore,
    ConsentStore,
    InteractionStore,
    RateLimiter,
    SessionStore,
    UserStore,
)

from . import throttle
from .authorize import Redirect, error_redirect, issue_code
from .context import Context

__all__ = [
    "BadCredentials",
    "NeedConsent",
    "after_login",
    "authenticate",
    "check_csrf",
    "csrf_token",
    "decide_consent",
    "load_pending",
    "start_session",
]


class BadCredentials(Exception):
    """Username or password wrong; the page says so generically."""


@dataclass(frozen=True, slots=True)
class NeedConsent:
    """Logged in; show the consent page next."""


_EXPIRED = ("This sign-in request has expired or was already completed. "
            "Return to the application and start again.")


def csrf_token(browser_secret: str, purpose: str) -> str:
    """A per-browser, per-form token: HMAC-SHA256 keyed by the browser cookie's secret."""
    mac = hmac.new(browser_secret.encode(), f"csrf|{purpose}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def check_csrf(browser_secret: str, purpose: str, token: str | None) -> None:
    if token is None or not constant_time_equal(token, csrf_token(browser_secret, purpose)):
        raise InvalidRequest("the form has expired; reload the page and try again",
                             redirectable=False)


async def load_pending(
    handle: str, browser_secret: str, *, interactions: InteractionStore, clients: ClientStore,
    ctx: Context,
) -> tuple[PendingAuthorization, Client]:
    """The unexpired pending request of this browser, with its client."""
    pending = await interactions.get_pending(digest(handle), ctx.now())
    if pending is None or not constant_time_equal(pending.browser_digest, digest(browser_secret)):
        raise InvalidRequest(_EXPIRED, redirectable=False)
    client = await clients.get_client(pending.client_id)
    if client is None:
        raise InvalidRequest(_EXPIRED, redirectable=False)
    return pending, client


async def authenticate(
    username: str, password: str, *, users: UserStore, limiter: RateLimiter, client_ip: str,
    client_id: str | None, ctx: Context,
) -> User:
    """Check a password under per-user and per-address throttling; raise BadCredentials, or
    RateLimited (429) without checking it.

    The one password login of the pages (/interaction, /account, /device). The attempt is
    counted under both keys BEFORE the password is verified (RFC 6749 §10.10: concurrent
    guesses must not all run while the count is still low); a wrong password keeps the count, a
    right one releases it and clears the user's failures."""
    settings = ctx.settings
    now = ctx.clock()
    window = settings.login_window_seconds
    user_key = f"login:user:{fingerprint(username.casefold())}"
    held = await throttle.reserve(limiter, (
        throttle.Limit("user", user_key, settings.login_failures_per_user, window),
        throttle.Limit("ip", f"login:ip:{client_ip}", settings.login_failures_per_ip, window),
    ), now)
    if isinstance(held, throttle.Refused):
        ctx.bus.emit(LoginThrottled(fingerprint(username), held.scope))
        raise RateLimited("too many failed sign-in attempts; try again later",
                          retry_after=held.retry_after)
    try:
        user = await users.get_user_by_username(username) if len(username) <= 200 else None
        # A user without a password yet (a password-set link) or disabled verifies against
        # the dummy hash: the same time as an unknown user, and False.
        usable = user if user is not None and user.has_password and user.disabled_at is None \
            else None
        ok = await verify_password_async(usable.password_hash if usable else None,
                                         password[:1024])
    except Exception:
        await throttle.release(limiter, held)  # not verified (store down): not a failure
        raise
    if user is None or usable is None or not ok:
        ctx.bus.emit(LoginFailed(fingerprint(username), client_id))
        raise BadCredentials
    await throttle.release(limiter, held)
    await limiter.reset(user_key)
    ctx.bus.emit(LoginSucceeded(user.user_id, client_id))
    return user


async def start_session(
    user: User, *, sessions: SessionStore, previous: str | None, ctx: Context
) -> tuple[str, Session]:
    """A fresh session handle after login (never reuse one: no session fixation)."""
    if previous:
        await sessions.delete_session(digest(previous))
    now = ctx.now()
    handle = new_handle()
    session = Session(digest(handle), user.user_id, now, now + ctx.settings.session_ttl_seconds)
    await sessions.save_session(session)
    return handle, session


async def after_login(
    handle: str, pending: PendingAuthorization, session: Session, *, client_profile: str,
    interactions: InteractionStore, consents: ConsentStore, codes: CodeStore, ctx: Context,
) -> Redirect | NeedConsent:
    """Issue the code now, or record the user and ask for consent first; ``client_profile`` is
    the pending request's client's (``flows.profile``: it sets the code's lifetime)."""
    granted = await consents.get_consent(session.user_id, pending.client_id)
    # An empty set means no consent on record: ask, even for an empty scope.
    if "consent" in pending.prompt or not granted or not set(pending.scope) <= granted:
        await interactions.set_pending_user(digest(handle), session.user_id, session.auth_time)
        return NeedConsent()
    return await _finish(handle, session.user_id, session.auth_time, client_profile=client_profile,
                         interactions=interactions, codes=codes, ctx=ctx)


async def decide_consent(
    handle: str, pending: PendingAuthorization, allow: bool, *, client_profile: str,
    interactions: InteractionStore, consents: ConsentStore, codes: CodeStore, ctx: Context,
) -> Redirect:
    """Record the user's decision and answer the client (code, or ``access_denied``)."""
    if pending.user_id is None or pending.auth_time is None:
        raise InvalidRequest(_EXPIRED, redirectable=False)
    if not allow:
        taken = await interactions.take_pending(digest(handle), ctx.now())
        if taken is None:
            raise InvalidRequest(_EXPIRED, redirectable=False)
        return error_redirect(ctx, taken.redirect_uri, taken.state,
                              AccessDenied("the user denied the request"))
    await consents.save_consent(pending.user_id, pending.client_id, pending.scope, ctx.now())
    return await _finish(handle, pending.user_id, pending.auth_time, client_profile=client_profile,
                         interactions=interactions, codes=codes, ctx=ctx)


async def _finish(handle: str, user_id: str, auth_time: int, *, client_profile: str,
                  interactions: InteractionStore, codes: CodeStore, ctx: Context) -> Redirect:
    taken = await interactions.take_pending(digest(handle), ctx.now())
    if taken is None:
        raise InvalidRequest(_EXPIRED, redirectable=False)
    code = await issue_code(taken, user_id, auth_time, codes=codes, ctx=ctx,
                            client_profile=client_profile)
    return Redirect(redirect_with(taken.redirect_uri, {
        "code": code, "state": taken.state, "iss": ctx.settings.effective_issuer}))
