"""A refreshed id_token must be about the same user from the same issuer (OIDC Core §12.2: "its
iss Claim Value MUST be the same …, its sub Claim Value MUST be the same as in the ID Token
issued when the original authentication occurred"). The SDK refuses otherwise and the caller
keeps its tokens; against a scripted provider that signs its own id_tokens."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from proofkey.sdk import AsyncOAuthClient, OAuthClient, OAuthClientError, TokenSet

PROVIDER = "https://idp.example"
CLIENT = "native"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
METADATA = {"issuer": PROVIDER, "authorization_endpoint": f"{PROVIDER}/authorize",
            "token_endpoint": f"{PROVIDER}/token", "jwks_uri": f"{PROVIDER}/jwks"}


def id_token(sub: str, iss: str = PROVIDER) -> str:
    now = int(time.time())
    return jwt.encode({"alg": "RS256", "kid": "k1"},
                      {"iss": iss, "sub": sub, "aud": CLIENT, "iat": now, "exp": now + 300},
                      KEY)


def provider(refreshed_sub: str, refreshed_iss: str = PROVIDER) -> httpx.MockTransport:
    """Discovery, keys, and a token endpoint whose refreshes name ``refreshed_sub``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if request.method == "GET":
            return httpx.Response(200, json=METADATA)
        body: dict[str, Any] = {"access_token": "at-new", "token_type": "Bearer",
                                "expires_in": 60, "refresh_token": "rt-new",
                                "id_token": id_token(refreshed_sub, refreshed_iss)}
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


def original(sub: str = "alice") -> TokenSet:
    """Tokens as a cache holds them (no parsed claims, just the id_token)."""
    return TokenSet("at-old", "Bearer", int(time.time()) - 1, "rt-old", id_token(sub))


def test_a_refresh_with_the_same_subject_gives_the_new_tokens() -> None:
    with OAuthClient(PROVIDER, CLIENT, transport=provider("alice")) as client:
        tokens = client.refresh(original())
    assert tokens.access_token == "at-new"
    assert tokens.refresh_token == "rt-new"
    assert tokens.id_claims is not None
    assert tokens.id_claims["sub"] == "alice"


def test_a_refreshed_id_token_about_another_subject_is_refused() -> None:
    old = original()
    with (OAuthClient(PROVIDER, CLIENT, transport=provider("mallory")) as client,
          pytest.raises(OAuthClientError) as refused):
        client.refresh(old)
    assert refused.value.error == "invalid_id_token"
    assert "sub" in refused.value.description
    assert old.access_token == "at-old"
    assert old.refresh_token == "rt-old"


def test_a_refreshed_id_token_from_another_issuer_than_the_original_is_refused() -> None:
    # The original came from another issuer than the one this client now trusts.
    old = TokenSet("at-old", "Bearer", None, "rt-old", id_token("alice", "https://old.example"))
    with (OAuthClient(PROVIDER, CLIENT, transport=provider("alice")) as client,
          pytest.raises(OAuthClientError) as refused):
        client.refresh(old)
    assert refused.value.error == "invalid_id_token"
    assert "iss" in refused.value.description


async def test_the_async_client_refuses_another_subject_too() -> None:
    async with AsyncOAuthClient(PROVIDER, CLIENT, transport=provider("mallory")) as client:
        with pytest.raises(OAuthClientError) as refused:
            await client.refresh(original())
    assert refused.value.error == "invalid_id_token"
    async with AsyncOAuthClient(PROVIDER, CLIENT, transport=provider("alice")) as client:
        same = await client.refresh(original())
    assert same.access_token == "at-new"


def test_the_claims_parsed_at_login_are_the_reference_when_present() -> None:
    old = TokenSet("at-old", "Bearer", None, "rt-old", None,
                   id_claims={"iss": PROVIDER, "sub": "alice"})
    with (OAuthClient(PROVIDER, CLIENT, transport=provider("mallory")) as client,
          pytest.raises(OAuthClientError)):
        client.refresh(old)
