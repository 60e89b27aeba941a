"""Caps on the rows that requests anyone can send create: pending authorizations (``/authorize``
with no usable session), pushed requests (``/par``) and device requests
(``/device_authorization``), per client and per client address (``PROOFKEY_*_PER_CLIENT`` and
``PROOFKEY_*_PER_ADDRESS``). Beyond a cap the flow raises ``RateLimited`` (429, Retry-After).

How the bound holds. Every row created is one event for its client's key and one for its
address's key in the ``RateLimiter``, in a sliding window EQUAL TO THE ROW'S LIFETIME. A row
still alive was created less than one lifetime ago, so its event is still in the window: the
live rows of a client (or an address) are never more than the events the window holds, and a
request is refused once those reach the cap. A row that ends early (a finished login, a used
``request_uri``) keeps counting until its window passes: conservative, never more rows than the
cap. Only a request that is about to store a row is counted: invalid requests, and logins that
a session answers at once, create nothing and cost nothing.

Why the rate limiter and not a count of live rows in the store: rows carry no address (counting
per address would need a new column and index on three tables, and a COUNT per request in the
hot path, while another change refactors the SQL stores), and the limiter is already shared:
with ``PROOFKEY_REDIS_URL`` every instance counts in the same Redis sorted sets, so the caps
hold across instances. Without Redis (or while it is down and the limiter serves each process
from memory) each instance counts alone, and N instances allow N times the caps.

``retry_after`` then ``hit`` are two calls, not one atomic step: requests of one key that are
in flight at the same instant can all pass the check, so a cap can be exceeded by at most the
number of such concurrent requests (bounded, where before nothing was).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from proofkey.errors import RateLimited
from proofkey.settings import Settings
from proofkey.store.base import RateLimiter

__all__ = ["RowCap", "device_cap", "pending_cap", "pushed_cap"]

RowKind = Literal["pending", "pushed", "device"]


@dataclass(frozen=True, slots=True)
class RowCap:
    """At most ``per_client`` and ``per_address`` rows of ``kind`` alive, each living
    ``lifetime`` seconds."""

    kind: RowKind
    per_client: int
    per_address: int
    lifetime: int

    async def admit(self, limiter: RateLimiter, *, client_id: str, address: str,
                    now: float) -> None:
        """Count one new row for the client and the address, or raise ``RateLimited`` (and
        count nothing) if either is at its cap."""
        by_client = f"cap:{self.kind}:client:{client_id}"
        by_address = f"cap:{self.kind}:ip:{address}"
        wait = max(
            await limiter.retry_after(by_client, self.per_client, self.lifetime, now),
            await limiter.retry_after(by_address, self.per_address, self.lifetime, now))
        if wait:
            raise RateLimited(_REFUSAL[self.kind], retry_after=wait,
                              detail=f"{self.kind}_cap")
        await limiter.hit(by_client, self.lifetime, now)
        await limiter.hit(by_address, self.lifetime, now)


_REFUSAL: dict[RowKind, str] = {
    "pending": "too many sign-in requests are in progress; try again later",
    "pushed": "too many pushed authorization requests; retry later",
    "device": "too many device authorization requests; retry later",
}


def pending_cap(settings: Settings) -> RowCap:
    """Pending authorizations live ``interaction_ttl_seconds``."""
    return RowCap("pending", settings.pending_authorizations_per_client,
                  settings.pending_authorizations_per_address, settings.interaction_ttl_seconds)


def pushed_cap(settings: Settings, lifetime: int) -> RowCap:
    return RowCap("pushed", settings.pushed_requests_per_client,
                  settings.pushed_requests_per_address, lifetime)


def device_cap(settings: Settings, lifetime: int) -> RowCap:
    return RowCap("device", settings.device_requests_per_client,
                  settings.device_requests_per_address, lifetime)
