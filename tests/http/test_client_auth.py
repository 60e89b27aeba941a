"""Client authentication and grant dispatch at the token endpoint (RFC 6749 §2.3, §3.2.1, §4.4,
§5.2; OAuth 2.1 §2.4), over HTTP."""

from __future__ import annotations

import base64

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from proofkey.settings import Settings
from tests.helpers import PUBLIC_ID, WEB_ID, WEB_REDIRECT, exchange, get_code, new_flow
from tests.http.test_token_code_grant import (
    assert_oauth_error,
    introspect,
    redeem,
    register,
    userinfo_status,
)

POST_ID = "post-client"


@pytest.fixture
async def post_secret(http: httpx.AsyncClient, settings: Settings) -> str:
    """A confidential client registered for client_secret_post, with client_credentials."""
    secret = await register(settings, POST_ID, auth_method="client_secret_post",
                            grant_types=["authorization_code", "refresh_token",
                                         "client_credentials"])
    assert secret is not None
    return secret


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
    return {"Authorization": f"Basic {raw}"}


async def client_credentials(http: httpx.AsyncClient, web_secret: str,
                             **extra: str) -> httpx.Response:
    return await http.post("/token", data={"grant_type": "client_credentials", **extra},
                           auth=(WEB_ID, web_secret))


# -- who may authenticate how ------------------------------------------------------------------


