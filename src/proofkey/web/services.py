"""The composition root's parts: observers (built with the app) and services (built by the
lifespan), each wired once, in one fixed order, into frozen bundles that mypy checks.

Store wrappers, innermost first: the backend from ``open_store``; the tracing proxy (a client
span per store call, only when the ``OTEL_*`` variables switch tracing on); the per-process
client cache in front of that. So spans measure the database, a cache hit costs no span, and
every flow — ``/token`` included — reads clients through the same cache. With
``PROOFKEY_CLIENT_METADATA_DOCUMENTS`` on, one more wrapper resolves client ids that are https
URLs by fetching their metadata documents (``flows.client_metadata``, fetched by
``metadata_fetcher``), so every endpoint sees those clients like registered ones.

Observers subscribe to the event bus here and nowhere else: the audit log, the metrics, the
status board and, when on, tracing.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

from proofkey import __version__
from proofkey.connectors.config import ConnectorError
from proofkey.connectors.registry import Connectors
from proofkey.flows.client_assertion import ClientAssertions
from proofkey.flows.client_keys import ClientKeySets
from proofkey.flows.client_metadata import CacheBounds, MetadataResolver, ResolvingClientStore
from proofkey.flows.context import Context
from proofkey.flows.dpop import DpopGate
from proofkey.flows.token import TokenServices
from proofkey.models import SigningKey
from proofkey.observability.audit import AuditLog
from proofkey.observability.events import EventBus
from proofkey.observability.metrics import Metrics
from proofkey.observability.status import StatusBoard
from proofkey.observability.tracing import Tracing
from proofkey.protocol.client_id_document import document_host
from proofkey.settings import Settings, SettingsError
from proofkey.store import open_store
from proofkey.store.base import (
    ClientStore,
    KeyStore,
    RateLimiter,
    ReplayStore,
    ResourceDirectory,
    Store,
)
from proofkey.store.client_cache import CachedClientStore
from proofkey.store.ratelimit import MemoryRateLimiter
from proofkey.store.resource_cache import CachedResourceDirectory
from proofkey.tokens.keys import KeyRing, keep_seconds_for
from proofkey.tokens.mint import TokenMinter

from .cors import CorsPolicy
from .metadata_fetcher import HttpsMetadataFetcher

__all__ = ["KeyWatcher", "Observers", "Services", "build_limiter", "build_observers",
           "build_services", "client_assertions", "dpop_gate", "metadata_clients",
           "services_of"]

_HERE = Path(__file__).parent
JWKS_MAX_BYTES = 65536  # ten RSA-4096 public keys are about 8 KiB


@dataclass(frozen=True, slots=True)
class Observers:
    """What turns domain events into signals; subscribed to ``bus`` by ``build_observers``."""

    bus: EventBus
    audit: AuditLog
    metrics: Metrics
    status: StatusBoard
    tracing: Tracing


def build_observers(settings: Settings, bus: EventBus, *,
                    tracing: Tracing | None = None) -> Observers:
    """Create every observer and subscribe each to ``bus`` exactly once."""
    metrics = Metrics(version=__version__)
    status = StatusBoard()
    metrics.add_redaction_listener(status.count_redaction)
    tracing = tracing or Tracing.from_env(os.environ, service_version=__version__)
    observers = Observers(bus=bus, audit=AuditLog(), metrics=metrics, status=status,
                          tracing=tracing)
    bus.subscribe(observers.audit)
    bus.subscribe(metrics)
    bus.subscribe(status)
    if tracing.enabled:
        bus.subscribe(tracing)
    return observers


def build_limiter(settings: Settings) -> RateLimiter:
    """Shared through Redis when a URL is set (redis loads only then), else in-process."""
    if not settings.redis_url:
        return MemoryRateLimiter()
    from proofkey.store.ratelimit_redis import RedisRateLimiter

    return RedisRateLimiter(settings.redis_url)


# A token with an unknown kid asks for a reload (another instance may have rotated); anyone can
# send made-up kids, so those reload at most this often per process.
RELOAD_INTERVAL = 1.0


@dataclass(slots=True)
class KeyWatcher:
    """Notices keys another instance or the CLI added or retired, and swaps the minter's ring
    (cheap when nothing changed: one read of the key table). Which key signs needs no reload:
    the ring reads it off the records and ``clock`` (tokens/keys.py, phases)."""

    keys: KeyStore
    minter: TokenMinter
    versions: frozenset[tuple[str, int | None, int | None]] = field(default_factory=frozenset)
    last: float = float("-inf")  # monotonic time of the last reload
    clock: Callable[[], float] = time.time
    keep_seconds: int | None = None

    async def refresh(self, *, min_interval: float = 0.0) -> None:
        """Reload, unless the last reload is less than ``min_interval`` seconds old."""
        now = time.monotonic()
        if now - self.last < min_interval:
            return
        self.last = now
        records = await self.keys.list_keys()
        versions = key_versions(records)
        if versions != self.versions:
            self.minter.keys = KeyRing(records, clock=self.clock, keep_seconds=self.keep_seconds)
            self.versions = versions


def key_versions(records: list[SigningKey]) -> frozenset[tuple[str, int | None, int | None]]:
    """What a reload compares: a changed set means another ring."""
    return frozenset((r.kid, r.retired_at, r.activates_at) for r in records)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the endpoints use, created once by the lifespan."""

    settings: Settings
    store: Store  # the backend, traced when tracing is on
    clients: ClientStore  # ``store``'s clients through the per-process cache
    minter: TokenMinter
    ctx: Context
    limiter: RateLimiter
    templates: Environment
    token: TokenServices
    cors: CorsPolicy
    keys: KeyWatcher
    connectors: Connectors  # upstream identity providers (docs/federation.md)
    resources: CachedResourceDirectory  # registered resources (RFC 8707), cached like clients
    assertions: ClientAssertions  # private_key_jwt: client keys (cached) and replay records

    async def refresh_keys(self) -> None:
        """Reload the keys now (housekeeping)."""
        await self.keys.refresh()

    async def refresh_keys_on_request(self) -> None:
        """Reload the keys for a token with an unknown kid, at most once per
        ``RELOAD_INTERVAL``."""
        await self.keys.refresh(min_interval=RELOAD_INTERVAL)


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
    )
    env.globals["document_host"] = document_host  # consent pages name a document's host
    return env


