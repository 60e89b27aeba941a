"""The official MCP Python SDK against proofkey: a real ``proofkey serve`` as the authorization
server, a small MCP server (``MCPServer``, streamable HTTP, one tool) protected by
``proofkey.resource`` on another loopback port, and the SDK's own OAuth client
(``OAuthClientProvider``) doing protected-resource discovery → authorization server metadata →
PKCE → token → tool call → refresh. The person's sign-in and consent are played over plain HTTP
from the SDK's redirect handler.

Each case is a ``Case``: how the MCP server is protected (the SDK's bearer check with
``McpTokenVerifier``, or the kit's ASGI middleware around the SDK's app) and how the client
is registered. Only pre-registration exists today; a dynamically registered (RFC 7591) or a
resource-indicator (RFC 8707) case is one more ``Case`` — see ``CASES``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import httpx2
import pytest
import uvicorn
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl
from starlette.types import ASGIApp

from proofkey.flows.admin import register_client, register_user
from proofkey.resource import ProtectedResource, TokenVerifier, access_token_claims
from proofkey.resource.mcp import McpTokenVerifier
from proofkey.store import Store
from tests.helpers import query_of
from tests.interop.conftest import sign_in_at_proofkey
from tests.process.conftest import ServerProcess, free_port, running_server, with_store

pytestmark = pytest.mark.interop

USERNAME = "ada"
PASSWORD = "analytical engine 1843"
CLIENT_ID = "mcp-test-client"
REDIRECT = "http://127.0.0.1:53710/callback"
SCOPE = "mcp:tools"
ADMIN = "mcp:admin"
SCOPES = ("openid", "profile", "email", "offline_access", SCOPE, ADMIN)


@dataclass(frozen=True)
class Case:
    """One way to run the flow.

    ``protection``: ``sdk`` is ``MCPServer(token_verifier=McpTokenVerifier(...), auth=...)``
    (the SDK serves the metadata and the challenges), ``kit`` is the SDK's app without auth
    inside ``ProtectedResource``. ``registration``: ``pre-registered`` hands the SDK the
    client's record from its storage, so it never registers. To add dynamic registration,
    add ``"dynamic"``: start the server with ``PROOFKEY_REGISTRATION=open`` (see
    ``proofkey_settings``) and return ``None`` from ``client_record`` so the SDK registers at
    the advertised ``registration_endpoint``. ``audience``: ``setting`` makes every proofkey
    access token's ``aud`` the MCP server's URL (``PROOFKEY_ACCESS_TOKEN_AUDIENCE``); for
    RFC 8707 add ``"resource"``: drop that setting and register the MCP URL as a resource
    (``proofkey resource add``), so the ``resource`` parameter the SDK always sends picks
    the audience.
    """

    protection: Literal["sdk", "kit"]
    registration: Literal["pre-registered"] = "pre-registered"
    audience: Literal["setting"] = "setting"


CASES = [Case("sdk"), Case("kit")]


@dataclass
class Servers:
    proofkey: ServerProcess
    mcp_port: int

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.mcp_port}/mcp"


def proofkey_settings(mcp_url: str) -> dict[str, str | None]:
    return {"scopes_supported": " ".join(SCOPES), "access_token_audience": mcp_url}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    data_dir = tmp_path_factory.mktemp("mcp-proofkey") / "data"
    data_dir.mkdir(parents=True)
    mcp_port = free_port()

    async def register(store: Store) -> None:
        now = int(time.time())
        await register_client(store, CLIENT_ID, client_type="public", redirect_uris=[REDIRECT],
                              scopes=SCOPES, supported_scopes=SCOPES, name="MCP test client",
                              now=now)
        await register_user(store, USERNAME, PASSWORD, name="Ada", email="ada@example.com",
                            now=now)

    with_store(data_dir, register)
    settings = proofkey_settings(f"http://127.0.0.1:{mcp_port}/mcp")
    with running_server(data_dir, settings=settings) as proofkey:
        yield Servers(proofkey, mcp_port)


def mcp_app(case: Case, issuer: str, resource: str,
            required_scopes: tuple[str, ...] = (SCOPE,)) -> ASGIApp:
    """The MCP server: one tool that says whose token called it. With the kit's middleware,
    the metadata advertises only ``mcp:tools`` whatever ``required_scopes`` says."""
    verifier = TokenVerifier(issuer=issuer, audience=resource)
    if case.protection == "sdk":
        adapter = McpTokenVerifier(verifier)
        server = MCPServer("proofkey-test", token_verifier=adapter,
                           auth=adapter.auth_settings(required_scopes=[SCOPE]))
    else:
        server = MCPServer("proofkey-test")

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The subject of the access token this call came with."""
        token = get_access_token()
        if token is not None:
            return f"{token.subject} via {token.client_id}"
        request: Any = ctx.request_context.request
        claims = access_token_claims(request.scope)
        return f"{claims.sub} via {claims.client_id}"

    app: ASGIApp = server.streamable_http_app()
    if case.protection == "kit":
        app = ProtectedResource(app, verifier=verifier, required_scopes=required_scopes,
                                scopes_supported=[SCOPE],
                                resource_name="proofkey test MCP server")
    return app


