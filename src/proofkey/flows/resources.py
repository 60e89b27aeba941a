"""Resource indicators (RFC 8707) in the flows: what a request's ``resource`` values select, the
audience and scopes of the token, and the administration of registered resources.

The rules are ``protocol/resource.py``'s; this module only fetches the catalog, and only when
a request involves a resource (or a scope the server's settings do not name), so a request
without one costs nothing more than before.
"""

from __future__ import annotations

from collections.abc import Iterable

from proofkey.errors import InvalidScope
from proofkey.models import Resource
from proofkey.protocol.params import Params
from proofkey.protocol.resource import Catalog, Target, check_resource_uri, token_target
from proofkey.protocol.scope import parse_scope
from proofkey.settings import Settings
from proofkey.store.base import ResourceDirectory, ResourceStore

from .admin import AdminError

__all__ = [
    "EMPTY",
    "catalog_for",
    "known_scopes",
    "register_resource",
    "target_for",
]

EMPTY = Catalog()


def _involves_resources(params: Params, settings: Settings) -> bool:
    """Does the request name a resource, or a scope that only a resource could declare?"""
    if "resource" in params:
        return True
    known = settings.scopes_supported
    return any(token and token not in known for token in params.get("scope", "").split(" "))


async def catalog_for(params: Params, settings: Settings,
                      directory: ResourceDirectory | None) -> Catalog:
    """The catalog when the request needs it (else an empty one, read from nowhere)."""
    if directory is None or not _involves_resources(params, settings):
        return EMPTY
    return await directory.catalog()


async def target_for(scope: tuple[str, ...], resources: tuple[str, ...], *,
                     directory: ResourceDirectory, default_audience: str) -> Target:
    """The audience and scopes of an access token for ``resources`` (none: the default)."""
    catalog = await directory.catalog() if set(resources) - {default_audience} else EMPTY
    return token_target(scope, resources, catalog, default_audience)


async def known_scopes(settings: Settings, resources: ResourceStore) -> tuple[str, ...]:
    """Every scope the server knows: its settings', then those of every resource (stored and
    configured); what a client may be registered for."""
    every = [*await resources.list_resources(), *settings.configured_resources]
    return Catalog.of(every).known_scopes(settings.scopes_supported)


async def register_resource(store: ResourceStore, uri: str, *, scopes: Iterable[str],
                            name: str = "", now: int) -> Resource:
    """Validate and store a resource (``AlreadyExists`` if its URI is registered)."""
    try:
        check_resource_uri(uri)
    except ValueError as exc:
        raise AdminError(f"resource URI {uri[:120]!r} {exc}") from None
    try:
        scope = parse_scope(" ".join(scopes))
    except InvalidScope:
        raise AdminError("scopes must be RFC 6749 scope tokens (no spaces or quotes)") from None
    if len(name) > 200:
        raise AdminError("the name must be at most 200 characters")
    resource = Resource(uri, frozenset(scope), name=name, created_at=now)
    await store.add_resource(resource)
    return resource
