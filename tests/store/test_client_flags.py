"""The per-client flags round-trip on every backend: ``resource_server`` (who may introspect
other clients' access tokens, RFC 7662 §4) is stored and read back, false by default."""

from __future__ import annotations

from dataclasses import replace

from tests.store.test_contract import a_client

from proofkey.store.base import Store


async def test_a_resource_server_client_round_trips(store: Store) -> None:
    api = replace(a_client("api"), client_type="confidential",
                  token_endpoint_auth_method="client_secret_basic", secret_digest="d" * 64,
                  resource_server=True)
    await store.add_client(api)
    await store.add_client(a_client("plain"))
    assert await store.get_client("api") == api
    plain = await store.get_client("plain")
    assert plain is not None
    assert plain.resource_server is False
    listed = {c.client_id: c.resource_server for c in await store.list_clients()}
    assert listed == {"api": True, "plain": False}
