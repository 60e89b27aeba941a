"""The official MCP Python SDK as a client proofkey has never met: it registers itself
(RFC 7591, ``PROOFKEY_REGISTRATION=open``) or is identified by a Client ID Metadata Document
(its ``client_id`` is an https URL proofkey fetches), then runs the MCP authorization flow to
the end — protected-resource discovery → authorization server metadata → registration or
document → PKCE S256 with ``resource`` (RFC 8707) → token bound to the MCP server → tool call →
refresh. The MCP server's URL is a registered resource, so its scope (``mcp:tools``) is known
to registration and documents alike. The pre-registered case is ``test_mcp_sdk.py``'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from proofkey.flows.admin import register_user
from proofkey.flows.resources import register_resource
from proofkey.store import Store
from tests.docserver import DocServer, running_docserver
from tests.helpers import query_of
from tests.process.conftest import free_port, start_server, with_store
from tests.resource.test_mcp_sdk import (
    ADMIN,
    PASSWORD,
    REDIRECT,
    SCOPE,
    USERNAME,
    Case,
    MemoryStorage,
    Person,
    Servers,
    claims_of,
    mcp_app,
    serving,
)

pytestmark = pytest.mark.interop

DOCUMENT_PATH = "/mcp/client.json"


@dataclass
class World:
    servers: Servers
    docs: DocServer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("mcp-registration")
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True)
    mcp_port = free_port()
    mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"

    async def seed(store: Store) -> None:
        now = int(time.time())
        await register_resource(store, mcp_url, scopes=[SCOPE, ADMIN], name="MCP", now=now)
        await register_user(store, USERNAME, PASSWORD, name="Ada", now=now)

    with_store(data_dir, seed)
    for docs in running_docserver(tmp):
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(docs.ca_file)  # proofkey trusts the documents' CA
        try:
            server = start_server(data_dir, settings={
                "registration": "open", "client_metadata_documents": "true",
                "client_metadata_allow_loopback": "true"})
        finally:
            if previous is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = previous
        try:
            yield World(Servers(server, mcp_port), docs)
        finally:
            server.stop()


def provider_for(world: World, storage: MemoryStorage, person: Person,
                 document_url: str | None = None) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=world.servers.mcp_url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[AnyUrl(REDIRECT)], client_name="MCP test client",
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"]),
        storage=storage, redirect_handler=person.redirect,
        callback_handler=person.callback_result, client_metadata_url=document_url)


async def run_the_flow(world: World, provider: OAuthClientProvider, storage: MemoryStorage,
                       person: Person, case: Case) -> dict[str, object]:
    """Tool call, forced refresh, second tool call; the access token's claims."""
    servers = world.servers
    with serving(mcp_app(case, servers.proofkey.base_url, servers.mcp_url), servers.mcp_port):
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http, Client(
                streamable_http_client(servers.mcp_url, http_client=http)) as client:
            first = await client.call_tool("whoami", {})
            assert storage.tokens is not None
            assert storage.tokens.refresh_token
            claims = claims_of(storage.tokens.access_token)
            before = storage.tokens
            provider.context.token_expiry_time = time.time() - 1
            second = await client.call_tool("whoami", {})
            assert second.content == first.content
            assert storage.tokens.refresh_token != before.refresh_token  # rotated
            assert claims_of(storage.tokens.access_token)["aud"] == servers.mcp_url
    assert len(person.authorization_urls) == 1
    request = query_of(person.authorization_urls[0])
    assert request["code_challenge_method"] == "S256"
    assert request["resource"] == servers.mcp_url
    assert person.callback["iss"] == servers.proofkey.base_url
    assert claims["aud"] == servers.mcp_url
    assert claims["iss"] == servers.proofkey.base_url
    assert SCOPE in str(claims["scope"]).split()
    return claims


@pytest.mark.parametrize("protection", ["sdk", "kit"])
async def test_the_mcp_sdk_registers_itself_and_completes_the_flow(
        world: World, protection: str) -> None:
    storage = MemoryStorage(None)  # nothing stored: the SDK registers at registration_endpoint
    person = Person(world.servers.proofkey.base_url)
    case = Case("sdk" if protection == "sdk" else "kit")
    claims = await run_the_flow(world, provider_for(world, storage, person), storage, person,
                                case)
    assert storage.client is not None
    client_id = storage.client.client_id
    assert client_id
    assert claims["client_id"] == client_id
    assert query_of(person.authorization_urls[0])["client_id"] == client_id
    assert storage.client.client_secret is None  # a public client: "none"


async def test_the_mcp_sdk_with_a_client_id_metadata_document_completes_the_flow(
        world: World) -> None:
    url = world.docs.document(DOCUMENT_PATH, client_name="MCP test client",
                              redirect_uris=[REDIRECT],
                              scope=f"{SCOPE} offline_access")
    storage = MemoryStorage(None)
    person = Person(world.servers.proofkey.base_url)
    claims = await run_the_flow(world, provider_for(world, storage, person, url), storage,
                                person, Case("kit"))
    assert claims["client_id"] == url  # the document's URL is the client id
    assert query_of(person.authorization_urls[0])["client_id"] == url
    assert world.docs.hits[DOCUMENT_PATH] >= 1
