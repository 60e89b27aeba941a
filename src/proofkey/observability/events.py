"""Typed domain events that flows emit, and the bus that hands them to subscribers.

Events carry only non-secret values: client ids, user ids, outcomes, error codes and
fingerprints (``crypto.fingerprint``) of codes and tokens — never the values themselves.
A subscriber that fails is logged and skipped; it never fails the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "AuthorizationFailed",
    "AuthorizationStarted",
    "CodeIssued",
    "CodeReplayed",
    "Event",
    "EventBus",
    "LoginFailed",
    "LoginSucceeded",
    "LoginThrottled",
    "RefreshReuseDetected",
    "RefreshRotated",
    "TokenExchangeFailed",
    "TokenExchanged",
    "TokenRevoked",
]

_log = logging.getLogger("proofkey.events")


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all domain events."""


@dataclass(frozen=True, slots=True)
class AuthorizationStarted(Event):
    client_id: str
    scope: str
    prompt: str


@dataclass(frozen=True, slots=True)
class AuthorizationFailed(Event):
    client_id: str | None
    error: str
    redirected: bool
    missing_challenge: bool


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


@dataclass(frozen=True, slots=True)
class TokenExchanged(Event):
    client_id: str
    grant_type: str
    grant_id: str | None
    latency_seconds: float


@dataclass(frozen=True, slots=True)
class TokenExchangeFailed(Event):
    client_id: str | None
    grant_type: str | None
    outcome: str
    error: str
    latency_seconds: float


@dataclass(frozen=True, slots=True)
class CodeReplayed(Event):
    client_id: str
    code_fp: str
    grant_id: str | None
    revoked: bool


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


Subscriber = Callable[[Event], None]


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
