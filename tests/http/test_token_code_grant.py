"""The authorization_code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6,
OAuth 2.1 §4.1.3, §7.5.2), over HTTP against the real app.

The helpers at the top are shared by the other protocol tests in ``tests/http``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, cast

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.observability.events import CodeReplayed, TokenExchangeFailed
from proofkey.protocol import pkce
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.services import Services
from tests.conftest import Recorder
from tests.helpers import (
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    WEB_ID,
    WEB_REDIRECT,
    Flow,
    TestClock,
    exchange,
    get_code,
    new_flow,
)

# -- shared helpers ----------------------------------------------------------------------------

# RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")


def assert_oauth_error(response: httpx.Response, error: str, *, status: int = 400,
                       secrets: Iterable[str] = ()) -> dict[str, str]:
    """An RFC 6749 §5.2 error: exact code and status, JSON with only error/error_description,
    ``Cache-Control: no-store``, and none of ``secrets`` echoed anywhere in the response."""
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description"}, body
    assert _DESCRIPTION.fullmatch(body.get("error_description", "")), body
    for secret in secrets:
        assert secret not in response.text
        assert all(secret not in value for value in response.headers.values())
    return cast(dict[str, str], body)


def app_services(http: httpx.AsyncClient) -> Services:
    """The running app's collaborators, reached through the ASGI transport."""
    transport = http._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: Any = transport.app
    return cast(Services, app.state.services)


def shift_clock(http: httpx.AsyncClient, seconds: float) -> None:
    """Move the app's clock forward: the injected clock, no sleeping."""
    clock = app_services(http).ctx.clock
    assert isinstance(clock, TestClock), "the http fixture's app runs on a TestClock"
    clock.advance(seconds)


async def register(settings: Settings, client_id: str, **options: Any) -> str | None:
    """Register one more client in the running app's store; return its secret, if any."""
    store = open_store(settings.effective_database_url)
    scopes = settings.scopes_supported
    options.setdefault("client_type", "confidential")
    options.setdefault("redirect_uris", [WEB_REDIRECT])
    try:
        new = await register_client(store, client_id, scopes=scopes, supported_scopes=scopes,
                                    now=int(time.time()), **options)
    finally:
        await store.close()
    return None if new.secret is None else new.secret.reveal()


async def redeem(http: httpx.AsyncClient, flow: Flow, code: str, *,
                 auth: tuple[str, str] | None = None, **extra: str | None) -> httpx.Response:
    """A code exchange; with ``auth`` the client authenticates by HTTP Basic."""
    if auth is None:
        return await exchange(http, flow, code, **extra)
    data: dict[str, str | None] = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier}
    data.update(extra)
    return await http.post("/token", data={k: v for k, v in data.items() if v is not None},
                           auth=auth)


async def public_tokens(http: httpx.AsyncClient, **extra: str | None) -> dict[str, Any]:
    """Run the public client's code flow and return its token response."""
    flow = new_flow()
    code = await get_code(http, flow, **extra)
    response = await exchange(http, flow, code)
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


async def introspect(http: httpx.AsyncClient, token: str, web_secret: str) -> dict[str, Any]:
    response = await http.post("/introspect", data={"token": token}, auth=(WEB_ID, web_secret))
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


async def userinfo_status(http: httpx.AsyncClient, access_token: str) -> int:
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


