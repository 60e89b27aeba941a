"""The refresh_token grant: rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2,
OAuth 2.1 §4.3), over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from proofkey.crypto import digest
from proofkey.observability.events import RefreshReuseDetected, RefreshRotated
from proofkey.settings import Settings
from tests.conftest import Recorder
from tests.helpers import PUBLIC_ID, WEB_ID, WEB_REDIRECT, get_code, new_flow
from tests.http.test_token_code_grant import (
    app_services,
    assert_oauth_error,
    assert_tokens_revoked,
    introspect,
    public_tokens,
    redeem,
    refresh,
    shift_clock,
    userinfo_status,
)

GRACE = {"refresh_reuse_grace_seconds": 30}


async def rotate(http: httpx.AsyncClient, refresh_token: str, **extra: str) -> dict[str, Any]:
    response = await refresh(http, refresh_token, **extra)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def live_refresh_tokens(http: httpx.AsyncClient, tokens: list[str],
                              web_secret: str) -> list[str]:
    """The tokens the app's store holds as current: unrotated, of an unrevoked grant. (No
    client may introspect a public client's refresh token, issue 17 item 5.)"""
    store = app_services(http).store
    live = []
    for token in tokens:
        record = await store.find_refresh(digest(token))
        grant = await store.get_grant(record.grant_id) if record else None
        if record and record.rotated_at is None and grant and grant.revoked_at is None:
            live.append(token)
    return live


# -- rotation ----------------------------------------------------------------------------------


async def test_each_refresh_issues_a_new_refresh_token_and_a_new_access_token(
        http: httpx.AsyncClient, web_secret: str) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    third = await rotate(http, second["refresh_token"])
    refresh_tokens = [first["refresh_token"], second["refresh_token"], third["refresh_token"]]
    assert len(set(refresh_tokens)) == 3
    assert second["access_token"] != first["access_token"]
    assert second["token_type"] == "Bearer"
    assert second["scope"] == "openid profile"
    assert await live_refresh_tokens(http, refresh_tokens, web_secret) == [third["refresh_token"]]
    assert await userinfo_status(http, third["access_token"]) == 200


async def test_a_rotated_refresh_token_used_again_revokes_the_whole_family(
        http: httpx.AsyncClient, web_secret: str, events: Recorder) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    reuse = await refresh(http, first["refresh_token"])
    assert_oauth_error(reuse, "invalid_grant", secrets=[first["refresh_token"]])
    # The newest refresh token fails too, and every access token of the family is inactive.
    await assert_tokens_revoked(http, second, web_secret)
    assert await introspect(http, first["access_token"], web_secret) == {"active": False}
    assert await userinfo_status(http, first["access_token"]) == 401
    [detected] = events.of(RefreshReuseDetected)
    assert isinstance(detected, RefreshReuseDetected)
    assert first["refresh_token"] not in repr(detected)


@pytest.mark.parametrize("scope", ["openid profile email", "admin", "bad\\scope"])
async def test_a_rotated_refresh_token_is_reuse_even_when_the_request_also_has_a_bad_scope(
        http: httpx.AsyncClient, web_secret: str, scope: str) -> None:
    # RFC 9700 §4.14.2: presenting an invalidated refresh token informs the server of the
    # breach; a second error in the same request must not hide it.
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    reuse = await refresh(http, first["refresh_token"], scope=scope)
    assert_oauth_error(reuse, "invalid_grant", secrets=[first["refresh_token"]])
    await assert_tokens_revoked(http, second, web_secret)


async def test_reuse_revokes_only_its_own_family(
        http: httpx.AsyncClient, web_secret: str) -> None:
    stolen = await public_tokens(http)
    other = await public_tokens(http)
    await rotate(http, stolen["refresh_token"])
    assert_oauth_error(await refresh(http, stolen["refresh_token"]), "invalid_grant")
    assert await userinfo_status(http, other["access_token"]) == 200
    await rotate(http, other["refresh_token"])


# -- scope (RFC 6749 §6) -----------------------------------------------------------------------


async def test_a_refresh_may_narrow_the_scope(
        http: httpx.AsyncClient, web_secret: str) -> None:
    first = await public_tokens(http)
    narrowed = await rotate(http, first["refresh_token"], scope="openid")
    assert narrowed["scope"] == "openid"
    assert (await introspect(http, narrowed["access_token"], web_secret))["scope"] == "openid"
    info = await http.get("/userinfo",
                          headers={"Authorization": f"Bearer {narrowed['access_token']}"})
    assert "preferred_username" not in info.json()
    # Omitting scope means the scope originally granted.
    again = await rotate(http, narrowed["refresh_token"])
    assert again["scope"] == "openid profile"


