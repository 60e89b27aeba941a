"""What the audit log and metrics see of each refresh_token outcome: the ``outcome`` label of
TokenExchangeFailed (refresh_invalid, refresh_reused, refresh_expired) and the refresh events.

A request without ``scope`` rotates in one store call and classifies a refusal afterwards; a
request with ``scope`` checks first. Both must report the same outcome for the same token.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from proofkey.observability.events import (
    RefreshReuseDetected,
    RefreshRotated,
    TokenExchanged,
    TokenExchangeFailed,
)
from proofkey.settings import Settings
from tests.conftest import Recorder
from tests.helpers import PUBLIC_ID, WEB_ID
from tests.http.test_refresh import GRACE, rotate
from tests.http.test_token_code_grant import (
    assert_oauth_error,
    public_tokens,
    refresh,
    shift_clock,
)

WITH_AND_WITHOUT_SCOPE = pytest.mark.parametrize(
    "extra", [{}, {"scope": "openid"}], ids=["no scope", "scope"])


def outcomes(events: Recorder) -> list[str]:
    return [e.outcome for e in events.of(TokenExchangeFailed)
            if isinstance(e, TokenExchangeFailed) and e.grant_type == "refresh_token"]


async def test_a_rotation_reports_the_grant_of_the_code_and_no_grace(
        http: httpx.AsyncClient, events: Recorder) -> None:
    await public_tokens(http)
    first = await public_tokens(http)
    [_, issued] = [e for e in events.of(TokenExchanged) if isinstance(e, TokenExchanged)]
    await rotate(http, (await rotate(http, first["refresh_token"]))["refresh_token"])
    exchanged = [e for e in events.of(TokenExchanged) if isinstance(e, TokenExchanged)]
    assert [(e.grant_type, e.grant_id) for e in exchanged[2:]] == [
        ("refresh_token", issued.grant_id)] * 2
    rotated = [(e.grant_id, e.in_grace) for e in events.of(RefreshRotated)
               if isinstance(e, RefreshRotated)]
    assert rotated == [(issued.grant_id, False)] * 2
    assert outcomes(events) == []


@WITH_AND_WITHOUT_SCOPE
async def test_an_unknown_token_or_another_clients_is_refresh_invalid(
        http: httpx.AsyncClient, web_secret: str, events: Recorder,
        extra: dict[str, str]) -> None:
    tokens = await public_tokens(http)
    assert_oauth_error(await refresh(http, "A" * 43, **extra), "invalid_grant")
    stolen = await http.post("/token", auth=(WEB_ID, web_secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **extra})
    assert_oauth_error(stolen, "invalid_grant")
    assert outcomes(events) == ["refresh_invalid", "refresh_invalid"]
    assert not events.of(RefreshReuseDetected)
    await rotate(http, tokens["refresh_token"])


@WITH_AND_WITHOUT_SCOPE
async def test_a_reused_token_is_refresh_reused_and_detected_once(
        http: httpx.AsyncClient, events: Recorder, extra: dict[str, str]) -> None:
    first = await public_tokens(http)
    second = await rotate(http, first["refresh_token"])
    assert_oauth_error(await refresh(http, first["refresh_token"], **extra), "invalid_grant")
    assert outcomes(events) == ["refresh_reused"]
    assert len(events.of(RefreshReuseDetected)) == 1
    # The family is revoked: its newest token is refused as expired, not as a reuse.
    assert_oauth_error(await refresh(http, second["refresh_token"], **extra), "invalid_grant")
    assert outcomes(events) == ["refresh_reused", "refresh_expired"]
    assert len(events.of(RefreshReuseDetected)) == 1


@WITH_AND_WITHOUT_SCOPE
async def test_an_expired_token_is_refresh_expired(
        http: httpx.AsyncClient, settings: Settings, events: Recorder,
        extra: dict[str, str]) -> None:
    tokens = await public_tokens(http)
    shift_clock(http, settings.refresh_token_ttl_seconds + 1)
    assert_oauth_error(await refresh(http, tokens["refresh_token"], **extra), "invalid_grant")
    assert outcomes(events) == ["refresh_expired"]


@WITH_AND_WITHOUT_SCOPE
@pytest.mark.parametrize("settings_overrides", [
    {"refresh_token_ttl_seconds": 3600, "grant_ttl_seconds": 600}])
async def test_a_token_of_an_expired_grant_is_refresh_expired(
        http: httpx.AsyncClient, events: Recorder, extra: dict[str, str]) -> None:
    tokens = await public_tokens(http)
    shift_clock(http, 601)
    assert_oauth_error(await refresh(http, tokens["refresh_token"], **extra), "invalid_grant")
    assert outcomes(events) == ["refresh_expired"]


@WITH_AND_WITHOUT_SCOPE
async def test_a_token_of_a_revoked_grant_is_refresh_expired(
        http: httpx.AsyncClient, events: Recorder, extra: dict[str, str]) -> None:
    tokens = await public_tokens(http)
    revoked = await http.post("/revoke", data={"token": tokens["refresh_token"],
                                               "client_id": PUBLIC_ID})
    assert revoked.status_code == 200
    assert_oauth_error(await refresh(http, tokens["refresh_token"], **extra), "invalid_grant")
    assert outcomes(events) == ["refresh_expired"]
    assert not events.of(RefreshReuseDetected)


@pytest.mark.parametrize("settings_overrides", [GRACE])
async def test_a_grace_retry_is_reported_as_one(
        http: httpx.AsyncClient, web_secret: str, events: Recorder) -> None:
    first = await public_tokens(http)
    await rotate(http, first["refresh_token"])
    stolen = await http.post("/token", auth=(WEB_ID, web_secret), data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert_oauth_error(stolen, "invalid_grant")
    await rotate(http, first["refresh_token"])
    grace = [e.in_grace for e in events.of(RefreshRotated) if isinstance(e, RefreshRotated)]
    assert grace == [False, True]
    assert outcomes(events) == ["refresh_invalid"]


async def test_the_losers_of_a_concurrent_refresh_are_refresh_reused(
        http: httpx.AsyncClient, events: Recorder) -> None:
    tokens = await public_tokens(http)
    responses = await asyncio.gather(*(refresh(http, tokens["refresh_token"])
                                       for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 5
    assert outcomes(events) == ["refresh_reused"] * 5
    assert len(events.of(RefreshRotated)) == 1
