"""Client secrets cannot be guessed without limit (RFC 6749 §2.3.1: the server "MUST protect
any endpoint utilizing it against brute force attacks"; issue 17 item 11): failed client
authentication is throttled per client and per address at every endpoint that authenticates
clients, the limited answer is the RFC 6749 §5.2 ``invalid_client`` 401 with ``Retry-After``
whatever the secret, and the lock ends with the window. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.helpers import ISSUER, WEB_ID, authorize_params, new_flow
from tests.http.test_token_code_grant import assert_oauth_error, shift_clock

PER_CLIENT = 4
PER_IP = 3
WINDOW = 60
pytestmark = pytest.mark.parametrize("settings_overrides", [{
    "client_auth_failures_per_client": PER_CLIENT, "client_auth_failures_per_ip": PER_IP,
    "client_auth_window_seconds": WINDOW}])

Call = Callable[[httpx.AsyncClient, str, str], Awaitable[httpx.Response]]
_FAILED = "client authentication failed"


async def _token(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post("/token", data={"grant_type": "client_credentials"},
                           auth=(client_id, secret))


async def _par(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    flow = new_flow(client_id, "https://app.example.com/cb")
    return await http.post("/par", data=authorize_params(flow), auth=(client_id, secret))


async def _revoke(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post("/revoke", data={"token": "x" * 43}, auth=(client_id, secret))


async def _introspect(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post("/introspect", data={"token": "x" * 43}, auth=(client_id, secret))


async def _device(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post("/device_authorization", data={"scope": "openid"},
                           auth=(client_id, secret))


ENDPOINTS: dict[str, tuple[Call, int]] = {  # the call, and its status with the right secret
    "token": (_token, 200), "par": (_par, 201), "revoke": (_revoke, 200),
    "introspect": (_introspect, 200), "device_authorization": (_device, 400),
}


@pytest.fixture
async def elsewhere(http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A caller at another address, on the same app."""
    transport = http._transport
    assert isinstance(transport, httpx.ASGITransport)
    other = httpx.ASGITransport(app=transport.app, client=("192.0.2.7", 4000))
    async with httpx.AsyncClient(transport=other, base_url=ISSUER) as client:
        yield client


def assert_limited(response: httpx.Response) -> None:
    body = assert_oauth_error(response, "invalid_client", status=401)
    assert body["error_description"] != _FAILED
    assert 0 < int(response.headers["retry-after"]) <= WINDOW + 1
    assert response.headers["www-authenticate"].startswith("Basic")


def _shape(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in {"date", "retry-after"}}
    return response.status_code, response.json(), headers


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
async def test_beyond_the_limit_even_the_right_secret_gets_the_same_limited_answer(
        endpoint: str, elsewhere: httpx.AsyncClient, web_secret: str) -> None:
    call, ok_status = ENDPOINTS[endpoint]
    assert (await call(elsewhere, WEB_ID, web_secret)).status_code == ok_status
    for i in range(PER_IP):
        body = assert_oauth_error(await call(elsewhere, WEB_ID, f"wrong-{i}"), "invalid_client",
                                  status=401)
        assert body["error_description"] == _FAILED
    wrong = await call(elsewhere, WEB_ID, "wrong-again")
    right = await call(elsewhere, WEB_ID, web_secret)
    assert_limited(wrong)
    assert_limited(right)
    assert _shape(right) == _shape(wrong)  # nothing tells whether the secret was right
    assert web_secret not in right.text


async def test_failures_at_one_endpoint_count_at_the_others(
        http: httpx.AsyncClient, web_secret: str) -> None:
    for i in range(PER_IP):
        await _token(http, WEB_ID, f"wrong-{i}")
    for call, _ok in ENDPOINTS.values():
        assert_limited(await call(http, WEB_ID, web_secret))