@pytest.mark.parametrize("scope", ["openid profile email", "email", "admin", "openid bad\\x"])
async def test_a_refresh_widening_the_scope_is_invalid_scope_and_keeps_the_token_usable(
        http: httpx.AsyncClient, scope: str) -> None:
    first = await public_tokens(http)
    response = await refresh(http, first["refresh_token"], scope=scope)
    assert_oauth_error(response, "invalid_scope", secrets=[first["refresh_token"]])
    await rotate(http, first["refresh_token"])


# -- binding and validity ----------------------------------------------------------------------


async def test_a_refresh_token_of_another_client_is_invalid_grant_and_revokes_nothing(
        http: httpx.AsyncClient, web_secret: str) -> None:
    tokens = await public_tokens(http)
    response = await http.post("/token", data={"grant_type": "refresh_token",
                                               "refresh_token": tokens["refresh_token"]},
                               auth=(WEB_ID, web_secret))
    assert_oauth_error(response, "invalid_grant", secrets=[tokens["refresh_token"], web_secret])
    assert (await introspect(http, tokens["access_token"], web_secret))["active"] is True
    await rotate(http, tokens["refresh_token"])


async def test_a_confidential_client_refreshes_only_with_its_credentials(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    code = await get_code(http, flow)
    tokens = (await redeem(http, flow, code, auth=(WEB_ID, web_secret))).json()
    anonymous = await refresh(http, tokens["refresh_token"], client_id=WEB_ID)
    assert_oauth_error(anonymous, "invalid_client", status=401,
                       secrets=[tokens["refresh_token"]])
    response = await http.post("/token", data={"grant_type": "refresh_token",
                                               "refresh_token": tokens["refresh_token"]},
                               auth=(WEB_ID, web_secret))
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] != tokens["refresh_token"]


async def test_a_refresh_request_without_refresh_token_is_invalid_request(
        http: httpx.AsyncClient) -> None:
    response = await http.post("/token", data={"grant_type": "refresh_token",
                                               "client_id": PUBLIC_ID})
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("token", ["x", "A" * 43, "A" * 257, "a.b.c", "é"],
                         ids=["short", "handle-shaped", "257", "jwt-shaped", "non-ascii"])
async def test_an_unknown_refresh_token_is_invalid_grant(
        http: httpx.AsyncClient, token: str) -> None:
    assert_oauth_error(await refresh(http, token), "invalid_grant")


async def test_an_access_token_is_not_a_refresh_token(http: httpx.AsyncClient) -> None:
    tokens = await public_tokens(http)
    response = await refresh(http, tokens["access_token"])
    assert_oauth_error(response, "invalid_grant", secrets=[tokens["access_token"]])