@contextlib.contextmanager
def serving(app: ASGIApp, port: int) -> Iterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"mcp-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the MCP server's thread died"
        assert time.monotonic() < deadline, "the MCP server did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class MemoryStorage:
    """The SDK's ``TokenStorage``; a pre-registered client's record is there from the start."""

    def __init__(self, client: OAuthClientInformationFull | None) -> None:
        self.client = client
        self.tokens: OAuthToken | None = None
        self.saved: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.saved.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def client_record(case: Case) -> OAuthClientInformationFull | None:
    return OAuthClientInformationFull(
        client_id=CLIENT_ID, redirect_uris=[AnyUrl(REDIRECT)], token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"], response_types=["code"])


class Person:
    """The SDK's redirect and callback handlers: sign in and consent at proofkey over plain
    HTTP, then hand the redirect's code, state and iss back to the SDK."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.authorization_urls: list[str] = []
        self.callback: dict[str, str] = {}

    async def redirect(self, url: str) -> None:
        self.authorization_urls.append(url)
        location = await asyncio.to_thread(sign_in_at_proofkey, self.issuer, url,
                                           username=USERNAME, password=PASSWORD)
        assert location.startswith(REDIRECT), location
        self.callback = query_of(location)

    async def callback_result(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=self.callback["code"],
                                       state=self.callback.get("state"),
                                       iss=self.callback.get("iss"))


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload)
                                                                                % 4)))
    return claims


def oauth_provider(servers: Servers, storage: MemoryStorage,
                   person: Person) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=servers.mcp_url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[AnyUrl(REDIRECT)], client_name="MCP test client",
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"]),
        storage=storage, redirect_handler=person.redirect,
        callback_handler=person.callback_result)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.protection}-{c.registration}")
async def test_the_mcp_sdk_discovers_authorizes_calls_a_tool_and_refreshes(
        servers: Servers, case: Case) -> None:
    issuer = servers.proofkey.base_url
    storage = MemoryStorage(client_record(case))
    person = Person(issuer)
    provider = oauth_provider(servers, storage, person)
    with serving(mcp_app(case, issuer, servers.mcp_url), servers.mcp_port):
        # Without a token: 401 pointing to the RFC 9728 metadata, which names proofkey.
        async with httpx.AsyncClient(timeout=10) as plain:
            bare = await plain.post(servers.mcp_url, json={})
            metadata = (await plain.get(f"http://127.0.0.1:{servers.mcp_port}/.well-known/"
                                        "oauth-protected-resource/mcp")).json()
        assert bare.status_code == 401
        assert "resource_metadata=" in bare.headers["www-authenticate"]
        assert metadata["resource"] == servers.mcp_url
        assert metadata["authorization_servers"] == [issuer]

        async with httpx2.AsyncClient(auth=provider, timeout=30) as http, Client(
                streamable_http_client(servers.mcp_url, http_client=http)) as client:
            first = await client.call_tool("whoami", {})
            assert storage.tokens is not None
            assert storage.tokens.refresh_token
            access = claims_of(storage.tokens.access_token)
            assert access["aud"] == servers.mcp_url
            assert access["iss"] == issuer
            assert SCOPE in access["scope"].split()
            assert first.content[0].text == f"{access['sub']} via {CLIENT_ID}"  # type: ignore[union-attr]

            # One authorization, with PKCE S256 and the scope the metadata advertised.
            assert len(person.authorization_urls) == 1
            request = query_of(person.authorization_urls[0])
            assert request["code_challenge_method"] == "S256"
            assert request["client_id"] == CLIENT_ID
            assert SCOPE in request["scope"].split()
            assert person.callback["iss"] == issuer

            # The access token runs out (the client's clock says so): the SDK refreshes.
            before = storage.tokens
            provider.context.token_expiry_time = time.time() - 1
            second = await client.call_tool("whoami", {})
            assert second.content == first.content
            assert storage.tokens is not None
            assert storage.tokens.access_token != before.access_token
            assert storage.tokens.refresh_token != before.refresh_token  # rotated
            assert len(person.authorization_urls) == 1  # no new sign-in

        # The tokens the SDK held are no good at another resource.
        other = TokenVerifier(issuer=issuer, audience=f"http://127.0.0.1:{servers.mcp_port}/other")
        async with other:
            with pytest.raises(Exception, match="another resource"):
                await other.verify(storage.tokens.access_token)


async def test_a_403_insufficient_scope_from_the_kit_makes_the_sdk_step_up(
        servers: Servers) -> None:
    """The kit answers ``insufficient_scope`` with the scope needed (RFC 6750 §3.1); the SDK
    authorizes again for it (the person consents once more) and retries the call."""
    case = Case("kit")
    issuer = servers.proofkey.base_url
    storage = MemoryStorage(client_record(case))
    person = Person(issuer)
    app = mcp_app(case, issuer, servers.mcp_url, required_scopes=(SCOPE, ADMIN))
    with serving(app, servers.mcp_port):
        async with httpx2.AsyncClient(auth=oauth_provider(servers, storage, person),
                                      timeout=30) as http, Client(
                streamable_http_client(servers.mcp_url, http_client=http)) as client:
            await client.call_tool("whoami", {})
    assert len(person.authorization_urls) == 2
    first, second = (set(query_of(url)["scope"].split()) for url in person.authorization_urls)
    assert SCOPE in first
    assert ADMIN not in first  # the metadata advertised only mcp:tools
    assert {SCOPE, ADMIN} <= second
    assert storage.tokens is not None
    assert {SCOPE, ADMIN} <= set(claims_of(storage.tokens.access_token)["scope"].split())