async def test_the_lock_ends_with_the_window(http: httpx.AsyncClient, web_secret: str) -> None:
    for i in range(PER_IP + 3):
        await _token(http, WEB_ID, f"wrong-{i}")  # refused attempts do not extend the lock
    assert_limited(await _token(http, WEB_ID, web_secret))
    shift_clock(http, WINDOW + 1)
    assert (await _token(http, WEB_ID, web_secret)).status_code == 200


async def test_one_address_guessing_does_not_lock_the_client_out_elsewhere(
        http: httpx.AsyncClient, elsewhere: httpx.AsyncClient, web_secret: str) -> None:
    """The per-address limit is below the per-client one: one address alone cannot lock the
    client's other callers out."""
    for i in range(PER_IP + 2):
        await _token(http, WEB_ID, f"wrong-{i}")
    assert_limited(await _token(http, WEB_ID, web_secret))
    assert (await _token(elsewhere, WEB_ID, web_secret)).status_code == 200


async def test_guesses_from_many_addresses_lock_the_client_for_the_window(
        http: httpx.AsyncClient, elsewhere: httpx.AsyncClient, web_secret: str) -> None:
    transport = http._transport
    assert isinstance(transport, httpx.ASGITransport)
    for i in range(PER_CLIENT):
        address = httpx.ASGITransport(app=transport.app, client=(f"198.51.100.{i}", 4000))
        async with httpx.AsyncClient(transport=address, base_url=ISSUER) as attacker:
            await _token(attacker, WEB_ID, "wrong")
    assert_limited(await _token(elsewhere, WEB_ID, web_secret))
    shift_clock(http, WINDOW + 1)
    assert (await _token(elsewhere, WEB_ID, web_secret)).status_code == 200


async def test_unknown_clients_count_against_the_address(
        http: httpx.AsyncClient, elsewhere: httpx.AsyncClient, web_secret: str) -> None:
    for i in range(PER_IP):
        assert_oauth_error(await _token(http, f"nobody-{i}", "guess"), "invalid_client",
                           status=401)
    assert_limited(await _token(http, WEB_ID, web_secret))
    assert (await _token(elsewhere, WEB_ID, web_secret)).status_code == 200


async def test_concurrent_wrong_secrets_are_answered_at_most_the_limit(
        http: httpx.AsyncClient, web_secret: str) -> None:
    responses = await asyncio.gather(*(_token(http, WEB_ID, f"wrong-{i}") for i in range(15)))
    failed = [r for r in responses if r.json().get("error_description") == _FAILED]
    assert len(failed) == PER_IP
    for response in responses:
        if response not in failed:
            assert_limited(response)


async def test_successes_are_not_counted(http: httpx.AsyncClient, web_secret: str) -> None:
    for _ in range(PER_CLIENT * 3):
        assert (await _token(http, WEB_ID, web_secret)).status_code == 200
    for i in range(PER_IP):
        body = assert_oauth_error(await _token(http, WEB_ID, f"wrong-{i}"), "invalid_client",
                                  status=401)
        assert body["error_description"] == _FAILED


async def test_one_ipv6_host_rotating_through_its_64_is_one_address(
        http: httpx.AsyncClient, web_secret: str) -> None:
    """A host given an IPv6 /64 has 2^64 addresses: the per-address limit counts the network,
    so guesses from fresh addresses in one /64 meet it, while the next /64 is someone else."""
    transport = http._transport
    assert isinstance(transport, httpx.ASGITransport)

    async def from_address(address: str, secret: str) -> httpx.Response:
        caller = httpx.ASGITransport(app=transport.app, client=(address, 4000))
        async with httpx.AsyncClient(transport=caller, base_url=ISSUER) as client:
            return await _token(client, WEB_ID, secret)

    for i in range(PER_IP):
        await from_address(f"2001:db8:0:1::{i + 1:x}", "wrong")
    assert_limited(await from_address("2001:db8:0:1:ffff::9", web_secret))
    assert (await from_address("2001:db8:0:2::1", web_secret)).status_code == 200
