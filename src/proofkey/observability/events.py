"""Typed domain events that flows emit, and the bus that hands them to subscribers.

Events carry only non-secret values: client ids, user ids, outcomes, error codes and
fingerprints (``crypto.fingerprint``) of codes and tokens — never the values themselves.
A subscriber that fails is logged and skipped; it never fails the request.

``challenge_problem`` and ``state_problem`` classify what was wrong with an authorization
request's PKCE and ``state`` parameters into closed sets (the M4 "redirect-parameter loss"
signal: a gateway that strips or mangles query parameters shows up here, per client).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from proofkey.outcomes import (
    ChallengeProblem,
    DpopRefusal,
    GrantType,
    MetadataOutcome,
    StateProblem,
    TokenOutcome,
    UpstreamOutcome,
)
from proofkey.protocol import pkce

__all__ = [
    "AdminApiCall",
    "AdminChange",
    "AuthorizationFailed",
    "AuthorizationStarted",
    "ChallengeProblem",
    "ChallengeReused",
    "ClientMetadataFetched",
    "ClientRegistration",
    "CodeIssued",
    "CodeReplayed",
    "DpopRefused",
    "Event",
    "EventBus",
    "LoggedOut",
    "LoginFailed",
    "LoginSucceeded",
    "LoginThrottled",
    "RefreshReuseDetected",
    "RefreshRotated",
    "StateProblem",
    "TokenExchangeFailed",
    "TokenExchanged",
    "TokenRevoked",
    "UpstreamExchanged",
    "UpstreamLinked",
    "challenge_problem",
    "state_problem",
]

_log = logging.getLogger("proofkey.events")

_MAX_STATE = 2048
_BASE64URL = re.compile(r"[A-Za-z0-9_\-]*")
_STILL_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


def challenge_problem(challenge: str | None, method: str | None) -> ChallengeProblem | None:
    """What is wrong with a request's PKCE pair, in the order ``pkce.check_challenge`` checks:
    absent, no method (which RFC 7636 §4.3 reads as plain), plain, another method, then a
    challenge that is too short but otherwise base64url (cut off) or malformed."""
    if challenge is None:
        return "missing"
    if method is None:
        return "method_missing"
    if method == "plain":
        return "method_plain"
    if method != pkce.S256:
        return "method_unsupported"
    if pkce.is_valid_challenge(challenge):
        return None
    if len(challenge) < 43 and _BASE64URL.fullmatch(challenge):
        return "truncated"
    return "malformed"


def state_problem(state: str | None) -> StateProblem | None:
    """Signs that ``state`` was damaged on its way: over the length proofkey accepts, still
    percent-encoded after decoding (double encoding), or holding a space (a ``+`` decoded by
    an intermediary). ``state`` is opaque, so these are hints, never reasons to refuse."""
    if state is None:
        return None
    if len(state) > _MAX_STATE:
        return "too_long"
    if _STILL_ENCODED.search(state):
        return "double_encoded"
    if " " in state:
        return "mangled"
    return None


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all domain events."""


@dataclass(frozen=True, slots=True)
class AuthorizationStarted(Event):
    client_id: str
    scope: str
    prompt: str
    # Diagnostics for M4, derived from the request; left out of equality (compare=False).
    state_problem: StateProblem | None = field(default=None, compare=False)
    # Answered at once with a code (a session and remembered consent): its CodeIssued line,
    # which carries the same scope and prompt, is the request's one audit line.
    immediate: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class AuthorizationFailed(Event):
    client_id: str | None
    error: str
    redirected: bool
    missing_challenge: bool
    # Diagnostics for M4, derived from the request; left out of equality (compare=False).
    challenge_problem: ChallengeProblem | None = field(default=None, compare=False)
    state_problem: StateProblem | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class LoginSucceeded(Event):
    user_id: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class LoginFailed(Event):
    username_fp: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class LoginThrottled(Event):
    username_fp: str
    scope: str


@dataclass(frozen=True, slots=True)
class CodeIssued(Event):
    client_id: str
    user_id: str
    code_fp: str
    latency_seconds: float
    # What the code was issued for (the request's scope and prompt): context for the audit line.
    scope: str = field(default="", compare=False)
    prompt: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class TokenExchanged(Event):
    client_id: str
    grant_type: GrantType
    grant_id: str | None
    latency_seconds: float


@dataclass(frozen=True, slots=True)
class TokenExchangeFailed(Event):
    """``outcome`` is the closed M1 value; ``detail`` the exact reason when it says more (a
    client-authentication failure: ``unknown_client``, ``bad_secret``, …), for the audit log."""

    client_id: str | None
    grant_type: GrantType | None
    outcome: TokenOutcome
    error: str
    latency_seconds: float
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class CodeReplayed(Event):
    client_id: str
    code_fp: str
    grant_id: str | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class DpopRefused(Event):
    """A request refused for its DPoP proof (RFC 9449) at the token, PAR or userinfo endpoint
    (a bound token as Bearer there counts as ``missing``): ``reason`` is the closed
    ``DpopRefusal``; ``key_fp`` a fingerprint of the proof key's thumbprint when known. Never
    the proof, its ``jti`` or its nonce."""

    client_id: str | None
    reason: DpopRefusal
    key_fp: str | None = None


