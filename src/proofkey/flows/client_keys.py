"""The public keys of private_key_jwt clients (RFC 7523 §2.2): inline ``jwks`` or fetched from
the client's ``jwks_uri`` (RFC 7591 §2), parsed once and kept per process, bounded.

Fetches go through the ``KeySetFetcher`` port; the concrete fetcher is the edge's
``web.metadata_fetcher.HttpsMetadataFetcher`` with its SSRF rules (https only, every resolved
address public unless loopback is allowed, no redirects, timeouts, a size cap), so tests inject
a fetcher for a loopback https server. A fetched set is kept as long as its caching headers say,
clamped to ``KeyCacheBounds``. An assertion naming a key the cached set does not hold (the
client rotated) refetches the set, but at most once per ``refresh_seconds`` per URL: anyone can
send made-up kids. Concurrent callers share one fetch in flight. When a fetch fails, keys
fetched before stay in use; with none at all, the assertion is refused (``keys_unavailable``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from proofkey.crypto import digest
from proofkey.models import Client
from proofkey.protocol.client_assertion import AssertionRefused
from proofkey.protocol.client_id_document import ClientIdUrl, clamp_lifetime
from proofkey.tokens.client_assertion import PublicKey, read_client_keys

from .client_metadata import Fetched, FetchFailed

__all__ = ["ClientKeySets", "KeyCacheBounds", "KeySetFetcher", "jwks_url"]

Keys = tuple[PublicKey, ...]


class KeySetFetcher(Protocol):
    async def fetch(self, url: ClientIdUrl) -> Fetched:
        """GET the JWK Set; raise ``FetchFailed`` for anything but a usable 200."""
        ...


@dataclass(frozen=True, slots=True)
class KeyCacheBounds:
    min_seconds: int = 60  # a fetched set is kept at least this long
    max_seconds: int = 3600  # and at most this long, whatever its headers say
    refresh_seconds: int = 30  # an unknown kid refetches at most this often per URL
    max_entries: int = 1000  # sets (inline and fetched) kept per process


def jwks_url(uri: str) -> ClientIdUrl:
    """The parts the fetcher connects with (the URI was checked at registration: PKL063)."""
    parts = urlsplit(uri)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ClientIdUrl(url=uri, host=parts.hostname or "", port=parts.port or 443,
                       target=target)


@dataclass(slots=True)
class _Fetched:
    keys: Keys
    until: float  # fresh until (the app's clock)
    attempted: float  # last fetch started
    failed: bool = False  # no keys: the fetch failed (kept briefly, not retried per request)


_V = TypeVar("_V")


class ClientKeySets:
    """Every client's keys, through one bounded per-process cache."""

    def __init__(self, fetcher: KeySetFetcher, *, bounds: KeyCacheBounds = KeyCacheBounds(),
                 clock: Callable[[], float]) -> None:
        self._fetcher = fetcher
        self._bounds = bounds
        self._clock = clock
        self._inline: OrderedDict[str, Keys] = OrderedDict()
        self._fetched: OrderedDict[str, _Fetched] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[Keys]] = {}
        self.fetches = 0  # JWK Set requests made (tests and operators watch it)

    async def keys(self, client: Client, *, unknown_kid: bool = False) -> Keys:
        """The client's usable keys; ``unknown_kid``: the set lacked the assertion's key, so a
        ``jwks_uri`` set is refetched if its last fetch is ``refresh_seconds`` old."""
        if client.jwks:
            name = digest(client.jwks)  # parsed once per distinct set, kept by its digest
            keys = self._inline.get(name)
            if keys is None:
                keys = read_client_keys(client.jwks)
            self._keep(self._inline, name, keys)
            return keys
        if not client.jwks_uri:
            return ()
        uri, now = client.jwks_uri, self._clock()
        entry = self._fetched.get(uri)
        if entry is not None:
            self._fetched.move_to_end(uri)
            retry = unknown_kid and now - entry.attempted >= self._bounds.refresh_seconds
            if entry.until > now and not retry:
                if entry.failed:
                    raise _unavailable()
                return entry.keys
        return await self._load(uri)

    async def _load(self, uri: str) -> Keys:
        task = self._inflight.get(uri)
        if task is None:
            task = asyncio.ensure_future(self._fetch(uri))
            self._inflight[uri] = task
            task.add_done_callback(_forget(self._inflight, uri))
        return await asyncio.shield(task)  # a cancelled caller leaves the fetch be

    async def _fetch(self, uri: str) -> Keys:
        now = self._clock()
        previous = self._fetched.get(uri)
        self.fetches += 1
        try:
            fetched = await self._fetcher.fetch(jwks_url(uri))
        except FetchFailed:
            if previous is not None and previous.keys:  # keep what worked, retry later
                previous.attempted = now
                previous.until = max(previous.until, now + self._bounds.refresh_seconds)
                return previous.keys
            self._keep(self._fetched, uri, _Fetched((), now + self._bounds.refresh_seconds,
                                                    now, failed=True))
            raise _unavailable() from None
        keys = read_client_keys(fetched.body)
        lifetime = clamp_lifetime(fetched.lifetime, self._bounds.min_seconds,
                                  self._bounds.max_seconds)
        self._keep(self._fetched, uri, _Fetched(keys, now + lifetime, now))
        return keys

    def _keep(self, entries: OrderedDict[str, _V], key: str, value: _V) -> None:
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self._bounds.max_entries:
            entries.popitem(last=False)  # the least recently used


def _unavailable() -> AssertionRefused:
    return AssertionRefused("keys_unavailable", "the client's keys (jwks_uri) could not be "
                            "fetched")


def _forget(inflight: dict[str, asyncio.Task[Keys]],
            uri: str) -> Callable[[asyncio.Task[Keys]], None]:
    def done(task: asyncio.Task[Keys]) -> None:
        inflight.pop(uri, None)
        if not task.cancelled():
            task.exception()  # retrieved, so an abandoned failure is not reported unread
    return done