async def test_a_public_client_presenting_a_client_secret_is_invalid_client(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await exchange(http, flow, code, client_secret="guess-me-please")
    assert_oauth_error(response, "invalid_client", status=401,
                       secrets=[code, flow.verifier, "guess-me-please"])
    assert (await exchange(http, flow, code)).status_code == 200  # nothing was burned


async def test_a_confidential_client_without_its_secret_is_invalid_client_with_a_challenge(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    code = await get_code(http, flow)
    response = await exchange(http, flow, code)  # client_id in the body, no secret
    assert_oauth_error(response, "invalid_client", status=401, secrets=[code, flow.verifier])
    assert response.headers["www-authenticate"].startswith("Basic")
    assert (await redeem(http, flow, code, auth=(WEB_ID, web_secret))).status_code == 200


async def test_basic_with_a_wrong_secret_is_401_invalid_client_with_www_authenticate_basic(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    code = await get_code(http, flow)
    wrong = web_secret[:-1] + ("A" if web_secret[-1] != "A" else "B")
    response = await redeem(http, flow, code, auth=(WEB_ID, wrong))
    assert_oauth_error(response, "invalid_client", status=401,
                       secrets=[code, flow.verifier, wrong, web_secret])
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert (await redeem(http, flow, code, auth=(WEB_ID, web_secret))).status_code == 200


async def test_a_client_secret_post_client_using_basic_is_invalid_client(
        http: httpx.AsyncClient, post_secret: str) -> None:
    # RFC 6749 §2.3 / RFC 7591 token_endpoint_auth_method: the registered method is enforced.
    response = await http.post("/token", data={"grant_type": "client_credentials"},
                               auth=(POST_ID, post_secret))
    assert_oauth_error(response, "invalid_client", status=401, secrets=[post_secret])
    ok = await http.post("/token", data={"grant_type": "client_credentials",
                                         "client_id": POST_ID, "client_secret": post_secret})
    assert ok.status_code == 200, ok.text


async def test_a_client_secret_basic_client_using_the_body_is_invalid_client(
        http: httpx.AsyncClient, web_secret: str) -> None:
    response = await http.post("/token", data={
        "grant_type": "client_credentials", "client_id": WEB_ID, "client_secret": web_secret})
    assert_oauth_error(response, "invalid_client", status=401, secrets=[web_secret])


async def test_basic_and_a_client_secret_in_the_body_together_are_invalid_request(
        http: httpx.AsyncClient, web_secret: str) -> None:
    # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method".
    response = await http.post("/token", data={
        "grant_type": "client_credentials", "client_secret": web_secret},
        auth=(WEB_ID, web_secret))
    assert_oauth_error(response, "invalid_request", secrets=[web_secret])


async def test_a_body_client_id_differing_from_the_basic_one_is_invalid_request(
        http: httpx.AsyncClient, web_secret: str) -> None:
    response = await http.post("/token", data={
        "grant_type": "client_credentials", "client_id": "post-app"}, auth=(WEB_ID, web_secret))
    assert_oauth_error(response, "invalid_request", secrets=[web_secret])


async def test_a_body_client_id_equal_to_the_basic_one_is_accepted(
        http: httpx.AsyncClient, web_secret: str) -> None:
    response = await http.post("/token", data={
        "grant_type": "client_credentials", "client_id": WEB_ID}, auth=(WEB_ID, web_secret))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("auth", ["basic", "body"])
async def test_an_unknown_client_is_invalid_client(http: httpx.AsyncClient, auth: str) -> None:
    data = {"grant_type": "client_credentials"}
    if auth == "basic":
        response = await http.post("/token", data=data, auth=("nobody", "s3cret-value"))
    else:
        response = await http.post("/token", data={**data, "client_id": "nobody",
                                                   "client_secret": "s3cret-value"})
    assert_oauth_error(response, "invalid_client", status=401, secrets=["s3cret-value"])


async def test_a_request_without_any_client_identification_is_invalid_client(
        http: httpx.AsyncClient) -> None:
    response = await http.post("/token", data={"grant_type": "client_credentials"})
    assert_oauth_error(response, "invalid_client", status=401)


@pytest.mark.parametrize("header", [
    "Bearer abc", "Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b":secret").decode(), "Digest username=x"])
async def test_a_malformed_authorization_header_is_invalid_client(
        http: httpx.AsyncClient, header: str) -> None:
    response = await http.post("/token", data={"grant_type": "client_credentials"},
                               headers={"Authorization": header})
    assert_oauth_error(response, "invalid_client", status=401)


async def test_basic_credentials_are_form_urlencoded_before_base64(
        http: httpx.AsyncClient, web_secret: str) -> None:
    # RFC 6749 §2.3.1: client_id and secret are encoded with application/x-www-form-urlencoded.
    encoded = "".join(f"%{b:02X}" for b in WEB_ID.encode())
    response = await http.post("/token", data={"grant_type": "client_credentials"},
                               headers=basic(encoded, web_secret))
    assert response.status_code == 200, response.text


# -- grant_type dispatch -----------------------------------------------------------------------


async def test_a_token_request_without_grant_type_is_invalid_request(
        http: httpx.AsyncClient, web_secret: str) -> None:
    response = await http.post("/token", data={"scope": "profile"}, auth=(WEB_ID, web_secret))
    assert_oauth_error(response, "invalid_request", secrets=[web_secret])


@pytest.mark.parametrize("grant_type", [
    "password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "AUTHORIZATION_CODE",
    "token"])
async def test_an_unknown_grant_type_is_unsupported_grant_type(
        http: httpx.AsyncClient, web_secret: str, grant_type: str) -> None:
    response = await http.post("/token", data={"grant_type": grant_type},
                               auth=(WEB_ID, web_secret))
    assert_oauth_error(response, "unsupported_grant_type", secrets=[web_secret])


async def test_a_public_client_asking_for_client_credentials_is_unauthorized_client(
        http: httpx.AsyncClient) -> None:
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               "client_id": PUBLIC_ID})
    assert_oauth_error(response, "unauthorized_client")


async def test_a_client_not_registered_for_client_credentials_is_unauthorized_client(
        http: httpx.AsyncClient, settings: Settings) -> None:
    secret = await register(settings, "code-only")
    assert secret is not None
    response = await http.post("/token", data={"grant_type": "client_credentials"},
                               auth=("code-only", secret))
    assert_oauth_error(response, "unauthorized_client", secrets=[secret])


async def test_a_client_not_registered_for_refresh_tokens_gets_none_and_may_not_refresh(
        http: httpx.AsyncClient, settings: Settings) -> None:
    secret = await register(settings, "no-refresh", grant_types=["authorization_code"])
    assert secret is not None
    flow = new_flow("no-refresh", WEB_REDIRECT)
    code = await get_code(http, flow)
    response = await redeem(http, flow, code, auth=("no-refresh", secret))
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    refused = await http.post("/token", data={"grant_type": "refresh_token",
                                              "refresh_token": "whatever"},
                              auth=("no-refresh", secret))
    assert_oauth_error(refused, "unauthorized_client", secrets=[secret])


# -- client_credentials (RFC 6749 §4.4) --------------------------------------------------------


async def test_client_credentials_issue_an_access_token_for_the_client_itself(
        http: httpx.AsyncClient, web_secret: str) -> None:
    response = await client_credentials(http, web_secret, scope="profile")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "profile"
    assert body["expires_in"] > 0
    # §4.4.3: "A refresh token SHOULD NOT be included"; no user, so no id_token either.
    assert "refresh_token" not in body
    assert "id_token" not in body
    jwks = KeySet.import_key_set((await http.get("/jwks")).json())
    claims = jwt.decode(body["access_token"], jwks).claims
    assert claims["sub"] == WEB_ID
    assert claims["client_id"] == WEB_ID
    info = await introspect(http, body["access_token"], web_secret)
    assert info["active"] is True
    assert info["sub"] == WEB_ID


async def test_client_credentials_without_scope_issue_a_token_without_scope(
        http: httpx.AsyncClient, web_secret: str) -> None:
    response = await client_credentials(http, web_secret)
    assert response.status_code == 200, response.text
    assert "scope" not in response.json()


@pytest.mark.parametrize("scope", ["openid", "openid profile"])
async def test_client_credentials_with_openid_is_invalid_scope(
        http: httpx.AsyncClient, web_secret: str, scope: str) -> None:
    response = await client_credentials(http, web_secret, scope=scope)
    assert_oauth_error(response, "invalid_scope", secrets=[web_secret])


@pytest.mark.parametrize("scope", ["admin", "profile admin", "bad\\scope"])
async def test_client_credentials_with_an_unknown_scope_is_invalid_scope(
        http: httpx.AsyncClient, web_secret: str, scope: str) -> None:
    response = await client_credentials(http, web_secret, scope=scope)
    assert_oauth_error(response, "invalid_scope", secrets=[web_secret])


async def test_a_client_credentials_token_at_userinfo_is_insufficient_scope(
        http: httpx.AsyncClient, web_secret: str) -> None:
    # The token is valid but not an OIDC one (no openid scope, no end-user): RFC 6750 §3.1
    # "insufficient_scope" with 403, not "invalid_token".
    token = (await client_credentials(http, web_secret, scope="profile")).json()["access_token"]
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert await userinfo_status(http, token) == 403


async def test_a_client_secret_post_client_redeems_a_code_with_its_secret_in_the_body(
        http: httpx.AsyncClient, post_secret: str) -> None:
    flow = new_flow(POST_ID, WEB_REDIRECT)
    code = await get_code(http, flow)
    response = await exchange(http, flow, code, client_secret=post_secret)
    assert response.status_code == 200, response.text
    assert post_secret not in response.text
