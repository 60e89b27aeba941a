"""Registered clients, read through a short per-process cache.

Every ``/token`` and ``/authorize`` request looks its client up; reading and decoding the row
was ~5 % of an exchange on SQLite and a whole round trip on PostgreSQL, for data that changes
only when an operator adds or removes a client. Found clients are kept for ``ttl`` seconds
(``PROOFKEY_CLIENT_CACHE_MS``; 0 turns the cache off). Unknown ids are never cached: a new
client works at once, and requests for made-up ids cannot fill the memory.

A removal made by this process drops the entry at once. A removal made elsewhere (the CLI,
another instance) is seen by this process within ``ttl``; removal also revokes the client's
grants in its own transaction, and a refresh needs the client again, so what such a lag can
let through is a token exchange that was about to race the removal anyway, now for up to
``ttl`` instead of up to one transaction. Hence the default of one second.
"""

from __future__ import annotations

import time

from proofkey.models import Client

from .base import ClientStore

__all__ = ["CachedClientStore"]


class CachedClientStore:
    """A ``ClientStore`` that keeps found clients for ``ttl`` seconds (at most ``max_entries``)."""

    def __init__(self, store: ClientStore, *, ttl: float, max_entries: int = 4096) -> None:
        self._store = store
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, Client]] = {}

    async def get_client(self, client_id: str) -> Client | None:
        now = time.monotonic()
        entry = self._entries.get(client_id)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        client = await self._store.get_client(client_id)
        if client is None:
            self._entries.pop(client_id, None)
        elif self._ttl > 0:
            if len(self._entries) >= self._max and client_id not in self._entries:
                self._entries.clear()  # far more clients than a cache needs: start over
            self._entries[client_id] = (now, client)
        return client

    async def add_client(self, client: Client) -> None:
        self._entries.pop(client.client_id, None)
        await self._store.add_client(client)

    async def list_clients(self) -> list[Client]:
        return await self._store.list_clients()

    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        self._entries.pop(client_id, None)
        return await self._store.remove_client(client_id, now=now)
