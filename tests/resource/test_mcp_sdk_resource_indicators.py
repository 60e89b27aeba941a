"""The official MCP Python SDK against proofkey with resource indicators (RFC 8707): the MCP
server's URL is a registered resource (``proofkey resource add``), not the server-wide
``PROOFKEY_ACCESS_TOKEN_AUDIENCE``. The SDK sends ``resource`` in the authorization and token
requests; the access token's ``aud`` is the MCP server, its scopes are the resource's, and the
refreshed token stays bound to it. A token for the MCP server is no good at UserInfo, and the
grant cannot be widened to another registered resource.

The flow and its helpers are ``test_mcp_sdk.py``'s; only the authorization server differs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from proofkey.flows.admin import register_client, register_user
from proofkey.flows.resources import known_scopes, register_resource
from proofkey.settings import load_settings
from proofkey.store import Store
from tests.helpers import query_of
from tests.process.conftest import free_port, running_server, with_store
from tests.resource.test_mcp_sdk import (
    ADMIN,
    CLIENT_ID,
    PASSWORD,
    REDIRECT,
    SCOPE,
    USERNAME,
    Case,
    MemoryStorage,
    Person,
    Servers,
    claims_of,
    client_record,
    mcp_app,
    oauth_provider,
    serving,
)

pytestmark = pytest.mark.interop

OTHER = "https://other-api.example.com/"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    data_dir = tmp_path_factory.mktemp("mcp-resource") / "data"
    data_dir.mkdir(parents=True)
    mcp_port = free_port()
    mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"

    async def register(store: Store) -> None:
        now = int(time.time())
        await register_resource(store, mcp_url, scopes=[SCOPE, ADMIN], name="MCP", now=now)
        await register_resource(store, OTHER, scopes=["other:read"], now=now)
        supported = await known_scopes(load_settings({}, environ={}), store)
        await register_client(store, CLIENT_ID, client_type="public", redirect_uris=[REDIRECT],
                              scopes=(*supported,), supported_scopes=supported,
                              name="MCP test client", now=now)
        await register_user(store, USERNAME, PASSWORD, name="Ada", email="ada@example.com",
                            now=now)

    with_store(data_dir, register)
    with running_server(data_dir) as proofkey:  # no access_token_audience: the issuer
        yield Servers(proofkey, mcp_port)


@pytest.mark.parametrize("protection", ["sdk", "kit"])
async def test_the_mcp_sdk_gets_tokens_bound_to_the_mcp_server_by_its_resource_parameter(
        servers: Servers, protection: str) -> None:
    case = Case("sdk" if protection == "sdk" else "kit")
    issuer = servers.proofkey.base_url
    storage = MemoryStorage(client_record(case))
    person = Person(issuer)
    provider = oauth_provider(servers, storage, person)
    with serving(mcp_app(case, issuer, servers.mcp_url), servers.mcp_port):
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http, Client(
                streamable_http_client(servers.mcp_url, http_client=http)) as client:
            first = await client.call_tool("whoami", {})
            assert storage.tokens is not None
            request = query_of(person.authorization_urls[0])
            assert request["resource"] == servers.mcp_url  # RFC 8707 §2.1
            access = claims_of(storage.tokens.access_token)
            assert access["aud"] == servers.mcp_url
            assert set(access["scope"].split()) <= {SCOPE, ADMIN, "openid", "profile", "email",
                                                    "offline_access"}
            assert first.content[0].text == f"{access['sub']} via {CLIENT_ID}"  # type: ignore[union-attr]

            provider.context.token_expiry_time = time.time() - 1  # refresh, with resource
            second = await client.call_tool("whoami", {})
            assert second.content == first.content
            assert claims_of(storage.tokens.access_token)["aud"] == servers.mcp_url
            assert len(person.authorization_urls) == 1

    async with httpx.AsyncClient(base_url=issuer, timeout=10) as plain:
        bearer = {"Authorization": f"Bearer {storage.tokens.access_token}"}
        assert (await plain.get("/userinfo", headers=bearer)).status_code == 401
        widened = await plain.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token,
            "client_id": CLIENT_ID, "resource": OTHER})
        assert widened.status_code == 400
        assert widened.json()["error"] == "invalid_target"
        metadata = (await plain.get("/.well-known/oauth-authorization-server")).json()
        assert {SCOPE, ADMIN, "other:read"} <= set(metadata["scopes_supported"])
