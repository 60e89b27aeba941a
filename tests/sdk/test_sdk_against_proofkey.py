"""The SDK against the real app: discovery, PKCE, state and iss checks, id_token, refresh."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from proofkey.sdk import AsyncOAuthClient, CallbackError, OAuthClientError
from proofkey.sdk.core import AuthorizationRequest
from proofkey.sdk.dpop import DpopKey
from tests.helpers import ISSUER, PUBLIC_ID, action_of, csrf_of, query_of

REDIRECT = "http://127.0.0.1:49152/callback"


async def _browser_login(browser: httpx.AsyncClient, url: str) -> str:
    """Follow the authorization URL through login and consent; return the callback URL."""
    response = await browser.get(url)
    assert response.status_code == 303, response.text
    page = await browser.get(response.headers["location"])
    response = await browser.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": "alice",
        "password": "correct horse battery staple"})
    location = response.headers["location"]
    if location.startswith("/interaction/"):
        page = await browser.get(location)
        response = await browser.post(action_of(page.text), data={
            "csrf": csrf_of(page.text), "decision": "allow"})
        location = response.headers["location"]
    return str(location)


@pytest.fixture
def sdk(http: httpx.AsyncClient) -> AsyncOAuthClient:
    transport = http._transport  # the same in-process app
    assert isinstance(transport, httpx.AsyncBaseTransport)
    return AsyncOAuthClient(ISSUER, PUBLIC_ID, REDIRECT, scope="openid profile",
                            transport=transport)


async def test_the_sdk_completes_discovery_pkce_exchange_userinfo_refresh_and_revocation(
    sdk: AsyncOAuthClient, http: httpx.AsyncClient,
) -> None:
    request = await sdk.authorization_request()
    params = query_of(request.url)
    # proofkey advertises PAR (RFC 9126): only client_id and request_uri go through the browser.
    assert set(params) == {"client_id", "request_uri"}
    assert len(request.code_verifier) == 64
    assert "code_verifier" not in request.url
    callback = await _browser_login(http, request.url)
    tokens = await sdk.complete(callback, request)
    assert tokens.id_claims is not None
    assert tokens.id_claims["nonce"] == request.nonce
    info = await sdk.userinfo(tokens.access_token)
    assert info["preferred_username"] == "alice"
    assert tokens.refresh_token is not None
    rotated = await sdk.refresh(tokens.refresh_token)
    assert rotated.refresh_token not in (None, tokens.refresh_token)
    await sdk.revoke(rotated.refresh_token or "", "refresh_token")
    with pytest.raises(OAuthClientError) as refused:
        await sdk.refresh(rotated.refresh_token or "")
    assert refused.value.error == "invalid_grant"


async def test_a_callback_with_another_state_is_refused_before_the_code_is_used(
    sdk: AsyncOAuthClient, http: httpx.AsyncClient,
) -> None:
    request = await sdk.authorization_request()
    callback = await _browser_login(http, request.url)
    forged = AuthorizationRequest(request.url, "another-state", request.nonce,
                                  request.code_verifier, request.redirect_uri, request.scope)
    with pytest.raises(CallbackError) as refused:
        await sdk.complete(callback, forged)
    assert refused.value.error == "state_mismatch"
    tokens = await sdk.complete(callback, request)  # the code was not spent
    assert tokens.access_token


async def test_a_callback_from_another_issuer_is_refused_as_mix_up(
    sdk: AsyncOAuthClient, http: httpx.AsyncClient,
) -> None:
    request = await sdk.authorization_request()
    callback = await _browser_login(http, request.url)
    mixed_up = callback.replace("iss=http", "iss=https")
    with pytest.raises(CallbackError) as refused:
        await sdk.complete(mixed_up, request)
    assert refused.value.error == "iss_mismatch"
    missing = "&".join(p for p in callback.split("&") if not p.startswith("iss="))
    with pytest.raises(CallbackError) as refused:
        await sdk.complete(missing, request)
    assert refused.value.error == "iss_missing"


async def test_an_id_token_with_another_nonce_is_refused(
    sdk: AsyncOAuthClient, http: httpx.AsyncClient,
) -> None:
    request = await sdk.authorization_request()
    callback = await _browser_login(http, request.url)
    other = AuthorizationRequest(request.url, request.state, "not-the-nonce",
                                 request.code_verifier, request.redirect_uri, request.scope)
    with pytest.raises(OAuthClientError) as refused:
        await sdk.complete(callback, other)
    assert refused.value.error == "invalid_id_token"


async def test_a_denied_consent_surfaces_as_access_denied(
    sdk: AsyncOAuthClient, http: httpx.AsyncClient,
) -> None:
    request = await sdk.authorization_request()
    response = await http.get(request.url)
    page = await http.get(response.headers["location"])
    response = await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": "alice",
        "password": "correct horse battery staple"})
    page = await http.get(response.headers["location"])
    response = await http.post(action_of(page.text), data={"csrf": csrf_of(page.text),
                                                           "decision": "deny"})
    with pytest.raises(CallbackError) as refused:
        await sdk.complete(response.headers["location"], request)
    assert refused.value.error == "access_denied"


async def test_without_par_the_front_channel_carries_the_s256_challenge(
    http: httpx.AsyncClient,
) -> None:
    transport = http._transport
    assert isinstance(transport, httpx.AsyncBaseTransport)
    sdk = AsyncOAuthClient(ISSUER, PUBLIC_ID, REDIRECT, scope="openid profile",
                           transport=transport, use_par=False)
    request = await sdk.authorization_request()
    params = query_of(request.url)
    assert params["code_challenge_method"] == "S256"
    assert params["state"] == request.state
    tokens = await sdk.complete(await _browser_login(http, request.url), request)
    assert tokens.access_token


async def test_every_attempt_gets_a_fresh_verifier_state_and_nonce(sdk: AsyncOAuthClient) -> None:
    first = await sdk.authorization_request()
    second = await sdk.authorization_request()
    assert first.code_verifier != second.code_verifier
    assert first.state != second.state
    assert first.nonce != second.nonce


def test_the_rfc_8414_fallback_puts_the_well_known_segment_before_the_issuer_path() -> None:
    from proofkey.sdk.client import _rfc8414_url

    assert (_rfc8414_url("https://as.example.com/tenant/a")
            == "https://as.example.com/.well-known/oauth-authorization-server/tenant/a")
    assert (_rfc8414_url("https://as.example.com")
            == "https://as.example.com/.well-known/oauth-authorization-server")


async def test_userinfo_about_another_subject_is_refused(
    sdk: AsyncOAuthClient, http: httpx.AsyncClient,
) -> None:
    request = await sdk.authorization_request()
    tokens = await sdk.complete(await _browser_login(http, request.url), request)
    assert tokens.id_claims is not None
    info = await sdk.userinfo(tokens.access_token, expected_subject=tokens.id_claims["sub"])
    assert info["sub"] == tokens.id_claims["sub"]
    with pytest.raises(OAuthClientError) as refused:
        await sdk.userinfo(tokens.access_token, expected_subject="someone-else")
    assert refused.value.error == "invalid_userinfo"


async def test_the_sdk_gets_dpop_bound_tokens_from_proofkey_and_a_thief_without_the_key_fails(
    sdk: AsyncOAuthClient, http: httpx.AsyncClient,
) -> None:
    """proofkey advertises DPoP, so the SDK binds by default (RFC 9449): the access token's
    cnf.jkt is the SDK key's thumbprint, the token is useless as Bearer, the public client's
    refresh token is useless with another key, and that attempt does not end the family."""
    request = await sdk.authorization_request()
    tokens = await sdk.complete(await _browser_login(http, request.url), request)
    key = sdk.dpop_key
    assert key is not None
    assert tokens.token_type == "DPoP"
    assert tokens.dpop_jkt == key.thumbprint
    claims = json.loads(base64.urlsafe_b64decode(tokens.access_token.split(".")[1] + "=="))
    assert claims["cnf"] == {"jkt": key.thumbprint}
    assert (await sdk.userinfo(tokens))["preferred_username"] == "alice"
    as_bearer = await http.get("/userinfo",
                               headers={"Authorization": f"Bearer {tokens.access_token}"})
    assert as_bearer.status_code == 401
    thief = AsyncOAuthClient(ISSUER, PUBLIC_ID, REDIRECT, scope="openid profile",
                             transport=http._transport, dpop_key=DpopKey.generate())
    with pytest.raises(OAuthClientError) as refused:
        await thief.refresh(tokens.refresh_token or "")
    assert refused.value.error == "invalid_grant"
    rotated = await sdk.refresh(tokens)  # the honest holder's family still works
    assert rotated.dpop_jkt == key.thumbprint
