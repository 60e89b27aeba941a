"""An in-process sliding-window rate limiter (one instance; Redis shares it across instances).

``reserve`` checks and counts in one step; with no ``await`` inside, it is atomic on the event
loop. Reads (``retry_after``) never create or change a key (issue 17 item 3: probing must not
be able to flush the throttle).

Memory is bounded by ``max_keys``. A new key at the bound takes the place of, in this order:
a key whose events have all left its window (not an eviction: it held nothing), else the least
recently limited key that is not blocked (fewer events than the limit it was last reserved
with), else — every key being a live lockout — the least recently limited lockout. Only the
last two count as ``evictions``. Keys are kept in the order they were last counted; the scan
for a victim looks at most ``SCAN`` keys from the oldest end and moves the blocked ones it
passes to the newest end, so a flood of new keys costs O(1) each and cannot reach the
lockouts before the keys that hold none.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from proofkey.store.base import Reservation

__all__ = ["SCAN", "MemoryRateLimiter"]

SCAN = 64  # keys looked at, from the least recently limited, to find one to drop


@dataclass(slots=True)
class _Key:
    window: int
    limit: int | None  # the limit of the last reserve; None: counted by hit() only
    events: deque[tuple[float, int]] = field(default_factory=deque)  # (time, serial)

    def times(self, now: float, window: int) -> list[float]:
        """The times of the events in ``window`` before ``now`` (without dropping others)."""
        cutoff = now - window
        return [at for at, _ in self.events if at > cutoff]

    def live(self, now: float) -> int:
        return len(self.times(now, self.window))

    def prune(self, now: float) -> None:
        cutoff = now - self.window
        while self.events and self.events[0][0] <= cutoff:
            self.events.popleft()

    def blocked(self, now: float) -> bool:
        return self.limit is not None and self.live(now) >= self.limit


def _wait(events: list[float], limit: int, window: int, now: float) -> int:
    """Seconds until fewer than ``limit`` of the (live, sorted) ``events`` are in the window."""
    if len(events) < limit:
        return 0
    return max(1, int(events[len(events) - limit] + window - now) + 1)


class MemoryRateLimiter:
    """Keeps the event times of each key, for at most ``max_keys`` keys."""

    def __init__(self, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._keys: OrderedDict[str, _Key] = OrderedDict()
        self._max_keys = max_keys
        self._evictions = 0
        self._serial = 0  # tells apart events counted at the same instant

    @property
    def evictions(self) -> int:
        return self._evictions

    async def retry_after(self, key: str, limit: int, window: int, now: float) -> int:
        entry = self._keys.get(key)
        if entry is None:
            return 0
        return _wait(entry.times(now, window), limit, window, now)

    async def reserve(self, key: str, limit: int, window: int, now: float) -> Reservation:
        entry = self._keys.get(key)
        if entry is not None:
            entry.window = window
            entry.prune(now)
            wait = _wait(entry.times(now, window), limit, window, now)
            if wait:
                return Reservation(key, wait)
        entry, serial = self._count(key, window, now)
        entry.limit = limit
        return Reservation(key, 0, f"{now!r}/{serial}")

    async def release(self, reservation: Reservation) -> None:
        entry = self._keys.get(reservation.key)
        if entry is None or not reservation.granted:
            return
        at, _, serial = reservation.token.partition("/")
        try:
            entry.events.remove((float(at), int(serial)))
        except ValueError:
            return  # reset, evicted or left the window since
        if not entry.events:
            del self._keys[reservation.key]

    async def hit(self, key: str, window: int, now: float) -> None:
        self._count(key, window, now)

    async def reset(self, key: str) -> None:
        self._keys.pop(key, None)

    async def close(self) -> None:
        """Nothing to release (the Protocol's lifecycle hook)."""

    def _count(self, key: str, window: int, now: float) -> tuple[_Key, int]:
        entry = self._keys.get(key)
        if entry is None:
            if len(self._keys) >= self._max_keys:
                self._drop_one(now)
            entry = self._keys[key] = _Key(window, None)
        else:
            entry.window = window
            entry.prune(now)
            self._keys.move_to_end(key)
        self._serial += 1
        entry.events.append((now, self._serial))
        return entry, self._serial

    def _drop_one(self, now: float) -> None:
        oldest_blocked: str | None = None
        passed: list[str] = []
        for key, entry in self._keys.items():
            if len(passed) >= SCAN:
                break
            if not entry.live(now):
                del self._keys[key]
                return self._rotate(passed)
            if not entry.blocked(now):
                del self._keys[key]
                self._evictions += 1
                return self._rotate(passed)
            if oldest_blocked is None:
                oldest_blocked = key
            passed.append(key)
        if oldest_blocked is not None:  # all live lockouts: the least recently limited goes
            del self._keys[oldest_blocked]
            self._evictions += 1
        return None

    def _rotate(self, passed: list[str]) -> None:
        for key in passed:  # blocked keys passed over go behind the others
            self._keys.move_to_end(key)
