"""One use per DPoP proof at a resource server: the ``jti`` replay cache (RFC 9449 §11.1).

RFC 9449 §11.1: servers "SHOULD store, in the context of the target URI, the jti value of
each DPoP proof for the time window in which the respective DPoP proof JWT would be accepted"
and decline a request whose ``jti`` was seen; to bound memory they "SHOULD reject DPoP proof
JWTs with unnecessarily large jti values or store only a hash thereof". The kit stores only a
SHA-256 digest (of the proof key's thumbprint and the ``jti``, so one client cannot burn
another's ids), until the proof's acceptance window ends.

``ReplayCache`` is the small port: ``MemoryReplayCache`` is per process and bounded (the
default); an API run as several processes plugs in a shared one, such as ``RedisReplayCache``
over a client the API already has (the kit itself never imports ``redis``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from .errors import VerifierUnavailable

__all__ = ["MemoryReplayCache", "RedisReplayCache", "ReplayCache"]


class ReplayCache(Protocol):
    """Remembers one-time ids (already digests) until ``expires_at`` (epoch seconds)."""

    async def first_use(self, key: str, expires_at: int) -> bool:
        """True the first time ``key`` is seen while it lives; False for every later use.
        Of concurrent callers with the same key, exactly one gets True."""
        ...


class MemoryReplayCache:
    """A per-process cache of at most ``max_entries`` live ids.

    Entries leave when their window ends. If more than ``max_entries`` proofs are live at once
    (size it for the peak request rate times the proof window, 5 min by default: the default
    holds 100 000 digests, about 22 MB), the oldest entry is dropped and counted in
    ``evicted``: its proof could then be replayed for the rest of its window, so a non-zero
    ``evicted`` means the cache is too small (or shared state is needed).
    """

    def __init__(self, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.evicted = 0
        self._clock = clock
        self._seen: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    async def first_use(self, key: str, expires_at: int) -> bool:
        # No await between the check and the insert: one event loop, so this is atomic.
        now = self._clock()
        self._purge(now)
        until = self._seen.get(key)
        if until is not None and until > now:
            return False
        self._seen[key] = expires_at
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
            self.evicted += 1
        return True

    def _purge(self, now: float) -> None:
        # Insertion order is close to expiry order (every entry lives about one window), so
        # expired entries are found at the front; a stray live one there stops the sweep,
        # and the size bound still holds.
        while self._seen:
            key, until = next(iter(self._seen.items()))
            if until > now:
                return
            del self._seen[key]


class _AsyncRedis(Protocol):
    """The one call of ``redis.asyncio.Redis`` the cache makes."""

    async def set(self, name: str, value: str, *, nx: bool = ...,
                  exat: int | None = ...) -> bool | None: ...


class RedisReplayCache:
    """Shared by every process of the API: ``SET key 1 NX EXAT expires_at`` in Redis, which
    is atomic across clients. ``redis`` is ``redis.asyncio.Redis`` (``pip install redis``).
    If Redis cannot be reached, the request fails rather than letting a proof through
    unchecked (``VerifierUnavailable``: 503, as when the issuer is down)."""

    def __init__(self, redis: _AsyncRedis, *, prefix: str = "proofkey:dpop-jti:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def first_use(self, key: str, expires_at: int) -> bool:
        try:
            stored = await self._redis.set(self._prefix + key, "1", nx=True,
                                           exat=max(1, expires_at))
        except Exception:
            raise VerifierUnavailable("the DPoP replay cache is unavailable") from None
        return bool(stored)
