"""The registered resources (RFC 8707) as one catalog, read through a short per-process cache.

Resources come from two places: the store (``proofkey resource add``) and the configuration
(``PROOFKEY_RESOURCES``); a configured resource replaces a stored one with the same URI. They
change only when an operator changes them, and a request that names a resource, or mints a
token for one, needs them, so the whole (small) set is read at most once per ``ttl`` seconds
(``PROOFKEY_CLIENT_CACHE_MS``, like clients; 0: every call reads). A resource added or removed
by another process is seen here within ``ttl``; one added or removed through this object, at
once. Requests that name no resource never read it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from proofkey.models import Resource
from proofkey.protocol.resource import Catalog

from .base import ResourceStore, StoreUnavailable

__all__ = ["CachedResourceDirectory"]


class CachedResourceDirectory:
    """A ``ResourceDirectory`` over a store and the configured resources."""

    def __init__(self, store: ResourceStore, *, configured: Iterable[Resource] = (),
                 ttl: float) -> None:
        self._store = store
        self._configured = tuple(configured)
        self._ttl = ttl
        self._loaded: tuple[float, Catalog] | None = None

    async def catalog(self) -> Catalog:
        now = time.monotonic()
        if self._loaded is not None and now - self._loaded[0] < self._ttl:
            return self._loaded[1]
        try:
            stored = await self._store.list_resources()
        except StoreUnavailable:
            if self._loaded is not None:  # the database is down, the resources are not gone
                return self._loaded[1]
            raise
        catalog = Catalog.of([*stored, *self._configured])
        self._loaded = (now, catalog)
        return catalog

    def configured(self) -> Catalog:
        """The configured resources alone (what is known without the database)."""
        return Catalog.of(self._configured)

    def forget(self) -> None:
        """Read the store again on the next call."""
        self._loaded = None
