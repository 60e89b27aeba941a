"""Managing stored connectors (``proofkey connector add|list|show|remove``).

The upstream client secret is sealed with the data directory's connector key before it is
stored (``sealing``); ``show`` and ``list`` never print it. Removing a connector deletes the
links of its users: they can no longer sign in through it (nor through a connector later added
under the same name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from proofkey.models import Connector, ConnectorKind
from proofkey.store.base import AlreadyExists, FederationStore

from .config import ConnectorConfig, ConnectorError, validate
from .sealing import connector_key, seal_json

__all__ = ["add_connector", "remove_connector"]


async def add_connector(
    store: FederationStore, data_dir: Path, name: str, *, issuer: str, client_id: str,
    client_secret: str | None, scope: Sequence[str] = (), kind: ConnectorKind = "oidc",
    legacy: bool = False, authorization_endpoint: str = "", token_endpoint: str = "",
    userinfo_endpoint: str = "", claims: Mapping[str, str] | None = None, now: int,
) -> Connector:
    """Validate and store a connector; raise ConnectorError (invalid, or the name is taken)."""
    words = tuple(scope) or (("openid", "profile", "email") if kind == "oidc" else ())
    validate(ConnectorConfig(name, kind, issuer, client_id, None, words, legacy,
                             authorization_endpoint, token_endpoint, userinfo_endpoint,
                             dict(claims or {})))
    sealed = ""
    if client_secret:
        sealed = seal_json(connector_key(data_dir, create=True), client_secret,
                           purpose=f"connector:{name}")
    record = Connector(name, kind, issuer, client_id, sealed, words, legacy,
                       authorization_endpoint, token_endpoint, userinfo_endpoint,
                       tuple(sorted((claims or {}).items())), now)
    try:
        await store.add_connector(record)
    except AlreadyExists:
        raise ConnectorError(f"a connector called {name} exists already") from None
    return record


async def remove_connector(store: FederationStore, name: str) -> bool:
    return await store.remove_connector(name)
