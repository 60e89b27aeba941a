"""The connectors one server knows: TOML ones (fixed at start) and database ones (read on each
use, so ``proofkey connector remove`` takes effect at once), and one SDK client per connector
that keeps its discovery metadata and JWKS between logins."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx

from proofkey.sdk import AsyncOAuthClient
from proofkey.settings import Settings
from proofkey.store.base import FederationStore

from .config import NAME, ConnectorConfig, ConnectorError, from_record, from_table
from .sealing import KEY_FILE, connector_key
from .upstream import new_client

__all__ = ["Connectors"]


class Connectors:
    """Look up connectors by name and hand out their upstream clients."""

    def __init__(self, settings: Settings, store: FederationStore, *,
                 environ: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 traced: Callable[[AsyncOAuthClient, str, str], AsyncOAuthClient] | None = None
                 ) -> None:
        """``traced(client, connector, host)`` wraps each SDK client (a span per upstream
        call); ``transport`` is the HTTP transport to the upstreams (tests)."""
        env = os.environ if environ is None else environ
        configured = [from_table(dict(table), env) for table in settings.connectors]
        names = [c.name for c in configured]
        if len(set(names)) != len(names):
            raise ConnectorError("two [[connectors]] tables have the same name")
        self._configured = {c.name: c for c in configured}
        self._store = store
        self._issuer = settings.effective_issuer
        self._key_path = settings.data_dir / KEY_FILE
        self._data_dir = settings.data_dir
        self._transport = transport
        self._traced = traced
        # name -> (its config, its SDK client, that client as handed out: traced or itself)
        self._clients: dict[str, tuple[ConnectorConfig, AsyncOAuthClient, AsyncOAuthClient]] = {}
        self._retired: list[AsyncOAuthClient] = []

    def _key(self) -> bytes | None:
        return connector_key(self._data_dir) if self._key_path.exists() else None

    async def get(self, name: str) -> ConnectorConfig | None:
        """The connector called ``name``, or None (unknown, removed, or unusable)."""
        if not NAME.fullmatch(name):
            return None
        if name in self._configured:
            return self._configured[name]
        record = await self._store.get_connector(name)
        if record is None:
            return None
        try:
            return from_record(record, self._key())
        except ConnectorError:
            return None

    async def all(self) -> list[ConnectorConfig]:
        """Every usable connector, TOML ones first, each name once."""
        found = list(self._configured.values())
        for record in await self._store.list_connectors():
            if record.name not in self._configured:
                try:
                    found.append(from_record(record, self._key()))
                except ConnectorError:
                    continue
        return found

    def client(self, config: ConnectorConfig) -> AsyncOAuthClient:
        """The SDK client of ``config`` (a new one when the connector was changed)."""
        cached = self._clients.get(config.name)
        if cached is not None and cached[0] == config:
            return cached[2]
        if cached is not None:
            self._retired.append(cached[1])
        client = new_client(config, self._issuer, self._transport)
        exposed = client if self._traced is None else self._traced(
            client, config.name, urlsplit(config.issuer).hostname or "")
        self._clients[config.name] = (config, client, exposed)
        return exposed

    async def aclose(self) -> None:
        for client in [*self._retired, *(c for _, c, _ in self._clients.values())]:
            await client.aclose()
        self._clients.clear()
        self._retired.clear()
