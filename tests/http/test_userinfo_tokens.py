"""The token response, the JWTs it carries (RFC 9068 access tokens, OIDC Core §2 ID tokens)
and the UserInfo endpoint (OIDC Core §5.3, RFC 6750), over HTTP."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from proofkey.settings import Settings
from proofkey.store import open_store
from tests.helpers import ISSUER, PUBLIC_ID, USERNAME, WEB_REDIRECT, get_code, new_flow
from tests.http.test_token_code_grant import (
    assert_oauth_error,
    public_tokens,
    redeem,
    refresh,
    register,
    shift_clock,
)


async def published_keys(http: httpx.AsyncClient) -> KeySet:
    response = await http.get("/jwks")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


def header_of(token: str) -> dict[str, Any]:
    return dict(jws.extract_compact(token.encode()).protected)


def left_half_hash(token: str) -> str:
    raw = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw[:16]).rstrip(b"=").decode("ascii")


async def userinfo(http: httpx.AsyncClient, token: str, method: str = "GET") -> httpx.Response:
    return await http.request(method, "/userinfo", headers={"Authorization": f"Bearer {token}"})


# -- the token response (RFC 6749 §5.1) ------------------------------------------------------


async def test_a_token_response_carries_bearer_expiry_scope_refresh_and_id_token(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await http.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
        "client_id": flow.client_id, "code_verifier": flow.verifier})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "openid profile"
    assert isinstance(body["refresh_token"], str)
    assert len(body["refresh_token"]) >= 43  # ≥ 256 bits of base64url
    assert isinstance(body["id_token"], str)
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token",
                         "id_token"}


async def test_without_openid_there_is_no_id_token(http: httpx.AsyncClient) -> None:
    body = await public_tokens(http, scope="profile")
    assert "id_token" not in body
    assert body["scope"] == "profile"


# -- the access token (RFC 9068) ---------------------------------------------------------------


async def test_the_access_token_is_an_es256_at_jwt_signed_by_a_published_key(
        http: httpx.AsyncClient) -> None:
    body = await public_tokens(http)
    header = header_of(body["access_token"])
    assert header["typ"] == "at+jwt"  # RFC 9068 §2.1
    assert header["alg"] == "ES256"
    keys = await published_keys(http)
    assert header["kid"] in {k.kid for k in keys.keys}
    decoded = jwt.decode(body["access_token"], keys, algorithms=["ES256"])
    assert decoded.header["kid"] == header["kid"]


async def test_the_access_token_carries_the_rfc9068_claims(http: httpx.AsyncClient) -> None:
    before = int(time.time())
    body = await public_tokens(http)
    claims = jwt.decode(body["access_token"], await published_keys(http)).claims
    info = (await userinfo(http, body["access_token"])).json()
    assert claims["iss"] == ISSUER
    assert claims["sub"] == info["sub"]  # the user id
    assert claims["aud"] == ISSUER
    assert claims["client_id"] == PUBLIC_ID
    assert claims["scope"] == "openid profile"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + body["expires_in"]
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16
    assert isinstance(claims["auth_time"], int)
    other = await public_tokens(http)
    assert jwt.decode(other["access_token"], await published_keys(http)).claims["jti"] != (
        claims["jti"])


# -- the ID token (OIDC Core §2, §3.1.3.6-7) ---------------------------------------------------


async def test_the_id_token_is_rs256_for_the_client_with_nonce_at_hash_and_auth_time(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    body = (await redeem(http, flow, code)).json()
    header = header_of(body["id_token"])
    assert header["alg"] == "RS256"
    keys = await published_keys(http)
    assert header["kid"] in {k.kid for k in keys.keys}
    claims = jwt.decode(body["id_token"], keys, algorithms=["RS256"]).claims
    access = jwt.decode(body["access_token"], keys).claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == PUBLIC_ID
    assert claims["sub"] == access["sub"]
    assert claims["nonce"] == flow.nonce
    assert claims["at_hash"] == left_half_hash(body["access_token"])
    assert claims["auth_time"] == access["auth_time"]
    assert claims["auth_time"] <= claims["iat"] < claims["exp"]


async def test_without_a_nonce_the_id_token_has_none(http: httpx.AsyncClient) -> None:
    body = await public_tokens(http, nonce=None)
    claims = jwt.decode(body["id_token"], await published_keys(http)).claims
    assert "nonce" not in claims


async def test_a_client_registered_for_es256_gets_es256_id_tokens(
        http: httpx.AsyncClient, settings: Settings) -> None:
    secret = await register(settings, "es-client", id_token_alg="ES256")
    assert secret is not None
    flow = new_flow("es-client", WEB_REDIRECT)
    code = await get_code(http, flow)
    body = (await redeem(http, flow, code, auth=("es-client", secret))).json()
    assert header_of(body["id_token"])["alg"] == "ES256"
    claims = jwt.decode(body["id_token"], await published_keys(http), algorithms=["ES256"]).claims
    assert claims["aud"] == "es-client"
    assert claims["nonce"] == flow.nonce
    assert claims["at_hash"] == left_half_hash(body["access_token"])


async def test_an_id_token_is_not_accepted_as_an_access_token(http: httpx.AsyncClient) -> None:
    body = await public_tokens(http)
    response = await userinfo(http, body["id_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


# -- userinfo (OIDC Core §5.3, RFC 6750 §2–3) --------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_userinfo_accepts_the_bearer_header(http: httpx.AsyncClient, method: str) -> None:
    body = await public_tokens(http)
    response = await userinfo(http, body["access_token"], method)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    info = response.json()
    assert info["preferred_username"] == USERNAME
    assert info["name"] == "Alice"
    assert "email" not in info


async def test_userinfo_accepts_a_form_body_access_token_on_post(
        http: httpx.AsyncClient) -> None:
    body = await public_tokens(http)
    response = await http.post("/userinfo", data={"access_token": body["access_token"]})
    assert response.status_code == 200, response.text
    assert response.json()["preferred_username"] == USERNAME


async def test_userinfo_ignores_an_access_token_in_the_query_string(
        http: httpx.AsyncClient) -> None:
    # OAuth 2.1 §5.2: the query-string method (RFC 6750 §2.3) is not allowed.
    body = await public_tokens(http)
    response = await http.get("/userinfo", params={"access_token": body["access_token"]})
    assert response.status_code == 401
    assert body["access_token"] not in response.text


async def test_a_token_in_both_header_and_body_is_invalid_request(
        http: httpx.AsyncClient) -> None:
    # RFC 6750 §2: clients MUST NOT use more than one method per request.
    body = await public_tokens(http)
    response = await http.post("/userinfo", data={"access_token": body["access_token"]},
                               headers={"Authorization": f"Bearer {body['access_token']}"})
    assert_oauth_error(response, "invalid_request", secrets=[body["access_token"]])


async def test_userinfo_without_a_token_is_401_with_a_bare_bearer_challenge(
        http: httpx.AsyncClient) -> None:
    response = await http.get("/userinfo")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    # RFC 6750 §3.1: no error code when the request has no authentication information.
    assert "error=" not in challenge
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "bearer"])
async def test_userinfo_with_no_usable_bearer_credentials_is_401(
        http: httpx.AsyncClient, header: str) -> None:
    response = await http.get("/userinfo", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", [
    "garbage", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "x" * 5000],
    ids=["word", "dots", "unsigned", "5000"])
async def test_userinfo_with_an_invalid_token_is_401_invalid_token(
        http: httpx.AsyncClient, token: str) -> None:
    response = await userinfo(http, token)
    assert_oauth_error(response, "invalid_token", status=401, secrets=[token])
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_a_tampered_access_token_is_invalid_token(http: httpx.AsyncClient) -> None:
    body = await public_tokens(http)
    head, payload, signature = body["access_token"].split(".")
    claims = base64.urlsafe_b64decode(payload + "==").replace(b"openid profile",
                                                              b"openid email  ")
    forged = ".".join([head, base64.urlsafe_b64encode(claims).rstrip(b"=").decode(), signature])
    response = await userinfo(http, forged)
    assert_oauth_error(response, "invalid_token", status=401)


async def test_an_expired_access_token_is_invalid_token(
        http: httpx.AsyncClient, settings: Settings) -> None:
    body = await public_tokens(http)
    shift_clock(http, settings.access_token_ttl_seconds)
    response = await userinfo(http, body["access_token"])
    assert_oauth_error(response, "invalid_token", status=401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_token_of_a_deleted_user_is_invalid_token(
        http: httpx.AsyncClient, settings: Settings) -> None:
    body = await public_tokens(http)
    store = open_store(settings.effective_database_url)
    try:
        assert await store.remove_user(USERNAME)
    finally:
        await store.close()
    response = await userinfo(http, body["access_token"])
    assert_oauth_error(response, "invalid_token", status=401)


async def test_an_access_token_without_openid_is_403_insufficient_scope(
        http: httpx.AsyncClient) -> None:
    body = await public_tokens(http, scope="profile")
    response = await userinfo(http, body["access_token"])
    assert_oauth_error(response, "insufficient_scope", status=403)
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_a_refreshed_token_narrowed_to_exclude_openid_is_403_insufficient_scope(
        http: httpx.AsyncClient) -> None:
    body = await public_tokens(http)
    narrowed = (await refresh(http, body["refresh_token"], scope="profile")).json()
    assert (await userinfo(http, narrowed["access_token"])).status_code == 403


@pytest.mark.parametrize(("scope", "expected", "absent"), [
    ("openid", set(), {"preferred_username", "name", "email"}),
    ("openid profile", {"preferred_username", "name"}, {"email"}),
    ("openid email", {"email"}, {"preferred_username", "name"}),
    ("openid profile email", {"preferred_username", "name", "email"}, set()),
])
async def test_userinfo_releases_claims_by_scope(
        http: httpx.AsyncClient, scope: str, expected: set[str], absent: set[str]) -> None:
    body = await public_tokens(http, scope=scope)
    info = (await userinfo(http, body["access_token"])).json()
    assert set(info) == {"sub"} | expected
    assert not absent & set(info)
    claims = jwt.decode(body["id_token"], await published_keys(http)).claims
    assert info["sub"] == claims["sub"]  # OIDC Core §5.3.2: sub MUST match the ID token
    if "email" in expected:
        assert info["email"] == "alice@example.com"
