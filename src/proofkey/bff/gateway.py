"""The gateway's use cases without HTTP types: start and finish a login, find a session, hand
out a fresh access token (one refresh per session at a time), log out.

Problems are ``BffProblem`` values with a status and a public description; ``web.py`` turns
them into JSON. Tokens live only inside ``SessionTokens``, sealed in the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry import trace

from proofkey.bff.metrics import BffMetrics
from proofkey.bff.sessions import PendingLogin, Sealer, Session, SessionStore, SessionTokens
from proofkey.bff.settings import BffSettings
from proofkey.crypto import digest, fingerprint, new_handle
from proofkey.sdk import AsyncOAuthClient, AuthorizationRequest, OAuthClientError, TokenSet
from proofkey.sdk.core import ProviderMetadata, end_session_url

__all__ = ["BffProblem", "Gateway", "LoginStarted"]

_log = logging.getLogger("proofkey.bff")
LOGIN_TTL = 600
TOUCH_EVERY = 60
LEASE_SLACK = 5  # a refresh lease outlives the provider timeout by this much
LEASE_POLL = 0.05  # seconds between looks at a row another instance is refreshing
_HIDDEN_CLAIMS = frozenset({"nonce", "at_hash", "c_hash", "s_hash", "azp", "aud", "iss"})
_NONE = ProviderMetadata("", "", "")
_PROVIDER_ERRORS = frozenset({"discovery_failed", "jwks_failed", "invalid_metadata",
                              "invalid_response"})


class BffProblem(Exception):
    """An answer for the SPA: ``status``, an ``error`` code and a public description."""

    def __init__(self, status: int, error: str, description: str, *,
                 login: bool = False, retry_after: int | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.login = login
        self.retry_after = retry_after


def login_required(description: str) -> BffProblem:
    return BffProblem(401, "login_required", description, login=True)


def provider_problem(exc: Exception) -> BffProblem:
    if isinstance(exc, httpx.TransportError):
        return BffProblem(503, "provider_unavailable", "the identity provider cannot be "
                          "reached; try again later", retry_after=30)
    return BffProblem(502, "provider_error", "the identity provider gave an unusable answer; "
                      "try again later", retry_after=30)


@dataclass(frozen=True, slots=True)
class LoginStarted:
    login_id: str
    url: str


class Gateway:
    def __init__(self, settings: BffSettings, store: SessionStore, sealer: Sealer,
                 client: AsyncOAuthClient, metrics: BffMetrics,
                 clock: Callable[[], float] = time.time,
                 tracer: trace.Tracer | None = None) -> None:
        self.settings = settings
        self.tracer = tracer or trace.get_tracer("proofkey.bff")
        self.store = store
        self.sealer = sealer
        self.client = client
        self.metrics = metrics
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary())

    def now(self) -> int:
        return int(self.clock())

    def _rebase(self, expires_at: int | None) -> int | None:
        """The SDK dates expiry on the wall clock; the gateway keeps time by its own clock."""
        return None if expires_at is None else expires_at - int(time.time()) + self.now()

    # -- login ------------------------------------------------------------------------------

    async def start_login(self, return_path: str) -> LoginStarted:
        with self.tracer.start_as_current_span("bff.login"):
            try:
                request = await self.client.authorization_request(
                    redirect_uri=self.settings.redirect_uri)
            except (httpx.TransportError, OAuthClientError) as exc:
                self.metrics.login("provider_unavailable")
                _log.warning("login: provider unavailable (%s)", type(exc).__name__)
                raise provider_problem(exc) from None
        login_id = new_handle()
        pending = PendingLogin(request.state, request.nonce, request.code_verifier,
                               request.redirect_uri, request.scope, return_path)
        key = digest(login_id)
        await self.store.purge(self.now())
        await self.store.put_login(key, self.sealer.seal(pending.to_json(), key),
                                   self.now() + LOGIN_TTL)
        self.metrics.login("started")
        return LoginStarted(login_id, request.url)

    async def finish_login(self, login_id: str | None, callback_url: str) -> tuple[str, str]:
        """Check the callback, exchange the code; the new session id and the return path."""
        key = digest(login_id or "")
        sealed = await self.store.take_login(key, self.now()) if login_id else None
        data = self.sealer.open(sealed, key) if sealed else None
        if data is None:
            self.metrics.login("failed")
            raise BffProblem(400, "login_expired", "no login is in progress in this browser; "
                             "start again", login=True)
        pending = PendingLogin.from_json(data)
        request = AuthorizationRequest("", pending.state, pending.nonce, pending.code_verifier,
                                       pending.redirect_uri, pending.scope)
        with self.tracer.start_as_current_span("bff.callback"):
            try:
                tokens = await self.client.complete(callback_url, request)
            except httpx.TransportError as exc:
                self.metrics.login("provider_unavailable")
                raise provider_problem(exc) from None
            except OAuthClientError as exc:
                self.metrics.login("failed")
                _log.info("login failed: %s", exc.error)
                if exc.error in _PROVIDER_ERRORS or (exc.status or 0) >= 500:
                    raise provider_problem(exc) from None
                raise BffProblem(400, "login_failed", f"the login did not complete "
                                 f"({exc.error})", login=True) from None
        session_id = await self._create_session(tokens, await self._profile(tokens))
        self.metrics.login("ok")
        return session_id, pending.return_path

    async def _profile(self, tokens: TokenSet) -> dict[str, Any]:
        """The id_token's claims, with userinfo's (same subject, OIDC Core §5.3.2) when the
        provider has the endpoint: providers often keep names out of the id_token."""
        claims = dict(tokens.id_claims or {})
        if not claims.get("sub") or not (self.client.ops.metadata or _NONE).userinfo_endpoint:
            return claims
        try:
            extra = await self.client.userinfo(tokens.access_token, str(claims["sub"]))
        except (httpx.TransportError, OAuthClientError) as exc:
            _log.info("login: userinfo unavailable (%s)", type(exc).__name__)
            return claims
        return {**extra, **claims}

    async def _create_session(self, tokens: TokenSet, claims: dict[str, Any]) -> str:
        session_id = new_handle()
        key = digest(session_id)
        now = self.now()
        kept = SessionTokens(tokens.access_token, tokens.refresh_token, tokens.id_token,
                             self._rebase(tokens.expires_at), claims)
        await self.store.create(Session(
            key, self.sealer.seal(kept.to_json(), key), 1, now, now,
            now + self.settings.session_idle_seconds,
            now + self.settings.session_absolute_seconds))
        _log.info("session %s started", fingerprint(key))
        return session_id

    # -- a session in use -------------------------------------------------------------------

    async def session(self, session_id: str | None) -> tuple[Session, SessionTokens]:
        """The live session behind a cookie value (sliding its idle lifetime) or 401."""
        if not session_id:
            raise login_required("not logged in")
        key = digest(session_id)
        found = await self.store.get(key)
        now = self.now()
        if found is None or not found.alive(now):
            if found is not None and await self.store.delete(key) is not None:
                data = self.sealer.open(found.sealed, key)
                if data is not None:  # an ended session's refresh token dies with it
                    await self._revoke(SessionTokens.from_json(data))
            raise login_required("the session has ended")
        tokens = self._open(found)
        if now - found.last_seen_at >= min(TOUCH_EVERY, self.settings.session_idle_seconds // 10):
            await self.store.touch(key, now, now + self.settings.session_idle_seconds)
        return found, tokens

    def _open(self, session: Session) -> SessionTokens:
        data = self.sealer.open(session.sealed, session.digest)
        if data is None:  # sealed with another key (rotated, or a per-process key)
            raise login_required("the session cannot be read; log in again")
        return SessionTokens.from_json(data)

    def user(self, tokens: SessionTokens) -> dict[str, object]:
        return {k: v for k, v in tokens.claims.items() if k not in _HIDDEN_CLAIMS}

    def _stale(self, tokens: SessionTokens) -> bool:
        return (tokens.expires_at is not None
                and self.clock() + self.settings.refresh_before_seconds >= tokens.expires_at)

    async def access_token(self, session: Session, tokens: SessionTokens) -> str:
        """A usable access token, refreshed shortly before expiry: one refresh per session at
        a time, by an asyncio lock in this process and a lease on the row across instances
        (the others wait for the row's version to move, then use its tokens)."""
        if not self._stale(tokens):
            return tokens.access_token
        lock = self._locks.setdefault(session.digest, asyncio.Lock())
        async with lock:
            deadline = time.monotonic() + self.settings.provider_timeout_seconds + LEASE_SLACK
            while True:
                current = await self.store.get(session.digest)
                if current is None or not current.alive(self.now()):
                    raise login_required("the session has ended")
                tokens = self._open(current)
                if not self._stale(tokens):
                    return tokens.access_token  # refreshed meanwhile, here or elsewhere
                lease = self.now() + self.settings.provider_timeout_seconds + LEASE_SLACK
                if await self.store.claim_refresh(current.digest, current.version,
                                                  self.now(), lease):
                    return await self._refresh(current, tokens)
                if time.monotonic() > deadline:
                    raise BffProblem(503, "refresh_pending", "another refresh of this session "
                                     "is taking long; try again later", retry_after=5)
                await asyncio.sleep(LEASE_POLL)  # another instance refreshes: wait for it

    async def _refresh(self, current: Session, tokens: SessionTokens) -> str:
        if tokens.refresh_token is None:
            await self.store.delete(current.digest)
            raise login_required("the access token expired and there is no refresh token")
        with self.tracer.start_as_current_span("bff.refresh"):
            try:
                fresh = await self.client.refresh(tokens.refresh_token)
            except httpx.TransportError as exc:
                await self.store.release_refresh(current.digest)
                self.metrics.refresh("provider_unavailable")
                raise provider_problem(exc) from None
            except OAuthClientError as exc:
                if exc.error == "invalid_grant":
                    return await self._after_rejected_refresh(current)
                await self.store.release_refresh(current.digest)
                self.metrics.refresh("provider_unavailable")
                raise provider_problem(exc) from None
        kept = SessionTokens(fresh.access_token, fresh.refresh_token, fresh.id_token
                             or tokens.id_token, self._rebase(fresh.expires_at),
                             dict(fresh.id_claims or tokens.claims))
        if await self.store.replace_tokens(current.digest, current.version,
                                           self.sealer.seal(kept.to_json(), current.digest)):
            self.metrics.refresh("ok")
            return fresh.access_token
        return await self._reread(current.digest)  # the lease ran out and another one won

    async def _after_rejected_refresh(self, current: Session) -> str:
        """invalid_grant: either another instance rotated the refresh token first (the row has
        moved on: use its tokens) or the grant is over (end the session: log in again)."""
        again = await self.store.get(current.digest)
        if again is not None and again.version != current.version:
            return await self._reread(current.digest)
        await self.store.delete(current.digest)
        self.metrics.refresh("rejected")
        _log.info("session %s: refresh rejected, session ended", fingerprint(current.digest))
        raise login_required("the session expired or was revoked; log in again")

    async def _reread(self, key: str) -> str:
        self.metrics.refresh("lost_race")
        again = await self.store.get(key)
        if again is None:
            raise login_required("the session has ended")
        return self._open(again).access_token

    # -- logout ------------------------------------------------------------------------------

    async def logout(self, session_id: str | None) -> str:
        """End the session, revoke its refresh token; where the browser goes next."""
        ended = await self.store.delete(digest(session_id)) if session_id else None
        data = self.sealer.open(ended.sealed, ended.digest) if ended else None
        tokens = SessionTokens.from_json(data) if data else None
        if tokens is not None:
            self.metrics.logouts.inc()
            await self._revoke(tokens)
        target = f"{self.settings.origin}{self.settings.post_logout_path}"
        metadata = self.client.ops.metadata
        url = end_session_url(metadata, self.settings.client_id, target) if metadata else None
        return url or self.settings.post_logout_path

    async def _revoke(self, tokens: SessionTokens) -> None:
        token, hint = ((tokens.refresh_token, "refresh_token") if tokens.refresh_token
                       else (tokens.access_token, "access_token"))
        try:
            await self.client.revoke(token, hint)
        except (httpx.TransportError, OAuthClientError) as exc:
            _log.warning("logout: revocation failed (%s)", type(exc).__name__)
