"""Concurrent guesses cannot beat the throttles (RFC 6749 §10.10, RFC 8628 §5.1): each attempt
is counted before it is verified, so of N simultaneous wrong guesses at most the limit are
verified and the rest are refused with 429 (issue 17 item 1). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from proofkey.observability.events import LoginFailed, LoginThrottled
from tests.conftest import Recorder
from tests.helpers import PASSWORD, USERNAME, csrf_of
from tests.http.test_device_grant import enter_code, sign_in

USER_LIMIT = 5  # login_failures_per_user in tests/conftest.py
ENTRY_LIMIT = 10  # wrong user codes per address per window (flows/device.py)


async def _account_logins(http: httpx.AsyncClient, attempts: list[tuple[str, str]]
                          ) -> list[httpx.Response]:
    page = await http.get("/account")
    csrf = csrf_of(page.text)
    return list(await asyncio.gather(*(
        http.post("/account/login", data={"csrf": csrf, "username": name, "password": word})
        for name, word in attempts)))


async def test_concurrent_wrong_passwords_for_one_user_verify_at_most_the_limit(
        http: httpx.AsyncClient, events: Recorder) -> None:
    responses = await _account_logins(http, [(USERNAME, f"wrong {i}") for i in range(15)])
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) == USER_LIMIT, statuses
    assert statuses.count(429) == 15 - USER_LIMIT, statuses
    assert len(events.of(LoginFailed)) == USER_LIMIT  # verified: only the reserved attempts
    assert len(events.of(LoginThrottled)) == 15 - USER_LIMIT
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)
    # The limit holds afterwards too, even for the right password.
    assert (await _account_logins(http, [(USERNAME, PASSWORD)]))[0].status_code == 429


@pytest.mark.parametrize("settings_overrides", [{"login_failures_per_ip": 4}])
async def test_concurrent_wrong_passwords_from_one_address_verify_at_most_its_limit(
        http: httpx.AsyncClient, events: Recorder) -> None:
    responses = await _account_logins(http, [(f"user{i}", "wrong") for i in range(12)])
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) == 4, statuses
    assert statuses.count(429) == 8, statuses
    assert len(events.of(LoginFailed)) == 4


async def test_a_right_password_releases_its_reservation(
        http: httpx.AsyncClient, events: Recorder) -> None:
    """Successes are not failures: concurrent right passwords (up to the limit, which is also
    how many attempts of one user can be in flight at once) all get in, and the failures
    allowed afterwards are the full limit."""
    for _ in range(2):
        responses = await _account_logins(http, [(USERNAME, PASSWORD)] * USER_LIMIT)
        assert [r.status_code for r in responses] == [303] * USER_LIMIT
    wrong = await _account_logins(http, [(USERNAME, "wrong")] * USER_LIMIT)
    assert [r.status_code for r in wrong] == [401] * USER_LIMIT


async def test_concurrent_wrong_user_codes_are_checked_at_most_the_limit(
        http: httpx.AsyncClient) -> None:
    await sign_in(http)
    responses = await asyncio.gather(*(enter_code(http, "BBBB-BBBB") for _ in range(25)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(400) == ENTRY_LIMIT, statuses
    assert statuses.count(429) == 25 - ENTRY_LIMIT, statuses
