"""The MCP SDK adapter, the introspection verifier's cache, and the kit's public names."""

from __future__ import annotations

import warnings

import httpx
import pytest
from mcp.server.auth.provider import TokenVerifier as McpVerifierProtocol

import proofkey.resource
from proofkey.resource import (
    IntrospectionVerifier,
    InvalidTokenError,
    TokenVerifier,
    VerifierUnavailable,
)
from proofkey.resource.mcp import McpTokenVerifier
from tests.resource.conftest import AUDIENCE, ISSUER, Clock, Issuer, Key, claims, sign


def test_the_kit_exports_exactly_its_public_api() -> None:
    assert sorted(proofkey.resource.__all__) == [
        "AccessTokenClaims", "BearerTokenError", "CLAIMS_KEY", "DpopPolicy",
        "InsufficientScopeError", "IntrospectionVerifier", "InvalidDpopProofError",
        "InvalidRequestError", "InvalidTokenError", "MemoryReplayCache", "NonceSource",
        "Presentation", "ProtectedResource", "RedisReplayCache", "ReplayCache",
        "RotatingNonces", "TokenVerifier", "UseDpopNonceError", "Verifier",
        "VerifierUnavailable", "access_token_claims"]
    for name in proofkey.resource.__all__:
        assert getattr(proofkey.resource, name) is not None


async def test_the_mcp_adapter_maps_verified_claims_to_the_sdks_access_token(
        verifier: TokenVerifier, ec_key: Key) -> None:
    adapter: McpVerifierProtocol = McpTokenVerifier(verifier)
    token = sign(ec_key, scope="mcp:tools mcp:admin", aud=["https://api.example/x", AUDIENCE])
    access = await adapter.verify_token(token)
    assert access is not None
    assert (access.client_id, access.subject, access.resource) == ("app", "user-1", AUDIENCE)
    assert access.scopes == ["mcp:tools", "mcp:admin"]
    assert access.expires_at is not None
    assert access.claims is not None
    assert access.claims["iss"] == ISSUER


async def test_the_mcp_adapter_refuses_with_none_and_raises_when_the_issuer_is_down(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer) -> None:
    adapter = McpTokenVerifier(verifier)
    assert await adapter.verify_token(sign(ec_key, typ="JWT")) is None
    assert await adapter.verify_token("garbage") is None
    issuer.fail = True
    with pytest.raises(VerifierUnavailable):
        await adapter.verify_token(sign(ec_key))


def test_the_mcp_auth_settings_keep_the_issuer_as_written_and_check_the_resource(
        verifier: TokenVerifier) -> None:
    root = TokenVerifier(issuer="http://127.0.0.1:9000", audience="http://127.0.0.1:9001/mcp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no MCPDeprecationWarning about the resource check
        settings = McpTokenVerifier(root).auth_settings(required_scopes=["mcp:tools"])
    assert str(settings.issuer_url) == "http://127.0.0.1:9000"
    assert str(settings.resource_server_url) == "http://127.0.0.1:9001/mcp"
    assert settings.validate_token_resource is True
    assert settings.required_scopes == ["mcp:tools"]


class Introspection:
    """A scripted RFC 7662 endpoint."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: dict[str, object] = {"active": True, **claims()}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.answer)


@pytest.fixture
def endpoint() -> Introspection:
    return Introspection()


def introspecting(endpoint: Introspection, clock: Clock, **options: object) -> (
        IntrospectionVerifier):
    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoint.handle))
    return IntrospectionVerifier(issuer=ISSUER, audience=AUDIENCE, client_id="api",
                                 client_secret="s3cret:/", http=http,
                                 introspection_endpoint="https://issuer.example/introspect",
                                 clock=clock.wall, **options)  # type: ignore[arg-type]


async def test_introspection_authenticates_the_resource_server_and_never_caches_a_no(
        endpoint: Introspection, clock: Clock) -> None:
    verifier = introspecting(endpoint, clock)
    endpoint.answer = {"active": False}
    for _ in range(2):
        with pytest.raises(InvalidTokenError, match="not active"):
            await verifier.verify("opaque-token")
    assert len(endpoint.requests) == 2
    request = endpoint.requests[0]
    assert request.headers["authorization"] == "Basic YXBpOnMzY3JldCUzQSUyRg=="
    assert b"token=opaque-token" in request.content


async def test_introspection_caches_an_active_answer_no_longer_than_the_token_lives(
        endpoint: Introspection, clock: Clock) -> None:
    verifier = introspecting(endpoint, clock, cache_seconds=60)
    endpoint.answer = {"active": True, **claims(exp=int(clock.wall()) + 5)}
    await verifier.verify("t")
    await verifier.verify("t")
    assert len(endpoint.requests) == 1
    clock.offset += 5
    endpoint.answer = {"active": False}
    with pytest.raises(InvalidTokenError, match="not active"):
        await verifier.verify("t")
    assert len(endpoint.requests) == 2


async def test_the_introspection_cache_is_bounded(endpoint: Introspection,
                                                  clock: Clock) -> None:
    verifier = introspecting(endpoint, clock, cache_size=3)
    for n in range(5):
        await verifier.verify(f"token-{n}")
    await verifier.verify("token-4")
    assert len(endpoint.requests) == 5
    await verifier.verify("token-0")  # evicted
    assert len(endpoint.requests) == 6


@pytest.mark.parametrize("answer", [{"active": True, **claims(aud=None)},
                                    {"active": True, **claims(iss="https://evil.example")},
                                    {"active": "true", **claims()}])
async def test_an_introspection_answer_must_name_this_resource_and_issuer(
        endpoint: Introspection, clock: Clock, answer: dict[str, object]) -> None:
    endpoint.answer = answer
    with pytest.raises(InvalidTokenError):
        await introspecting(endpoint, clock).verify("t")
