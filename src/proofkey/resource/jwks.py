"""The issuer's signing keys, fetched once, kept, and fetched again only when needed.

The JWKS comes from the ``jwks_uri`` of the issuer's metadata (or one given outright). A token
naming a ``kid`` the cache does not hold triggers a refetch (the issuer rotated its keys), but
at most one per ``refresh_interval`` seconds: a stream of tokens with made-up ``kid`` values
costs the issuer one request per interval, not one each. Concurrent callers that need a fetch
share the one in flight. Keys older than ``max_age`` are refetched on next use (so a key the
issuer withdrew stops verifying); when that fetch fails the old keys stay in use. With no keys
at all, a failed fetch is ``VerifierUnavailable`` (503), never ``invalid_token``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from .errors import InvalidTokenError, VerifierUnavailable
from .fetch import MAX_DOCUMENT_BYTES, FetchError, configured_url, discover, endpoint, read_json
from .keys import PublicKey, read_key_set

__all__ = ["KeyCache"]


class KeyCache:
    """The JWKS of one issuer, for ``TokenVerifier``."""

    def __init__(self, issuer: str, http: httpx.AsyncClient, *, jwks_uri: str | None = None,
                 refresh_interval: float = 30.0, max_age: float = 3600.0,
                 max_bytes: int = MAX_DOCUMENT_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self._http = http
        self._jwks_uri = None if jwks_uri is None else configured_url(jwks_uri)
        self.refresh_interval = refresh_interval
        self.max_age = max_age
        self._max_bytes = max_bytes
        self._clock = clock
        self._keys: tuple[PublicKey, ...] = ()
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0  # JWKS requests made (observable by tests and operators)

    async def key_for(self, kid: str | None, alg: str) -> PublicKey:
        """The key that verifies a token with this header; ``InvalidTokenError`` if none."""
        stale = self._fetched_at is None or self._clock() - self._fetched_at >= self.max_age
        if stale and self._may_fetch():
            await self._refresh(required=self._fetched_at is None)
        elif self._fetched_at is None:
            raise VerifierUnavailable("the issuer's keys could not be fetched")
        key = self._find(kid, alg)
        if key is None and kid is not None and self._may_fetch():
            await self._refresh(required=True)
            key = self._find(kid, alg)
        if key is None:
            raise InvalidTokenError("the access token is not signed by a key of the issuer")
        return key

    def _may_fetch(self) -> bool:
        return (self._inflight is not None or self._attempted_at is None
                or self._clock() - self._attempted_at >= self.refresh_interval)

    def _find(self, kid: str | None, alg: str) -> PublicKey | None:
        fitting = [key for key in self._keys if key.fits(alg)]
        if kid is not None:
            return next((key for key in fitting if key.kid == kid), None)
        # No kid: only an issuer with a single key of this type is unambiguous.
        return fitting[0] if len(fitting) == 1 else None

    async def _refresh(self, *, required: bool) -> None:
        if self._inflight is None:
            self._attempted_at = self._clock()
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._finished)
        try:
            await asyncio.shield(self._inflight)
        except FetchError:
            if required or not self._keys:
                raise VerifierUnavailable("the issuer's keys could not be fetched") from None

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here, so an abandoned failure is not reported unread

    async def _fetch(self) -> None:
        self.fetches += 1
        if self._jwks_uri is None:
            metadata = await discover(self._http, self.issuer, max_bytes=self._max_bytes)
            self._jwks_uri = endpoint(metadata, "jwks_uri")
        status, body = await read_json(self._http, httpx.Request(
            "GET", self._jwks_uri, headers={"Accept": "application/json"}),
            max_bytes=self._max_bytes)
        if status != 200 or not isinstance(body, dict):
            raise FetchError(f"the JWKS answered {status}")
        self._keys = read_key_set(body)
        self._fetched_at = self._clock()
