"""An in-process sliding-window rate limiter (one instance; Redis shares it across instances)."""

from __future__ import annotations

from collections import deque

__all__ = ["MemoryRateLimiter"]


class MemoryRateLimiter:
    """Keeps the event times of each key; bounded by ``max_keys`` (oldest keys dropped)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._events: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    def _window(self, key: str, window: int, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self._max_keys:
                self._events.pop(next(iter(self._events)))
            events = self._events[key] = deque()
        while events and events[0] <= now - window:
            events.popleft()
        return events

    async def retry_after(self, key: str, limit: int, window: int, now: float) -> int:
        events = self._window(key, window, now)
        if len(events) < limit:
            return 0
        return max(1, int(events[len(events) - limit] + window - now) + 1)

    async def hit(self, key: str, window: int, now: float) -> None:
        self._window(key, window, now).append(now)

    async def reset(self, key: str) -> None:
        self._events.pop(key, None)

    async def close(self) -> None:
        """Nothing to release (the Protocol's lifecycle hook)."""
