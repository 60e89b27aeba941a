"""Clients identified by a Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-
document): a ``client_id`` that is an https URL is resolved by fetching that document.

``resolve`` runs one ordered list of steps: the URL's shape (``protocol.client_id_document``,
no fetch for a malformed id) → the fetch, through the ``MetadataFetcher`` port (the SSRF rules
live in the concrete fetcher at the edge) → JSON → the RFC 7591 shape rules
(``protocol.registration``) → the document's ``client_id`` equals the URL (§4.1) → no shared
secret and only ``none`` (§4.1; proofkey takes ``private_key_jwt`` from registered clients
only) → the one registration policy (``flows.admin.build_client``, the rule set of
``proofkey lint``). The result is a public ``Client`` that is never stored: it lives in a
bounded cache for as long as the document's caching headers say, clamped to the configured
bounds (§4.4).

Concurrent lookups of one URL share one fetch. A failure is remembered for
``failure_seconds`` (a short negative cache; 0 turns it off): otherwise anyone could make the
server fetch on every request by sending a bad ``client_id``. The draft says "MUST NOT cache
error responses"; the failure is kept only that briefly and never as a client.

``ResolvingClientStore`` puts this in front of the registered clients, so every endpoint sees
these clients through the one ``ClientStore`` it already uses. A document that cannot be used
raises ``InvalidClient`` whose description names the rule or the fetch problem.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from proofkey.errors import InvalidClient
from proofkey.models import Client
from proofkey.observability.events import ClientMetadataFetched, EventBus
from proofkey.outcomes import FetchProblem, MetadataOutcome
from proofkey.protocol.client_id_document import (
    ClientIdUrl,
    check_client_id_url,
    clamp_lifetime,
    is_metadata_document_id,
)
from proofkey.protocol.registration import MetadataRefused, parse_client_metadata
from proofkey.store.base import ClientStore, ResourceDirectory

from .admin import AdminError, build_client

__all__ = [
    "CacheBounds",
    "FetchFailed",
    "Fetched",
    "MetadataFetcher",
    "MetadataResolver",
    "ResolvingClientStore",
]

_PREFIX = "the client's metadata document"
_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})


class FetchFailed(Exception):
    """The document could not be fetched; ``problem`` is a closed value, ``message`` is for
    people (never the response body)."""

    def __init__(self, problem: FetchProblem, message: str) -> None:
        super().__init__(message)
        self.problem: FetchProblem = problem
        self.message = message


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 200 response: its body and the freshness its caching headers give (None: none)."""

    body: bytes
    lifetime: int | None


class MetadataFetcher(Protocol):
    async def fetch(self, url: ClientIdUrl) -> Fetched:
        """GET the document; raise ``FetchFailed`` for anything but a usable 200."""
        ...


@dataclass(frozen=True, slots=True)
class CacheBounds:
    min_seconds: int = 300
    max_seconds: int = 86400
    failure_seconds: int = 10
    max_entries: int = 1000


@dataclass(frozen=True, slots=True)
class _Entry:
    until: float
    client: Client | None
    error: InvalidClient | None