async def refresh(http: httpx.AsyncClient, refresh_token: str, *, client_id: str = PUBLIC_ID,
                  **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    data.update(extra)
    return await http.post("/token", data=data)


async def assert_tokens_revoked(http: httpx.AsyncClient, tokens: dict[str, Any],
                                web_secret: str) -> None:
    assert await introspect(http, tokens["access_token"], web_secret) == {"active": False}
    assert await userinfo_status(http, tokens["access_token"]) == 401
    assert_oauth_error(await refresh(http, tokens["refresh_token"]), "invalid_grant")


async def assert_tokens_live(http: httpx.AsyncClient, tokens: dict[str, Any],
                             web_secret: str) -> None:
    assert (await introspect(http, tokens["access_token"], web_secret))["active"] is True
    assert await userinfo_status(http, tokens["access_token"]) == 200
    assert (await introspect(http, tokens["refresh_token"], web_secret))["active"] is True


async def assert_code_burned(http: httpx.AsyncClient, flow: Flow, code: str) -> None:
    """A correct redemption of ``code`` is refused: the code is spent."""
    assert_oauth_error(await exchange(http, flow, code), "invalid_grant",
                       secrets=[code, flow.verifier])


# -- missing and malformed parameters: refused before the code is touched ---------------------


async def test_a_token_request_without_a_code_is_invalid_request(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await http.post("/token", data={
        "grant_type": "authorization_code", "redirect_uri": flow.redirect_uri,
        "client_id": flow.client_id, "code_verifier": flow.verifier})
    assert_oauth_error(response, "invalid_request", secrets=[flow.verifier])
    assert (await exchange(http, flow, code)).status_code == 200


@pytest.mark.parametrize("missing", ["redirect_uri", "code_verifier"])
async def test_a_request_without_redirect_uri_or_verifier_is_invalid_request_and_burns_nothing(
        http: httpx.AsyncClient, missing: str) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await exchange(http, flow, code, **{missing: None})
    assert_oauth_error(response, "invalid_request", secrets=[code, flow.verifier])
    assert (await exchange(http, flow, code)).status_code == 200


@pytest.mark.parametrize("verifier", [
    "a" * 42,
    "a" * 129,
    "a" * 42 + "+",
    "a" * 42 + "/",
    "a" * 42 + "=",
    "a" * 42 + " ",
    "a" * 42 + "é",
    "a" * 42 + "%",
], ids=["42-chars", "129-chars", "plus", "slash", "padding", "space", "non-ascii", "percent"])
async def test_a_malformed_code_verifier_is_invalid_request_and_the_code_is_not_burned(
        http: httpx.AsyncClient, verifier: str) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await exchange(http, flow, code, code_verifier=verifier)
    assert_oauth_error(response, "invalid_request", secrets=[code, flow.verifier])
    retry = await exchange(http, flow, code)
    assert retry.status_code == 200, retry.text


@pytest.mark.parametrize("length", [43, 128])
async def test_verifiers_of_the_boundary_lengths_are_accepted(
        http: httpx.AsyncClient, length: int) -> None:
    verifier = pkce.new_verifier(length)
    flow = replace(new_flow(), verifier=verifier, challenge=pkce.challenge_s256(verifier))
    code = await get_code(http, flow)
    response = await exchange(http, flow, code)
    assert response.status_code == 200, response.text


# -- PKCE, redirect_uri and client bindings: refused after the code is consumed ---------------


async def test_a_wrong_code_verifier_is_invalid_grant_and_burns_the_code(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    wrong = new_flow().verifier
    response = await exchange(http, flow, code, code_verifier=wrong)
    assert_oauth_error(response, "invalid_grant", secrets=[code, wrong, flow.verifier])
    await assert_code_burned(http, flow, code)


async def test_the_code_challenge_sent_as_the_verifier_is_invalid_grant(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await exchange(http, flow, code, code_verifier=flow.challenge)
    assert_oauth_error(response, "invalid_grant", secrets=[code, flow.verifier])
    await assert_code_burned(http, flow, code)


async def test_a_redirect_uri_differing_only_in_the_loopback_port_is_invalid_grant(
        http: httpx.AsyncClient) -> None:
    # RFC 8252 §7.3 lets the port vary at /authorize; RFC 6749 §4.1.3 still wants the token
    # request's redirect_uri "identical" to the one the code was issued for.
    flow = new_flow(redirect_uri="http://127.0.0.1:51234/callback")
    code = await get_code(http, flow)
    response = await exchange(http, flow, code, redirect_uri="http://127.0.0.1:51235/callback")
    assert_oauth_error(response, "invalid_grant", secrets=[code, flow.verifier])
    await assert_code_burned(http, flow, code)


@pytest.mark.parametrize("other", [
    "https://app.example.com/cb/", "https://app.example.com/cb?x=1", "https://APP.example.com/cb",
    "https://app.example.com:443/cb"])
async def test_a_redirect_uri_not_identical_to_the_authorization_request_is_invalid_grant(
        http: httpx.AsyncClient, web_secret: str, other: str) -> None:
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    code = await get_code(http, flow)
    response = await redeem(http, flow, code, auth=(WEB_ID, web_secret), redirect_uri=other)
    assert_oauth_error(response, "invalid_grant", secrets=[code, flow.verifier, web_secret])
    retry = await redeem(http, flow, code, auth=(WEB_ID, web_secret))
    assert_oauth_error(retry, "invalid_grant")


async def test_a_code_issued_to_another_client_is_invalid_grant(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    stolen = await redeem(http, flow, code, auth=(WEB_ID, web_secret))
    assert_oauth_error(stolen, "invalid_grant", secrets=[code, flow.verifier, web_secret])
    await assert_code_burned(http, flow, code)


@pytest.mark.parametrize("code", [
    "x", "A" * 43, "A" * 257, "A" * 5000, "é" * 10, "code with spaces", "..."],
    ids=["short", "handle-shaped", "257", "5000", "non-ascii", "spaces", "dots"])
async def test_an_unknown_code_is_invalid_grant(http: httpx.AsyncClient, code: str) -> None:
    flow = new_flow()
    response = await exchange(http, flow, code)
    assert_oauth_error(response, "invalid_grant", secrets=[flow.verifier])


async def test_an_expired_code_is_invalid_grant(http: httpx.AsyncClient,
                                                settings: Settings) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    shift_clock(http, settings.code_ttl_seconds + 1)
    response = await exchange(http, flow, code)
    assert_oauth_error(response, "invalid_grant", secrets=[code, flow.verifier])


@pytest.mark.parametrize("settings_overrides", [{"code_ttl_seconds": 1}])
async def test_a_code_expires_in_real_time_after_code_ttl_seconds(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    await asyncio.sleep(2.1)
    assert_oauth_error(await exchange(http, flow, code), "invalid_grant")


async def test_a_code_is_good_until_just_before_it_expires(
        http: httpx.AsyncClient, settings: Settings) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    shift_clock(http, settings.code_ttl_seconds - 2)
    response = await exchange(http, flow, code)
    assert response.status_code == 200, response.text


# -- replay (RFC 6749 §4.1.2, OAuth 2.1 §7.5.2) -------------------------------------------------


async def test_a_replayed_code_is_refused_and_revokes_the_tokens_it_issued(
        http: httpx.AsyncClient, web_secret: str, events: Recorder) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    first = await exchange(http, flow, code)
    assert first.status_code == 200, first.text
    tokens = first.json()
    await assert_tokens_live(http, tokens, web_secret)
    replay = await exchange(http, flow, code)
    assert_oauth_error(replay, "invalid_grant", secrets=[code, flow.verifier])
    await assert_tokens_revoked(http, tokens, web_secret)
    [replayed] = events.of(CodeReplayed)
    assert isinstance(replayed, CodeReplayed)
    assert replayed.revoked is True
    assert replayed.client_id == PUBLIC_ID


async def test_a_replay_also_revokes_the_tokens_refreshed_from_the_code(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    tokens = (await exchange(http, flow, code)).json()
    refreshed = (await refresh(http, tokens["refresh_token"])).json()
    assert_oauth_error(await exchange(http, flow, code), "invalid_grant")
    await assert_tokens_revoked(http, refreshed, web_secret)


async def test_a_replay_after_the_code_expired_still_revokes_its_tokens(
        http: httpx.AsyncClient, web_secret: str, settings: Settings) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    tokens = (await exchange(http, flow, code)).json()
    shift_clock(http, settings.code_ttl_seconds + 1)
    assert_oauth_error(await exchange(http, flow, code), "invalid_grant")
    await assert_tokens_revoked(http, tokens, web_secret)


async def test_a_replay_with_a_wrong_verifier_is_refused_and_revokes_nothing(
        http: httpx.AsyncClient, web_secret: str, events: Recorder) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    tokens = (await exchange(http, flow, code)).json()
    wrong = new_flow().verifier
    replay = await exchange(http, flow, code, code_verifier=wrong)
    assert_oauth_error(replay, "invalid_grant", secrets=[code, wrong, flow.verifier])
    await assert_tokens_live(http, tokens, web_secret)
    [replayed] = events.of(CodeReplayed)
    assert isinstance(replayed, CodeReplayed)
    assert replayed.revoked is False


async def test_a_replay_by_another_client_is_refused_and_revokes_nothing(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    tokens = (await exchange(http, flow, code)).json()
    replay = await redeem(http, flow, code, auth=(WEB_ID, web_secret))
    assert_oauth_error(replay, "invalid_grant", secrets=[code, flow.verifier, web_secret])
    await assert_tokens_live(http, tokens, web_secret)


async def test_a_replay_with_another_redirect_uri_is_refused_and_revokes_nothing(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    tokens = (await exchange(http, flow, code)).json()
    replay = await exchange(http, flow, code, redirect_uri="http://127.0.0.1:9/callback")
    assert_oauth_error(replay, "invalid_grant", secrets=[code, flow.verifier])
    await assert_tokens_live(http, tokens, web_secret)


async def test_of_sixty_concurrent_redemptions_of_one_code_exactly_one_succeeds(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    responses = await asyncio.gather(*(exchange(http, flow, code) for _ in range(60)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 59
    winners = [r for r in responses if r.status_code == 200]
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(response, "invalid_grant", secrets=[code, flow.verifier])
    # The 59 losers were valid replays: the tokens the winner got are revoked.
    await assert_tokens_revoked(http, winners[0].json(), web_secret)


async def test_a_replay_arriving_while_the_first_redemption_is_in_flight_still_revokes_it(
        http: httpx.AsyncClient, web_secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a networked store (PostgreSQL) the winner awaits between redeeming the code and
    handing out its tokens; a valid replay in that gap must still revoke what the winner
    issues (the grant is created in the same transaction as the redemption)."""
    codes = app_services(http).token.codes
    real_redeem = codes.redeem_code
    redeemed = asyncio.Event()
    replay_done = asyncio.Event()

    async def slow_redeem(*args: Any) -> Any:
        """The real redemption, with the winner held afterwards until the replay is done."""
        record = await real_redeem(*args)
        if record is not None:
            redeemed.set()
            await replay_done.wait()
        return record

    monkeypatch.setattr(codes, "redeem_code", slow_redeem)
    flow = new_flow()
    code = await get_code(http, flow)
    first = asyncio.create_task(exchange(http, flow, code))
    await redeemed.wait()
    replay = await exchange(http, flow, code)
    replay_done.set()
    assert_oauth_error(replay, "invalid_grant")
    winner = await first
    assert winner.status_code == 200, winner.text
    await assert_tokens_revoked(http, winner.json(), web_secret)


async def test_token_events_carry_outcomes_but_never_codes_verifiers_or_tokens(
        http: httpx.AsyncClient, web_secret: str, events: Recorder) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    wrong = new_flow().verifier
    assert_oauth_error(await exchange(http, flow, code, code_verifier=wrong), "invalid_grant")
    other = new_flow()
    other_code = await get_code(http, other)
    tokens = (await exchange(http, other, other_code)).json()
    await exchange(http, other, other_code)
    await http.post("/token", data={"grant_type": "client_credentials", "client_id": "x" * 60})
    outcomes = {e.outcome for e in events.of(TokenExchangeFailed)
                if isinstance(e, TokenExchangeFailed)}
    assert {"verifier_mismatch", "code_reused", "invalid_client"} <= outcomes
    assert "unknown_client" in {e.detail for e in events.of(TokenExchangeFailed)
                                if isinstance(e, TokenExchangeFailed)}
    assert all(e.client_id != "x" * 60 for e in events.of(TokenExchangeFailed)
               if isinstance(e, TokenExchangeFailed))
    secrets = [code, flow.verifier, wrong, other_code, other.verifier, web_secret,
               tokens["access_token"], tokens["refresh_token"], tokens["id_token"]]
    for event in events.events:
        assert not any(secret in repr(event) for secret in secrets), event


async def test_a_public_client_redeems_with_client_id_only_and_a_confidential_one_with_basic(
        http: httpx.AsyncClient, web_secret: str) -> None:
    public = new_flow(PUBLIC_ID, PUBLIC_REDIRECT)
    assert (await exchange(http, public, await get_code(http, public))).status_code == 200
    web = new_flow(WEB_ID, WEB_REDIRECT)
    code = await get_code(http, web)
    response = await redeem(http, web, code, auth=(WEB_ID, web_secret))
    assert response.status_code == 200, response.text
    assert web_secret not in response.text
