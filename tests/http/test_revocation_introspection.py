"""Token revocation (RFC 7009) and token introspection (RFC 7662), over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from proofkey.observability.events import TokenRevoked
from proofkey.settings import Settings
from tests.conftest import Recorder
from tests.helpers import ISSUER, PUBLIC_ID, WEB_ID
from tests.http.test_introspection_access import web_tokens
from tests.http.test_token_code_grant import (
    assert_oauth_error,
    assert_tokens_revoked,
    introspect,
    public_tokens,
    refresh,
    register,
    shift_clock,
    userinfo_status,
)


async def revoke(http: httpx.AsyncClient, token: str | None, **extra: str) -> httpx.Response:
    data = {"client_id": PUBLIC_ID, **extra}
    if token is not None:
        data["token"] = token
    return await http.post("/revoke", data=data)


def assert_revocation_ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"


# -- revocation (RFC 7009) ---------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
async def test_revoking_a_refresh_token_revokes_its_grant_and_access_tokens(
        http: httpx.AsyncClient, web_secret: str, hint: str | None) -> None:
    # RFC 7009 §2.1: the hint is only a hint; a wrong one must not stop the revocation.
    tokens = await public_tokens(http)
    extra = {"token_type_hint": hint} if hint else {}
    assert_revocation_ok(await revoke(http, tokens["refresh_token"], **extra))
    await assert_tokens_revoked(http, tokens, web_secret)
    assert await introspect(http, tokens["refresh_token"], web_secret) == {"active": False}


async def test_revoking_a_rotated_refresh_token_revokes_the_family(
        http: httpx.AsyncClient, web_secret: str) -> None:
    first = await public_tokens(http)
    second = (await refresh(http, first["refresh_token"])).json()
    assert_revocation_ok(await revoke(http, first["refresh_token"]))
    await assert_tokens_revoked(http, second, web_secret)


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
async def test_revoking_an_access_token_deactivates_it_but_keeps_the_refresh_token(
        http: httpx.AsyncClient, web_secret: str, hint: str | None) -> None:
    tokens = await public_tokens(http)
    extra = {"token_type_hint": hint} if hint else {}
    assert_revocation_ok(await revoke(http, tokens["access_token"], **extra))
    assert await introspect(http, tokens["access_token"], web_secret) == {"active": False}
    assert await userinfo_status(http, tokens["access_token"]) == 401
    refreshed = await refresh(http, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert await userinfo_status(http, refreshed.json()["access_token"]) == 200


async def test_a_confidential_client_revokes_its_client_credentials_token(
        http: httpx.AsyncClient, web_secret: str) -> None:
    issued = await http.post("/token", data={"grant_type": "client_credentials"},
                             auth=(WEB_ID, web_secret))
    token = issued.json()["access_token"]
    response = await http.post("/revoke", data={"token": token}, auth=(WEB_ID, web_secret))
    assert_revocation_ok(response)
    assert await introspect(http, token, web_secret) == {"active": False}


@pytest.mark.parametrize("token", [
    "unknown", "A" * 43, "A" * 300, "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "x" * 5000, "é"],
    ids=["word", "handle-shaped", "300", "dots", "jwt-shaped", "5000", "non-ascii"])
async def test_revoking_an_unknown_token_answers_200(
        http: httpx.AsyncClient, token: str) -> None:
    # RFC 7009 §2.2: "invalid tokens do not cause an error response".
    response = await revoke(http, token)
    assert_revocation_ok(response)
    assert token not in response.text


async def test_revoking_an_already_revoked_token_answers_200(http: httpx.AsyncClient) -> None:
    tokens = await public_tokens(http)
    for _ in range(2):
        assert_revocation_ok(await revoke(http, tokens["refresh_token"]))
        assert_revocation_ok(await revoke(http, tokens["access_token"]))


async def test_revoking_another_clients_tokens_answers_200_but_revokes_nothing(
        http: httpx.AsyncClient, web_secret: str, events: Recorder) -> None:
    tokens = await public_tokens(http)
    for token in (tokens["refresh_token"], tokens["access_token"]):
        response = await http.post("/revoke", data={"token": token}, auth=(WEB_ID, web_secret))
        assert_revocation_ok(response)
    assert (await introspect(http, tokens["access_token"], web_secret))["active"] is True
    assert await userinfo_status(http, tokens["access_token"]) == 200
    assert (await refresh(http, tokens["refresh_token"])).status_code == 200
    assert not events.of(TokenRevoked)


async def test_a_revocation_request_without_token_is_invalid_request(
        http: httpx.AsyncClient) -> None:
    assert_oauth_error(await revoke(http, None), "invalid_request")


@pytest.mark.parametrize("hint", ["id_token", "Refresh_Token", "authorization_code", "jwt"])
async def test_an_unknown_token_type_hint_is_unsupported_token_type(
        http: httpx.AsyncClient, hint: str) -> None:
    tokens = await public_tokens(http)
    response = await revoke(http, tokens["refresh_token"], token_type_hint=hint)
    assert_oauth_error(response, "unsupported_token_type", secrets=[tokens["refresh_token"]])
    assert (await refresh(http, tokens["refresh_token"])).status_code == 200


async def test_revocation_requires_client_authentication(
        http: httpx.AsyncClient, web_secret: str) -> None:
    # RFC 7009 §2.1: the server first validates the client credentials.
    issued = await http.post("/token", data={"grant_type": "client_credentials"},
                             auth=(WEB_ID, web_secret))
    token = issued.json()["access_token"]
    anonymous = await http.post("/revoke", data={"token": token})
    assert_oauth_error(anonymous, "invalid_client", status=401, secrets=[token])
    wrong = await http.post("/revoke", data={"token": token}, auth=(WEB_ID, "wrong-secret"))
    assert_oauth_error(wrong, "invalid_client", status=401, secrets=[token, "wrong-secret"])
    assert wrong.headers["www-authenticate"].startswith("Basic")
    pretending = await http.post("/revoke", data={"token": token, "client_id": WEB_ID})
    assert_oauth_error(pretending, "invalid_client", status=401, secrets=[token])
    assert (await introspect(http, token, web_secret))["active"] is True


# -- introspection (RFC 7662) ------------------------------------------------------------------


async def test_introspection_of_an_active_access_token_describes_it(
        http: httpx.AsyncClient, web_secret: str) -> None:
    tokens = await public_tokens(http)
    response = await http.post("/introspect", data={"token": tokens["access_token"]},
                               auth=(WEB_ID, web_secret))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    info = response.json()
    assert info["active"] is True
    assert info["scope"] == "openid profile"
    assert info["client_id"] == PUBLIC_ID
    assert info["token_type"] == "Bearer"
    assert info["iss"] == ISSUER
    assert isinstance(info["sub"], str)
    assert info["sub"]
    now = int(time.time())
    assert now < info["exp"] <= now + 600 + 5
    assert info["iat"] <= now + 5
    assert "gid" not in info  # internal claims stay internal


async def test_introspection_of_an_active_refresh_token_describes_it(
        http: httpx.AsyncClient, web_secret: str) -> None:
    tokens = await web_tokens(http, web_secret)  # only its own client may introspect it
    access = await introspect(http, tokens["access_token"], web_secret)
    info = await introspect(http, tokens["refresh_token"], web_secret)
    assert info["active"] is True
    assert info["client_id"] == WEB_ID
    assert info["scope"] == "openid profile"
    assert info["sub"] == access["sub"]
    assert info["exp"] > int(time.time())
    assert info["token_type"] == "refresh_token"


async def test_a_client_secret_post_client_may_introspect(
        http: httpx.AsyncClient, settings: Settings) -> None:
    secret = await register(settings, "resource-server", auth_method="client_secret_post",
                            grant_types=["client_credentials"], redirect_uris=[],
                            resource_server=True)
    assert secret is not None
    tokens = await public_tokens(http)
    response = await http.post("/introspect", data={
        "token": tokens["access_token"], "client_id": "resource-server", "client_secret": secret})
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True


async def test_a_public_client_may_not_introspect(http: httpx.AsyncClient) -> None:
    # RFC 7662 §2.1: the endpoint MUST require authorization; public clients have none.
    tokens = await public_tokens(http)
    response = await http.post("/introspect", data={"token": tokens["access_token"],
                                                    "client_id": PUBLIC_ID})
    assert_oauth_error(response, "invalid_client", status=401, secrets=[tokens["access_token"]])


async def test_an_unauthenticated_introspection_is_invalid_client(
        http: httpx.AsyncClient) -> None:
    tokens = await public_tokens(http)
    for auth in (None, (WEB_ID, "wrong-secret")):
        response = await http.post("/introspect", data={"token": tokens["access_token"]},
                                   auth=auth)
        assert_oauth_error(response, "invalid_client", status=401,
                           secrets=[tokens["access_token"]])


async def test_an_introspection_without_token_is_invalid_request(
        http: httpx.AsyncClient, web_secret: str) -> None:
    response = await http.post("/introspect", data={}, auth=(WEB_ID, web_secret))
    assert_oauth_error(response, "invalid_request", secrets=[web_secret])


@pytest.mark.parametrize("token", [
    "unknown", "A" * 43, "A" * 300, "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "x" * 5000],
    ids=["word", "handle-shaped", "300", "dots", "jwt-shaped", "5000"])
async def test_introspection_of_an_unknown_token_is_exactly_inactive(
        http: httpx.AsyncClient, web_secret: str, token: str) -> None:
    response = await http.post("/introspect", data={"token": token}, auth=(WEB_ID, web_secret))
    assert response.status_code == 200
    assert response.json() == {"active": False}
    assert response.headers["cache-control"] == "no-store"


async def test_introspection_of_an_id_token_is_inactive(
        http: httpx.AsyncClient, web_secret: str) -> None:
    tokens = await public_tokens(http)
    assert await introspect(http, tokens["id_token"], web_secret) == {"active": False}


async def test_introspection_of_expired_tokens_is_exactly_inactive(
        http: httpx.AsyncClient, web_secret: str, settings: Settings) -> None:
    tokens = await web_tokens(http, web_secret)
    shift_clock(http, settings.refresh_token_ttl_seconds + 1)
    assert await introspect(http, tokens["access_token"], web_secret) == {"active": False}
    assert await introspect(http, tokens["refresh_token"], web_secret) == {"active": False}


async def test_introspection_of_a_rotated_refresh_token_is_exactly_inactive(
        http: httpx.AsyncClient, web_secret: str) -> None:
    tokens = await web_tokens(http, web_secret)
    second = (await http.post("/token", data={"grant_type": "refresh_token",
                                              "refresh_token": tokens["refresh_token"]},
                              auth=(WEB_ID, web_secret))).json()
    assert await introspect(http, tokens["refresh_token"], web_secret) == {"active": False}
    assert (await introspect(http, second["refresh_token"], web_secret))["active"] is True