class MetadataResolver:
    """Resolves document URLs to clients, through a bounded cache shared by all requests."""

    def __init__(self, fetcher: MetadataFetcher, *, scopes_supported: tuple[str, ...],
                 bounds: CacheBounds, clock: Callable[[], float],
                 bus: EventBus | None = None,
                 resources: ResourceDirectory | None = None) -> None:
        self._fetcher = fetcher
        self._bus = bus
        self._scopes = scopes_supported
        self._resources = resources  # their scopes may be asked for too (RFC 8707)
        self._bounds = bounds
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[_Entry]] = {}

    async def resolve(self, client_id: str) -> Client:
        """The client the document at ``client_id`` describes; InvalidClient otherwise."""
        try:
            url = check_client_id_url(client_id)
        except MetadataRefused as refused:
            raise InvalidClient(refused.description, detail=refused.rule) from None
        entry = self._entries.get(client_id)
        if entry is not None and entry.until > self._clock():
            self._entries.move_to_end(client_id)
            return _result(entry)
        task = self._inflight.get(client_id)
        if task is None:
            task = asyncio.ensure_future(self._load(url))
            self._inflight[client_id] = task
            task.add_done_callback(lambda _: self._inflight.pop(client_id, None))
        return _result(await asyncio.shield(task))  # a cancelled caller leaves the fetch be

    async def _load(self, url: ClientIdUrl) -> _Entry:
        now = self._clock()
        try:
            fetched = await self._fetcher.fetch(url)
            known = self._scopes if self._resources is None else (
                await self._resources.catalog()).known_scopes(self._scopes)
            client = self._client_of(url.url, fetched.body, int(now), known)
        except FetchFailed as failed:
            self._emit(url.url, failed.problem, None, self._bounds.failure_seconds)
            return self._keep(url.url, _Entry(now + self._bounds.failure_seconds, None,
                                              InvalidClient(f"{_PREFIX} could not be fetched: "
                                                            f"{failed.message}",
                                                            detail=f"fetch:{failed.problem}")))
        except MetadataRefused as refused:
            self._emit(url.url, "refused", refused.rule, self._bounds.failure_seconds)
            error = InvalidClient(f"{_PREFIX} is refused: {refused.description}",
                                  detail=refused.rule)
            return self._keep(url.url, _Entry(now + self._bounds.failure_seconds, None, error))
        lifetime = clamp_lifetime(fetched.lifetime, self._bounds.min_seconds,
                                  self._bounds.max_seconds)
        self._emit(url.url, "fetched", None, lifetime)
        return self._keep(url.url, _Entry(now + lifetime, client, None))

    def _emit(self, client_id: str, outcome: MetadataOutcome, detail: str | None,
              kept: int) -> None:
        if self._bus is not None:
            self._bus.emit(ClientMetadataFetched(client_id, outcome, detail, max(kept, 0)))

    def _keep(self, key: str, entry: _Entry) -> _Entry:
        if entry.client is None and self._bounds.failure_seconds <= 0:
            self._entries.pop(key, None)
            return entry
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._bounds.max_entries:
            self._entries.popitem(last=False)  # the least recently used
        return entry

    def _client_of(self, url: str, body: bytes, now: int, known: tuple[str, ...]) -> Client:
        """The checks on a fetched document, in order; MetadataRefused names the rule."""
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise FetchFailed("not_json", "the response is not JSON") from None
        if not isinstance(doc, dict):
            raise MetadataRefused("PKL050", "", "client metadata must be a JSON object")
        if "client_secret" in doc or "client_secret_expires_at" in doc:
            raise MetadataRefused("PKL073", "client_secret", "a metadata document must not "
                                  "contain client_secret or client_secret_expires_at")
        method = doc.get("token_endpoint_auth_method", "none")
        if method != "none":
            why = ("a metadata document cannot establish a shared secret" if method in
                   _SECRET_METHODS else "proofkey takes private_key_jwt from registered "
                   "clients only" if method == "private_key_jwt" else "it is not supported")
            raise MetadataRefused("PKL072", "token_endpoint_auth_method", "token_endpoint_"
                                  f"auth_method must be none: {why}")
        meta = parse_client_metadata(doc)
        if meta.client_id != url:
            raise MetadataRefused("PKL071", "client_id", "the document's client_id must equal "
                                  "its URL exactly")
        try:
            new = build_client(
                url, client_type="public", redirect_uris=meta.redirect_uris,
                scopes=self._scopes if meta.scope is None else meta.scope,
                supported_scopes=known, grant_types=meta.grant_types,
                auth_method="none", id_token_alg=meta.id_token_signed_response_alg,
                name=meta.client_name, require_dpop=meta.dpop_bound_access_tokens, now=now)
        except AdminError as error:
            raise MetadataRefused(error.rule or "policy", "", str(error).split(" [PKL")[0]) \
                from None
        return new.client


def _result(entry: _Entry) -> Client:
    if entry.error is not None:
        # A fresh error each time: one shared instance would carry one request's state.
        raise InvalidClient(entry.error.description, detail=entry.error.detail)
    assert entry.client is not None
    return entry.client


class ResolvingClientStore:
    """A ``ClientStore`` whose ``get_client`` resolves document URLs through ``resolver``
    (raising InvalidClient when one cannot be used) and reads every other id from ``store``.
    Such clients cannot be added or removed: they are not stored."""

    def __init__(self, store: ClientStore, resolver: MetadataResolver) -> None:
        self._store = store
        self._resolver = resolver

    async def get_client(self, client_id: str) -> Client | None:
        if is_metadata_document_id(client_id):
            return await self._resolver.resolve(client_id)
        return await self._store.get_client(client_id)

    async def add_client(self, client: Client) -> None:
        await self._store.add_client(client)

    async def list_clients(self) -> list[Client]:
        return await self._store.list_clients()

    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        return await self._store.remove_client(client_id, now=now)
