"""The collaborators one app instance runs with, built by the lifespan, typed for mypy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

from proofkey.flows.context import Context
from proofkey.flows.token import TokenServices
from proofkey.observability.events import EventBus
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.store.base import ClientStore, RateLimiter, Store
from proofkey.store.client_cache import CachedClientStore
from proofkey.store.ratelimit import MemoryRateLimiter
from proofkey.tokens.keys import KeyRing
from proofkey.tokens.mint import TokenMinter

from .cors import CorsPolicy

__all__ = ["Services", "build_services", "services_of"]

_HERE = Path(__file__).parent


@dataclass
class Services:
    """Everything the endpoints use, created by the lifespan and typed for mypy."""

    settings: Settings
    store: Store
    clients: ClientStore  # the store's clients through the per-process cache
    minter: TokenMinter
    ctx: Context
    limiter: RateLimiter
    templates: Environment
    token: TokenServices
    cors: CorsPolicy
    key_versions: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)

    async def refresh_keys(self) -> None:
        """Pick up keys another instance or the CLI added or retired (cheap when unchanged)."""
        records = await self.store.list_keys()
        versions = frozenset((r.kid, r.retired_at) for r in records)
        if versions != self.key_versions:
            self.minter.keys = KeyRing(records)
            self.key_versions = versions


def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
    )


def _limiter(settings: Settings) -> RateLimiter:
    """Shared through Redis when a URL is set (redis loads only then), else in-process."""
    if not settings.redis_url:
        return MemoryRateLimiter()
    from proofkey.store.ratelimit_redis import RedisRateLimiter

    return RedisRateLimiter(settings.redis_url)


async def build_services(settings: Settings, bus: EventBus) -> Services:
    store = open_store(settings.effective_database_url)
    await store.migrate()
    ctx = Context(settings=settings, bus=bus)
    ring = await KeyRing.load(store, ctx.now())
    minter = TokenMinter(ring, issuer=settings.effective_issuer, audience=settings.audience,
                         access_ttl=settings.access_token_ttl_seconds,
                         id_ttl=settings.id_token_ttl_seconds)
    clients = CachedClientStore(store, ttl=settings.client_cache_ms / 1000)
    limiter = _limiter(settings)
    services = Services(
        settings=settings, store=store, clients=clients, minter=minter, ctx=ctx,
        limiter=limiter, templates=_templates(),
        token=TokenServices(clients=clients, codes=store, grants=store, devices=store,
                            minter=minter, limiter=limiter),
        cors=CorsPolicy(store),
        key_versions=frozenset((r.kid, r.retired_at) for r in ring.records()),
    )
    return services




def services_of(request: Request) -> Services:
    return cast(Services, request.app.state.services)