def _database_system(url: str) -> str:
    system = url.split(":", 1)[0]
    return "postgresql" if system.startswith("postgres") else system


def _fetcher(settings: Settings, *, max_bytes: int, accept: str) -> HttpsMetadataFetcher:
    """The one https fetcher with the SSRF rules, for documents and key sets alike."""
    return HttpsMetadataFetcher(
        ssl_context=ssl.create_default_context(),  # system CAs, SSL_CERT_FILE, SSL_CERT_DIR
        connect_timeout=settings.client_metadata_connect_timeout_ms / 1000,
        read_timeout=settings.client_metadata_read_timeout_ms / 1000,
        max_bytes=max_bytes, allow_loopback=settings.client_metadata_allow_loopback,
        accept=accept)


def client_assertions(settings: Settings, replay: ReplayStore,
                      clock: Callable[[], float]) -> ClientAssertions:
    """private_key_jwt: the clients' key sets (``jwks_uri`` ones fetched like metadata
    documents, under the same SSRF rules) and the shared replay records."""
    fetcher = _fetcher(settings, max_bytes=JWKS_MAX_BYTES,
                       accept="application/jwk-set+json, application/json")
    return ClientAssertions(keys=ClientKeySets(fetcher, clock=clock), replay=replay,
                            max_lifetime=settings.client_assertion_max_lifetime_seconds)


def metadata_clients(settings: Settings, clients: ClientStore, clock: Callable[[], float],
                     bus: EventBus, resources: ResourceDirectory | None = None) -> ClientStore:
    """``clients``, with metadata-document ids resolved when the setting is on."""
    if not settings.client_metadata_documents:
        return clients
    fetcher = _fetcher(settings, max_bytes=settings.client_metadata_max_bytes,
                       accept="application/json")
    bounds = CacheBounds(min_seconds=settings.client_metadata_min_cache_seconds,
                         max_seconds=settings.client_metadata_max_cache_seconds,
                         failure_seconds=settings.client_metadata_failure_cache_seconds,
                         max_entries=settings.client_metadata_cache_entries)
    resolver = MetadataResolver(fetcher, scopes_supported=settings.scopes_supported,
                                bounds=bounds, clock=clock, bus=bus, resources=resources)
    return ResolvingClientStore(clients, resolver)


async def build_services(settings: Settings, observers: Observers, limiter: RateLimiter, *,
                         clock: Callable[[], float] = time.time,
                         upstream_transport: httpx.AsyncBaseTransport | None = None
                         ) -> Services:
    """Open and migrate the store, wrap it (tracing, then the client cache), load the keys;
    every flow reads the time from ``clock``."""
    # One worker only: a group holds SQLite's write lock to the end of the loop iteration, and
    # other processes on the file would wait for it (2 workers: 700 -> 430-510 exchanges/s).
    backend = open_store(settings.effective_database_url,
                         sqlite_group_commit=settings.sqlite_group_commit
                         and settings.workers == 1)
    await backend.migrate()
    store = observers.tracing.traced(backend, _database_system(settings.effective_database_url))
    resources = CachedResourceDirectory(store, configured=settings.configured_resources,
                                        ttl=settings.client_cache_ms / 1000)
    clients = metadata_clients(
        settings, CachedClientStore(store, ttl=settings.client_cache_ms / 1000), clock,
        observers.bus, resources)
    ctx = Context(settings=settings, bus=observers.bus, clock=clock)
    assertions = client_assertions(settings, store, clock)
    keep = keep_seconds_for(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)
    ring = await KeyRing.load(store, ctx.now(), clock=clock, keep_seconds=keep)
    minter = TokenMinter(ring, issuer=settings.effective_issuer, audience=settings.audience,
                         access_ttl=settings.access_token_ttl_seconds,
                         id_ttl=settings.id_token_ttl_seconds)
    watcher = KeyWatcher(store, minter, key_versions(ring.records()), clock=clock,
                         keep_seconds=keep)
    try:
        connectors = Connectors(settings, store, transport=upstream_transport,
                                traced=observers.tracing.traced_upstream)
    except ConnectorError as exc:
        raise SettingsError("connectors", str(exc)) from None
    return Services(
        settings=settings, store=store, clients=clients, minter=minter, ctx=ctx,
        limiter=limiter, templates=_templates(),
        token=TokenServices(clients=clients, codes=store, grants=store, devices=store,
                            minter=minter, limiter=limiter, resources=resources,
                            assertions=assertions, dpop=dpop_gate(settings, store)),
        cors=CorsPolicy(store), keys=watcher, connectors=connectors, resources=resources,
        assertions=assertions,
    )


def dpop_gate(settings: Settings, store: Store) -> DpopGate:
    """The DPoP checks of /token and /par: ``htu`` is the configured issuer's endpoint URL
    (RFC 9449 §4.3), never one built from the request's Host or forwarded headers."""
    return DpopGate(replay=store, secrets=store, issuer=settings.effective_issuer,
                    nonces=settings.dpop_nonces, nonce_period=settings.dpop_nonce_seconds)


def services_of(request: Request) -> Services:
    return cast(Services, request.app.state.services)