@dataclass(frozen=True, slots=True)
class ChallengeReused(Event):
    """A client sent a ``code_challenge`` it had sent before within the reuse window: its
    app reuses a PKCE verifier. ``challenge_fp`` is the challenge's ``crypto.fingerprint``
    (never the challenge); ``count`` the sightings in the window, this one included;
    ``first_seen`` the first one's Unix time; ``refused`` whether the client's
    ``reject_reused_challenge`` flag refused the request."""

    client_id: str
    challenge_fp: str
    count: int
    first_seen: int
    endpoint: Literal["authorize", "par"]
    refused: bool


@dataclass(frozen=True, slots=True)
class RefreshRotated(Event):
    client_id: str
    grant_id: str
    in_grace: bool


@dataclass(frozen=True, slots=True)
class RefreshReuseDetected(Event):
    client_id: str
    grant_id: str
    token_fp: str


@dataclass(frozen=True, slots=True)
class TokenRevoked(Event):
    client_id: str
    kind: str
    grant_id: str | None


@dataclass(frozen=True, slots=True)
class AdminChange(Event):
    """An administrator changed a client, a user or the signing keys (audit only).

    ``action`` is one of client_registered, client_removed, user_added, user_removed,
    password_changed, sessions_revoked (a user's sessions and grants ended), keys_rotated,
    client_pruned (an unused dynamic client removed), client_updated (an operator changed a
    client's policy flags: ``proofkey client set``), initial_token_created and
    initial_token_revoked (by the token's public id), role_changed (``user:role``),
    console_signed_in and console_signed_out (the operator console; by user id),
    session_ended (an administrator ended a user's login session in the console),
    client_secret_rotated, admin_token_created and admin_token_revoked (by the admin token's
    public id), key_retired, user_disabled, user_enabled, password_link_issued (never the
    link), grants_revoked and sessions_ended (by id, ``user=…`` or ``client=…``; docs/admin.md);
    ``subject`` names what changed (a client id, a user id, the new key ids) — never a secret.
    """

    action: str
    subject: str


@dataclass(frozen=True, slots=True)
class AdminApiCall(Event):
    """One call of the admin REST API (audit only): ``actor`` is who (``admin-token:<id>``,
    ``client:<client id>`` or ``anonymous``; never the token), ``operation`` the OpenAPI
    operation id (or the method and path when no operation matched), ``target`` the resource
    named in the path (a client id, a resource URI, a token id; empty for a collection) and
    ``status`` the HTTP status answered; ``problem`` the problem type's slug, if refused."""

    actor: str
    operation: str
    target: str
    status: int
    problem: str = ""


@dataclass(frozen=True, slots=True)
class ClientRegistration(Event):
    """A client registered itself, or changed or deleted its registration (RFC 7591, RFC
    7592; audit only). ``action`` is registered, updated or deleted; ``mode`` the setting
    (open or token); ``registration_token`` the fingerprint of the client's registration
    access token and ``initial_token`` the id of the initial access token used (never a
    token itself)."""

    action: str
    client_id: str
    client_type: str
    mode: str
    registration_token: str
    initial_token: str = ""


@dataclass(frozen=True, slots=True)
class ClientMetadataFetched(Event):
    """A client ID metadata document was fetched (cache hits emit nothing). ``detail`` is the
    refusing rule id (PKL0xx) when ``outcome`` is refused; ``kept_seconds`` how long the result
    is cached."""

    client_id: str
    outcome: MetadataOutcome
    detail: str | None
    kept_seconds: int


Subscriber = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class UpstreamExchanged(Event):
    """A connector login's upstream leg ended (``connector`` is a configured name)."""

    connector: str
    outcome: UpstreamOutcome
    client_id: str | None
    user_id: str | None = None
    detail: str | None = None  # audit only: the upstream error code or check that failed


@dataclass(frozen=True, slots=True)
class UpstreamLinked(Event):
    """An upstream subject was linked to a local user: a new one, or by verified e-mail."""

    connector: str
    user_id: str
    how: str  # "created" or "verified_email"
    subject_fp: str


@dataclass(frozen=True, slots=True)
class LoggedOut(Event):
    """A login session ended, or a user took back an app's access (docs/logout.md).

    ``how``: ``rp_initiated`` (/logout), ``account`` (signed out on /account),
    ``session_ended`` (another session ended from /account), ``app_disconnected``."""

    user_id: str
    how: str
    client_id: str | None = None
    grants_revoked: int = 0


class EventBus:
    """Synchronous fan-out to subscribers, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                _log.exception("event subscriber failed on %s", type(event).__name__)