async def test_an_expired_refresh_token_is_invalid_grant(
        http: httpx.AsyncClient, settings: Settings) -> None:
    tokens = await public_tokens(http)
    shift_clock(http, settings.refresh_token_ttl_seconds + 1)
    assert_oauth_error(await refresh(http, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize("settings_overrides", [
    {"refresh_token_ttl_seconds": 3600, "grant_ttl_seconds": 5000}])
async def test_no_refresh_outlives_the_grant_lifetime(http: httpx.AsyncClient) -> None:
    tokens = await public_tokens(http)
    shift_clock(http, 3000)
    second = await rotate(http, tokens["refresh_token"])  # good until +6600 on its own
    shift_clock(http, 2100)
    assert_oauth_error(await refresh(http, second["refresh_token"]), "invalid_grant")


async def test_a_refresh_token_of_a_revoked_grant_is_invalid_grant(
        http: httpx.AsyncClient) -> None:
    tokens = await public_tokens(http)
    revoked = await http.post("/revoke", data={"token": tokens["refresh_token"],
                                               "client_id": PUBLIC_ID})
    assert revoked.status_code == 200
    assert_oauth_error(await refresh(http, tokens["refresh_token"]), "invalid_grant")


# -- concurrency and the reuse grace window ----------------------------------------------------


async def test_of_ten_concurrent_refreshes_of_one_token_exactly_one_succeeds(
        http: httpx.AsyncClient, web_secret: str) -> None:
    tokens = await public_tokens(http)
    responses = await asyncio.gather(*(refresh(http, tokens["refresh_token"])
                                       for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 9
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(response, "invalid_grant", secrets=[tokens["refresh_token"]])
    # With no grace window, the losers are reuse: the family, the winner's token included,
    # is revoked (RFC 9700 §4.14.2 cannot tell a concurrent retry from a thief).
    winner = next(r for r in responses if r.status_code == 200).json()
    await assert_tokens_revoked(http, winner, web_secret)


@pytest.mark.parametrize("settings_overrides", [GRACE])
async def test_within_the_grace_window_a_retry_of_the_previous_token_gets_a_new_one_unforked(
        http: httpx.AsyncClient, web_secret: str, events: Recorder) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])   # the response the client "lost"
    retried = await rotate(http, first["refresh_token"])  # the retry, inside the window
    assert retried["refresh_token"] not in {first["refresh_token"], second["refresh_token"]}
    chain = [first["refresh_token"], second["refresh_token"], retried["refresh_token"]]
    # Exactly one live refresh token: the retry retired the successor it replaced.
    assert await live_refresh_tokens(http, chain, web_secret) == [retried["refresh_token"]]
    # The family is intact: access tokens from every step still work.
    for body in (first, second, retried):
        assert await userinfo_status(http, body["access_token"]) == 200
    grace = [e.in_grace for e in events.of(RefreshRotated) if isinstance(e, RefreshRotated)]
    assert grace == [False, True]
    assert not events.of(RefreshReuseDetected)
    newest = await rotate(http, retried["refresh_token"])
    assert await live_refresh_tokens(
        http, [*chain, newest["refresh_token"]], web_secret) == [newest["refresh_token"]]


@pytest.mark.parametrize("settings_overrides", [GRACE])
async def test_within_the_grace_window_the_predecessor_of_the_live_token_is_answered_not_forked(
        http: httpx.AsyncClient, web_secret: str) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    third = await rotate(http, first["refresh_token"])   # grace retry: second is retired
    fourth = await rotate(http, second["refresh_token"])  # second precedes the live third
    chain = [first, second, third, fourth]
    live = await live_refresh_tokens(http, [b["refresh_token"] for b in chain], web_secret)
    assert live == [fourth["refresh_token"]]


@pytest.mark.parametrize("settings_overrides", [GRACE])
async def test_within_the_grace_window_a_token_two_generations_back_still_revokes_the_family(
        http: httpx.AsyncClient, web_secret: str) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    third = await rotate(http, second["refresh_token"])
    reuse = await refresh(http, first["refresh_token"])
    assert_oauth_error(reuse, "invalid_grant", secrets=[first["refresh_token"]])
    await assert_tokens_revoked(http, third, web_secret)


@pytest.mark.parametrize("settings_overrides", [GRACE])
async def test_a_grace_retry_with_a_bad_scope_is_invalid_scope_and_revokes_nothing(
        http: httpx.AsyncClient, web_secret: str) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    response = await refresh(http, first["refresh_token"], scope="openid email")
    assert_oauth_error(response, "invalid_scope", secrets=[first["refresh_token"]])
    assert await userinfo_status(http, second["access_token"]) == 200
    assert await live_refresh_tokens(
        http, [first["refresh_token"], second["refresh_token"]], web_secret) == [
        second["refresh_token"]]


@pytest.mark.parametrize("settings_overrides", [GRACE])
async def test_a_retry_after_the_grace_window_revokes_the_family(
        http: httpx.AsyncClient, web_secret: str) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    shift_clock(http, GRACE["refresh_reuse_grace_seconds"] + 1)
    assert_oauth_error(await refresh(http, first["refresh_token"]), "invalid_grant")
    await assert_tokens_revoked(http, second, web_secret)


@pytest.mark.parametrize("settings_overrides", [GRACE])
async def test_a_grace_retry_by_another_client_is_invalid_grant_and_revokes_nothing(
        http: httpx.AsyncClient, web_secret: str) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    response = await http.post("/token", data={"grant_type": "refresh_token",
                                               "refresh_token": first["refresh_token"]},
                               auth=(WEB_ID, web_secret))
    assert_oauth_error(response, "invalid_grant", secrets=[web_secret])
    await rotate(http, second["refresh_token"])
