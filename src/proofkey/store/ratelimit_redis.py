"""Rate limits shared by every instance through Redis (``PROOFKEY_REDIS_URL``).

Each key is a sorted set of event times (score: the caller's clock, member: the time and a
random suffix, so simultaneous events on two instances both count). Every call is ONE Lua
script, so it is atomic and one round trip (``EVALSHA``; ``EVAL`` once after Redis restarted):
``retry_after`` only reads (it counts the events inside the window and, at the limit, returns
the time of the event that has to leave before the next is allowed); ``reserve`` drops the
events that left the window and, below the limit, adds one and sets the key's TTL to the window
(plus a second), so an idle key disappears by itself — else it adds nothing and answers as
``retry_after``: check and count are one step, so of N instances reserving at once at most the
limit are granted; ``release`` removes the reserved member; ``hit`` drops, adds, caps the set at
``max_events`` and sets the TTL. Each script touches one key, so Redis Cluster works too.
Semantics match ``MemoryRateLimiter`` (the instances' clocks are assumed NTP-synchronised, as
token expiry needs anyway).

Fail open: when Redis cannot be reached, times out (``socket_timeout`` and
``socket_connect_timeout``, default 0.5 s, may be set in the URL's query) or answers an error,
the call is served by this process's own in-memory limiter instead — a login is never refused,
delayed long or answered 500 because of Redis, and the limit still holds per instance. A
warning is logged (at most once a minute) and Redis is left alone for ``RETRY_SECONDS``, so an
outage costs at most one timeout per interval. redis-py's own retries are off (one attempt).

Nothing connects at construction: the client connects on first use (``redis`` is imported
only by this module, and only when a Redis URL is configured).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from proofkey.store.base import Reservation
from proofkey.store.ratelimit import MemoryRateLimiter

__all__ = ["RETRY_SECONDS", "RedisRateLimiter"]

_log = logging.getLogger("proofkey.ratelimit")
_T = TypeVar("_T")

RETRY_SECONDS = 5.0  # after a failure, use the in-process limiter this long before retrying
_LOCAL = "local:"  # a reservation made in the fallback (Redis was unavailable)
WARN_SECONDS = 60.0  # at most one warning per this many seconds
DEFAULT_TIMEOUT = 0.5  # seconds to connect to Redis, and for one reply

# KEYS[1]: the key; ARGV: cutoff (events at or before it left the window), limit.
# Returns nil when below the limit, else the score of the event that must leave first.
# Read-only: nothing is created or removed.
_RETRY_AFTER = """
local live = '(' .. ARGV[1]
local count = redis.call('ZCOUNT', KEYS[1], live, '+inf')
local limit = tonumber(ARGV[2])
if count < limit then return false end
return redis.call('ZRANGEBYSCORE', KEYS[1], live, '+inf', 'WITHSCORES', 'LIMIT',
                  count - limit, 1)[2]
"""
# KEYS[1]: the key; ARGV: cutoff, limit, now, a unique member, TTL seconds.
# Returns nil when the event was counted, else the score of the event that must leave first.
_RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[2])
if count >= limit then
  return redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')[2]
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return false
"""
# KEYS[1]: the key; ARGV: cutoff, now, a unique member, TTL seconds, most events kept.
_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local cap = tonumber(ARGV[5])
if redis.call('ZCARD', KEYS[1]) > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -cap - 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


async def _nothing() -> None:
    return None


def _float(value: float) -> str:
    return repr(float(value))


def _wait(oldest: bytes | str | None, window: int, now: float) -> int:
    if oldest is None:
        return 0
    return max(1, int(float(oldest) + window - now) + 1)


class RedisRateLimiter:
    """A sliding-window ``RateLimiter`` in Redis, shared by every instance that uses ``url``."""

    def __init__(self, url: str, *, prefix: str = "proofkey:ratelimit:",
                 max_events: int = 100_000, fallback: MemoryRateLimiter | None = None) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self._redis = redis.Redis.from_url(
            url, socket_timeout=DEFAULT_TIMEOUT, socket_connect_timeout=DEFAULT_TIMEOUT,
            retry=Retry(NoBackoff(), 0))
        self._retry_after = self._redis.register_script(_RETRY_AFTER)
        self._hit = self._redis.register_script(_HIT)
        self._reserve = self._redis.register_script(_RESERVE)
        self._prefix = prefix
        self._max_events = max_events
        self._fallback = fallback or MemoryRateLimiter()
        self._skip_until = 0.0  # monotonic: Redis failed; serve from the fallback until then
        self._warned_at = -WARN_SECONDS

    def __repr__(self) -> str:
        return f"RedisRateLimiter(prefix={self._prefix!r})"

    @property
    def available(self) -> bool:
        """False while calls go to the in-process fallback after a Redis failure."""
        return time.monotonic() >= self._skip_until

    async def _call(self, remote: Callable[[], Awaitable[_T]],
                    local: Callable[[], Awaitable[_T]]) -> _T:
        if not self.available:
            return await local()
        try:
            return await remote()
        except (RedisError, OSError, TimeoutError) as exc:
            now = time.monotonic()
            self._skip_until = now + RETRY_SECONDS
            if now - self._warned_at >= WARN_SECONDS:
                self._warned_at = now
                _log.warning("Redis rate limiter unavailable (%s); limiting per instance for "
                             "now", type(exc).__name__)
            return await local()

    async def retry_after(self, key: str, limit: int, window: int, now: float) -> int:
        async def remote() -> int:
            oldest = await self._retry_after(keys=[self._prefix + key],
                                             args=[_float(now - window), limit])
            return _wait(oldest, window, now)

        return await self._call(
            remote, lambda: self._fallback.retry_after(key, limit, window, now))

    async def reserve(self, key: str, limit: int, window: int, now: float) -> Reservation:
        async def remote() -> Reservation:
            member = f"{_float(now)}:{secrets.token_hex(6)}"
            oldest = await self._reserve(keys=[self._prefix + key],
                                         args=[_float(now - window), limit, _float(now), member,
                                               int(window) + 1])
            wait = _wait(oldest, window, now)
            return Reservation(key, wait, "" if wait else member)

        async def local() -> Reservation:
            made = await self._fallback.reserve(key, limit, window, now)
            return replace(made, token=_LOCAL + made.token) if made.granted else made

        return await self._call(remote, local)

    async def release(self, reservation: Reservation) -> None:
        if not reservation.granted:
            return
        if reservation.token.startswith(_LOCAL):
            await self._fallback.release(
                replace(reservation, token=reservation.token.removeprefix(_LOCAL)))
            return

        async def remote() -> None:
            await self._redis.zrem(self._prefix + reservation.key, reservation.token)

        await self._call(remote, _nothing)  # unreachable: the event leaves with its window

    async def hit(self, key: str, window: int, now: float) -> None:
        async def remote() -> None:
            member = f"{_float(now)}:{secrets.token_hex(6)}"
            await self._hit(keys=[self._prefix + key],
                            args=[_float(now - window), _float(now), member, int(window) + 1,
                                  self._max_events])

        await self._call(remote, lambda: self._fallback.hit(key, window, now))

    @property
    def evictions(self) -> int:
        """Redis expires idle keys itself; only the in-process fallback ever evicts."""
        return self._fallback.evictions

    async def reset(self, key: str) -> None:
        async def remote() -> None:
            await self._redis.delete(self._prefix + key)

        await self._fallback.reset(key)
        await self._call(remote, _nothing)

    async def close(self) -> None:
        await self._redis.aclose()
