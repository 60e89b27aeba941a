"""The ASGI middleware over HTTP: RFC 9728 metadata, RFC 6750 challenges, claims for the app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from proofkey.protocol.dpop import DPOP_ALGORITHMS
from proofkey.resource import ProtectedResource, TokenVerifier, access_token_claims
from tests.resource.conftest import AUDIENCE, ISSUER, Issuer, Key, challenges, sign

METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
METADATA_URL = f"https://api.example{METADATA_PATH}"


async def whoami(request: Request) -> JSONResponse:
    claims = access_token_claims(request.scope)
    return JSONResponse({"sub": claims.sub, "scopes": list(claims.scopes),
                         "body": (await request.body()).decode()})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def api(verifier: TokenVerifier) -> ProtectedResource:
    app = Starlette(routes=[Route("/mcp", whoami, methods=["GET", "POST"]),
                            Route("/healthz", health)])
    return ProtectedResource(app, verifier=verifier, required_scopes=["mcp:tools"],
                             scopes_supported=["mcp:tools", "mcp:admin"],
                             public_paths={"/healthz"}, resource_name="Test MCP")


@pytest.fixture
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api(verifier))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example") as http:
        yield http


def challenge(response: httpx.Response) -> dict[str, str]:
    """The Bearer challenge; the DPoP one beside it carries only the metadata and algs when
    the client used Bearer or sent nothing (RFC 9449 §7.2)."""
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    parsed = challenges(header)
    bearer, dpop = parsed["Bearer"], parsed["DPoP"]
    assert dpop.pop("algs") == " ".join(DPOP_ALGORITHMS)
    # An invalid_request comes before the scheme is known: both challenges carry it (§7.2).
    assert dpop == (bearer if bearer.get("error") == "invalid_request" else
                    {"resource_metadata": bearer["resource_metadata"]})
    return bearer


async def test_the_metadata_is_served_at_the_path_aware_well_known_uri(
        client: httpx.AsyncClient) -> None:
    response = await client.get(METADATA_PATH)
    assert response.status_code == 200
    assert response.json() == {
        "resource": AUDIENCE, "authorization_servers": [ISSUER],
        "bearer_methods_supported": ["header"], "scopes_supported": ["mcp:tools", "mcp:admin"],
        "resource_name": "Test MCP", "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS)}
    assert response.headers["access-control-allow-origin"] == "*"
    assert (await client.get("/.well-known/oauth-protected-resource")).status_code == 401
    assert (await client.post(METADATA_PATH)).status_code == 405


async def test_no_token_is_401_pointing_to_the_metadata_without_an_error_code(
        client: httpx.AsyncClient) -> None:
    response = await client.get("/mcp")
    assert response.status_code == 401
    assert challenge(response) == {"resource_metadata": METADATA_URL}
    basic = await client.get("/mcp", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401
    assert challenge(basic) == {"resource_metadata": METADATA_URL}


async def test_an_invalid_token_is_401_invalid_token(client: httpx.AsyncClient,
                                                     ec_key: Key) -> None:
    response = await client.get("/mcp", headers={
        "Authorization": f"Bearer {sign(ec_key, aud='https://api.example/other')}"})
    assert response.status_code == 401
    assert challenge(response)["error"] == "invalid_token"
    assert challenge(response)["resource_metadata"] == METADATA_URL
    assert response.json()["error"] == "invalid_token"
    assert response.headers["cache-control"] == "no-store"


async def test_a_valid_token_reaches_the_app_with_its_claims(client: httpx.AsyncClient,
                                                             ec_key: Key) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = await client.get("/mcp", headers={
            "Authorization": f"{scheme} {sign(ec_key, scope='mcp:tools mcp:admin')}"})
        assert response.status_code == 200, response.text
        assert response.json()["sub"] == "user-1"
        assert response.json()["scopes"] == ["mcp:tools", "mcp:admin"]


async def test_a_missing_scope_is_403_naming_the_scope_for_a_step_up(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    response = await client.get("/mcp", headers={
        "Authorization": f"Bearer {sign(ec_key, scope='profile')}"})
    assert response.status_code == 403
    assert challenge(response) == {"resource_metadata": METADATA_URL,
                                   "error": "insufficient_scope",
                                   "error_description": "the access token lacks a required scope",
                                   "scope": "mcp:tools"}


async def test_a_token_in_the_query_string_is_refused(client: httpx.AsyncClient,
                                                      ec_key: Key) -> None:
    token = sign(ec_key)
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        response = await client.get("/mcp", params={"access_token": token}, headers=headers)
        assert response.status_code == 400
        assert challenge(response)["error"] == "invalid_request"
    ok = await client.get("/mcp", params={"note": "access_token is a word"},
                          headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


async def test_a_token_in_a_form_body_is_refused(client: httpx.AsyncClient,
                                                 ec_key: Key) -> None:
    response = await client.post("/mcp", data={"access_token": sign(ec_key)})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    plain = await client.post("/mcp", data={"q": "1"})
    assert plain.status_code == 401


async def test_a_form_body_reaches_the_app_intact_with_a_header_token(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    response = await client.post("/mcp", data={"q": "1"},
                                 headers={"Authorization": f"Bearer {sign(ec_key)}"})
    assert response.json()["body"] == "q=1"


@pytest.mark.parametrize("headers", [
    [("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")],
    [("Authorization", "Bearer " + "a" * 9000)],
    [("Authorization", "Bearer a.b.c extra")],
    [("Authorization", "Bearer ")],
    [("Authorization", "Bearer a\"b")],
])
async def test_a_malformed_authorization_header_is_invalid_request(
        client: httpx.AsyncClient, headers: list[tuple[str, str]]) -> None:
    response = await client.get("/mcp", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_public_paths_and_cors_preflights_pass_through(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"ok": True}
    preflight = await client.options("/mcp", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405  # the app's answer (it has no CORS), not the kit's 401
    assert (await client.options("/mcp")).status_code == 401


async def test_an_unreachable_issuer_is_503_without_a_challenge(
        client: httpx.AsyncClient, issuer: Issuer, ec_key: Key) -> None:
    issuer.fail = True
    response = await client.get("/mcp", headers={"Authorization": f"Bearer {sign(ec_key)}"})
    assert response.status_code == 503
    assert "www-authenticate" not in response.headers
    assert json.loads(response.text)["error"] == "temporarily_unavailable"


async def test_a_resource_at_the_root_serves_the_root_metadata(verifier: TokenVerifier) -> None:
    root = TokenVerifier(issuer=ISSUER, audience="https://api.example", http=verifier._http)
    app = ProtectedResource(Starlette(), verifier=root)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://api.example") as http:
        response = await http.get("/.well-known/oauth-protected-resource")
        assert response.json()["resource"] == "https://api.example"
        assert "scopes_supported" not in response.json()
        assert challenge(await http.get("/")) == {
            "resource_metadata": "https://api.example/.well-known/oauth-protected-resource"}


async def test_a_websocket_without_a_token_is_closed(verifier: TokenVerifier) -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def never(*_: object) -> None:
        raise AssertionError("the app must not run")

    app = ProtectedResource(never, verifier=verifier)
    await app({"type": "websocket", "path": "/mcp", "headers": [], "query_string": b""},
              receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_it_plugs_in_as_starlette_middleware(verifier: TokenVerifier,
                                                   ec_key: Key) -> None:
    app = Starlette(routes=[Route("/mcp", whoami)], middleware=[
        Middleware(ProtectedResource, verifier=verifier, required_scopes=["mcp:tools"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://api.example") as http:
        assert (await http.get("/mcp")).status_code == 401
        response = await http.get("/mcp", headers={"Authorization": f"Bearer {sign(ec_key)}"})
        assert response.json()["sub"] == "user-1"
        assert (await http.get(METADATA_PATH)).json()["scopes_supported"] == ["mcp:tools"]
