"""A connector login, both legs: from a pending downstream authorization to the upstream and
back, then on to the code (or the consent page) exactly as after a password login.

``start`` seals the upstream attempt's verifier, nonce and the pending request's handle under
the browser secret and the state (``sealing``) and stores it under the digest of the state.
``callback`` takes that row once (a replayed or forged callback finds nothing), checks the
browser, that the row belongs to THIS connector (mix-up defence across connectors, with the
SDK's RFC 9207 ``iss`` check), then lets the SDK check and redeem the response. Until the
pending request is known, errors are pages; after, they go back to the client's validated
redirect URI as ``access_denied`` or ``temporarily_unavailable``, with ``state`` and ``iss``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proofkey.crypto import constant_time_equal, digest
from proofkey.errors import (
    AccessDenied,
    InvalidRequest,
    OAuthError,
    RateLimited,
    TemporarilyUnavailable,
)
from proofkey.flows import interaction
from proofkey.flows.authorize import Redirect, error_redirect
from proofkey.flows.context import Context
from proofkey.models import PendingAuthorization, UpstreamLogin
from proofkey.observability.events import LoginSucceeded, UpstreamExchanged
from proofkey.sdk import AuthorizationRequest
from proofkey.store.base import RateLimiter, Store

from . import upstream
from .accounts import account_for
from .registry import Connectors
from .sealing import SealError, open_json, seal_json, transaction_key

__all__ = ["SignedIn", "callback", "deny", "start"]

_GONE = ("This sign-in has expired or was already completed. Return to the application and "
         "start again.")
_MAX_STATE = 512
# Upstream attempts one pending request may start: each stores a transaction row until it
# expires, so a browser cannot fill the table by reloading the connector link.
STARTS_PER_REQUEST = 10


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The upstream vouched for a user: their new session, and where the browser goes next."""

    session_handle: str
    url: str


def _purpose(connector: str) -> str:
    return f"upstream-transaction:{connector}"


async def deny(handle: str, error: OAuthError, *, store: Store, ctx: Context) -> Redirect:
    """End the pending request and send ``error`` to its client's redirect URI."""
    taken = await store.take_pending(digest(handle), ctx.now())
    if taken is None:
        raise InvalidRequest(_GONE, redirectable=False)
    return error_redirect(ctx, taken.redirect_uri, taken.state, error)


def _as_error(failure: upstream.UpstreamFailure) -> OAuthError:
    if failure.error == "temporarily_unavailable":
        return TemporarilyUnavailable("the identity provider is unavailable; try again later")
    return AccessDenied("the identity provider did not sign the user in")


async def start(name: str, handle: str, pending: PendingAuthorization, browser_secret: str, *,
                connectors: Connectors, store: Store, limiter: RateLimiter,
                ctx: Context) -> str | Redirect:
    """The upstream authorization URL for this pending request, or the error redirect;
    RateLimited (a 429 page) after STARTS_PER_REQUEST attempts."""
    held = await limiter.reserve(f"upstream-start:{digest(handle)}", STARTS_PER_REQUEST,
                                 ctx.settings.interaction_ttl_seconds, ctx.clock())
    if not held.granted:
        raise RateLimited("too many sign-in attempts for this request; start again",
                          retry_after=held.retry_after)
    config = await connectors.get(name)
    if config is None:
        return await deny(handle, InvalidRequest("unknown identity provider (idp_hint)"),
                          store=store, ctx=ctx)
    try:
        request = await upstream.begin(connectors.client(config), config)
    except upstream.UpstreamFailure as failure:
        ctx.bus.emit(UpstreamExchanged(name, failure.outcome, pending.client_id,
                                       detail=failure.detail))
        return await deny(handle, _as_error(failure), store=store, ctx=ctx)
    secrets = {"verifier": request.code_verifier, "nonce": request.nonce, "handle": handle}
    sealed = seal_json(transaction_key(browser_secret, request.state), secrets,
                       purpose=_purpose(name))
    await store.save_upstream_login(digest(request.state),
                                    UpstreamLogin(name, digest(browser_secret), sealed),
                                    min(pending.expires_at, ctx.now()
                                        + ctx.settings.interaction_ttl_seconds))
    return request.url


async def _open(query: Mapping[str, str], browser_secret: str, *, store: Store,
                ctx: Context) -> tuple[UpstreamLogin, dict[str, Any], str]:
    state = query.get("state", "")
    if not state or len(state) > _MAX_STATE:
        raise InvalidRequest("the identity provider's answer has no valid state",
                             redirectable=False)
    login = await store.take_upstream_login(digest(state), ctx.now())  # single use
    if login is None or not constant_time_equal(login.browser_digest, digest(browser_secret)):
        raise InvalidRequest(_GONE, redirectable=False)
    try:
        secrets = open_json(transaction_key(browser_secret, state), login.sealed,
                            purpose=_purpose(login.connector))
    except SealError:
        raise InvalidRequest(_GONE, redirectable=False) from None
    return login, secrets, state


async def callback(name: str, url: str, query: Mapping[str, str], browser_secret: str,
                   previous_session: str | None, *, connectors: Connectors, store: Store,
                   ctx: Context) -> SignedIn | Redirect:
    """Finish the upstream leg from the callback ``url``; raise a page error (redirectable
    False) while the pending request is unknown."""
    login, secrets, state = await _open(query, browser_secret, store=store, ctx=ctx)
    handle = str(secrets["handle"])
    pending = await store.get_pending(digest(handle), ctx.now())
    if pending is None:
        raise InvalidRequest(_GONE, redirectable=False)
    config = await connectors.get(name)
    if login.connector != name or config is None:
        # A response for connector A at B's callback (or for a connector since removed).
        ctx.bus.emit(UpstreamExchanged(login.connector, "mix_up", pending.client_id,
                                       detail=f"arrived at the callback of {name[:32]}"))
        return await deny(handle, AccessDenied("the identity provider's answer was refused"),
                          store=store, ctx=ctx)
    request = AuthorizationRequest("", state, secrets.get("nonce"), str(secrets["verifier"]),
                                   upstream.callback_url(ctx.settings.effective_issuer, name),
                                   " ".join(config.scope))
    try:
        claims = upstream.mapped(config, await upstream.finish(
            connectors.client(config), config, url, request))
    except upstream.UpstreamFailure as failure:
        ctx.bus.emit(UpstreamExchanged(name, failure.outcome, pending.client_id,
                                       detail=failure.detail))
        return await deny(handle, _as_error(failure), store=store, ctx=ctx)
    user = await account_for(name, claims, users=store, links=store, ctx=ctx)
    if user is None:
        return await deny(handle, AccessDenied("the linked account no longer exists"),
                          store=store, ctx=ctx)
    ctx.bus.emit(UpstreamExchanged(name, "success", pending.client_id, user.user_id))
    ctx.bus.emit(LoginSucceeded(user.user_id, pending.client_id))
    session_handle, session = await interaction.start_session(
        user, sessions=store, previous=previous_session, ctx=ctx)
    client = await store.get_client(pending.client_id)  # a metadata-document client: None
    outcome = await interaction.after_login(
        handle, pending, session, client_profile=client.profile if client else "",
        interactions=store, consents=store, codes=store, ctx=ctx)
    target = outcome.url if isinstance(outcome, Redirect) else f"/interaction/{handle}"
    return SignedIn(session_handle, target)
