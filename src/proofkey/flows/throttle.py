"""Guard a guessable check with several rate-limit keys at once (RFC 6749 §10.10).

``reserve`` counts the attempt under every key BEFORE the check runs (all keys or none: when
one refuses, the ones already granted are released), so concurrent guesses cannot all pass a
limit that is only recorded after their verification. The caller releases the reservations
when the attempt succeeded and keeps them, as the counted failures, when it did not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from proofkey.store.base import RateLimiter, Reservation

__all__ = ["Limit", "Refused", "release", "reserve"]


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``limit`` counted attempts per ``window`` seconds under ``key``; ``scope`` names
    the kind of key for events and logs (never the key itself: it may hold an address)."""

    scope: str
    key: str
    limit: int
    window: int


@dataclass(frozen=True, slots=True)
class Refused:
    """The attempt was not counted: ``scope`` is over its limit for ``retry_after`` seconds."""

    scope: str
    retry_after: int


async def reserve(limiter: RateLimiter, limits: Iterable[Limit],
                  now: float) -> list[Reservation] | Refused:
    """Count the attempt under every limit, or under none (and say which one refused)."""
    held: list[Reservation] = []
    for limit in limits:
        reservation = await limiter.reserve(limit.key, limit.limit, limit.window, now)
        if not reservation.granted:
            await release(limiter, held)
            return Refused(limit.scope, reservation.retry_after)
        held.append(reservation)
    return held


async def release(limiter: RateLimiter, reservations: Sequence[Reservation]) -> None:
    """Uncount the reservations of an attempt that succeeded (or was never checked)."""
    for reservation in reservations:
        await limiter.release(reservation)
