"""The kit against the real proofkey app (in-process, over HTTP): its discovery, its JWKS, its
access tokens, its introspection endpoint and its revocation."""

from __future__ import annotations

import time

import httpx
import pytest

from proofkey.resource import (
    IntrospectionVerifier,
    InvalidTokenError,
    TokenVerifier,
    VerifierUnavailable,
)
from tests.helpers import ISSUER, WEB_ID, exchange, get_code, new_flow

API = "http://127.0.0.1:9000/api"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"access_token_audience": API}


async def client_credentials_token(http: httpx.AsyncClient, secret: str) -> str:
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               "scope": "profile"}, auth=(WEB_ID, secret))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_proofkey_access_tokens_verify_through_discovery_and_jwks(
        http: httpx.AsyncClient, web_secret: str) -> None:
    token = await client_credentials_token(http, web_secret)
    verifier = TokenVerifier(issuer=ISSUER, audience=API, http=http)
    claims = await verifier.verify(token, required_scopes=["profile"])
    assert (claims.iss, claims.client_id, claims.sub, claims.aud) == (ISSUER, WEB_ID, WEB_ID,
                                                                      (API,))
    other_api = TokenVerifier(issuer=ISSUER, audience="http://127.0.0.1:9001/api", http=http)
    with pytest.raises(InvalidTokenError, match="another resource"):
        await other_api.verify(token)


async def test_a_proofkey_id_token_is_not_an_access_token(http: httpx.AsyncClient) -> None:
    flow = new_flow()
    tokens = (await exchange(http, flow, await get_code(http, flow))).json()
    verifier = TokenVerifier(issuer=ISSUER, audience=API, http=http)
    assert (await verifier.verify(tokens["access_token"])).sub != ""
    with pytest.raises(InvalidTokenError, match="typ"):
        await verifier.verify(tokens["id_token"])


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_introspection_sees_revocation_once_its_short_cache_expires(
        http: httpx.AsyncClient, web_secret: str) -> None:
    token = await client_credentials_token(http, web_secret)
    clock = Clock()
    verifier = IntrospectionVerifier(issuer=ISSUER, audience=API, client_id=WEB_ID,
                                     client_secret=web_secret, cache_seconds=10, http=http,
                                     clock=clock)
    claims = await verifier.verify(token, required_scopes=["profile"])
    assert (claims.client_id, claims.aud) == (WEB_ID, (API,))
    await verifier.verify(token)
    assert verifier.requests == 1  # the active answer is cached
    revoked = await http.post("/revoke", data={"token": token}, auth=(WEB_ID, web_secret))
    assert revoked.status_code == 200
    await verifier.verify(token)  # still within the cache time
    clock.now += 10
    with pytest.raises(InvalidTokenError, match="not active"):
        await verifier.verify(token)
    with pytest.raises(InvalidTokenError, match="not active"):
        await verifier.verify(token)
    assert verifier.requests == 3  # inactive answers are not cached


async def test_introspection_refuses_a_token_for_another_resource(
        http: httpx.AsyncClient, web_secret: str) -> None:
    token = await client_credentials_token(http, web_secret)
    verifier = IntrospectionVerifier(issuer=ISSUER, audience="http://127.0.0.1:9001/api",
                                     client_id=WEB_ID, client_secret=web_secret, http=http)
    with pytest.raises(InvalidTokenError, match="another resource"):
        await verifier.verify(token)


async def test_introspection_with_wrong_credentials_is_unavailable_not_invalid(
        http: httpx.AsyncClient, web_secret: str) -> None:
    token = await client_credentials_token(http, web_secret)
    verifier = IntrospectionVerifier(issuer=ISSUER, audience=API, client_id=WEB_ID,
                                     client_secret="not-the-secret", http=http)
    with pytest.raises(VerifierUnavailable, match="401"):
        await verifier.verify(token)
