"""The SDK's device grant (RFC 8628): ask for codes, then poll at the interval (5 s more after
each slow_down) until the user decides, validating the id_token; against the in-process app with
a fake sleep that moves the app's clock instead of waiting, and against scripted providers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from proofkey.protocol.device import DEVICE_GRANT_TYPE
from proofkey.sdk import AsyncOAuthClient, DeviceAuthorizationResponse, OAuthClient
from proofkey.sdk.core import OAuthClientError, parse_device_authorization_response
from proofkey.settings import Settings
from tests.helpers import ISSUER, PUBLIC_ID
from tests.http.test_device_grant import TV_ID, approve, register_device_clients
from tests.http.test_token_code_grant import shift_clock

SCOPE = "openid profile offline_access"


@pytest.fixture
async def sdk(http: httpx.AsyncClient, settings: Settings) -> AsyncOAuthClient:
    await register_device_clients(settings)
    transport = http._transport  # the same in-process app
    assert isinstance(transport, httpx.AsyncBaseTransport)
    # FakeSleep moves only the app's clock, while DPoP proofs carry the real time and would go
    # stale: these tests are about the device grant, so without DPoP (the device poll with DPoP
    # is tested over HTTP in tests/http/test_dpop_binding.py).
    return AsyncOAuthClient(ISSUER, TV_ID, scope=SCOPE, transport=transport, dpop="off")


class FakeSleep:
    """Records the waits and moves the app's clock by them; runs ``then`` after wait N."""

    def __init__(self, http: httpx.AsyncClient,
                 actions: dict[int, Callable[[], Awaitable[None]]] | None = None,
                 frozen: frozenset[int] = frozenset()) -> None:
        self.http = http
        self.waits: list[float] = []
        self.actions = actions or {}
        self.frozen = frozen  # waits after which the clock does not move (a too-early poll)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) not in self.frozen:
            shift_clock(self.http, seconds)
        action = self.actions.get(len(self.waits))
        if action is not None:
            await action()


async def test_the_sdk_asks_for_codes_and_keeps_the_device_code_out_of_repr(
        sdk: AsyncOAuthClient) -> None:
    device = await sdk.device_authorization()
    assert isinstance(device, DeviceAuthorizationResponse)
    assert len(device.user_code) == 9
    assert device.verification_uri == f"{ISSUER}/device"
    assert device.verification_uri_complete is not None
    assert (device.expires_in, device.interval, device.scope) == (600, 5, SCOPE)
    assert device.device_code not in repr(device)
    assert device.user_code in repr(device)


async def test_the_sdk_polls_until_approval_and_validates_the_id_token(
        sdk: AsyncOAuthClient, http: httpx.AsyncClient) -> None:
    device = await sdk.device_authorization()

    async def user() -> None:
        await approve(http, device.user_code)

    sleep = FakeSleep(http, {2: user})
    tokens = await sdk.poll_device(device, sleep=sleep)
    assert sleep.waits == [5, 5]  # one pending poll, then the tokens
    assert tokens.refresh_token is not None
    assert tokens.id_claims is not None
    assert tokens.id_claims["aud"] == TV_ID
    info = await sdk.userinfo(tokens.access_token, expected_subject=tokens.id_claims["sub"])
    assert info["preferred_username"] == "alice"


async def test_slow_down_adds_five_seconds_to_every_later_wait(
        sdk: AsyncOAuthClient, http: httpx.AsyncClient) -> None:
    device = await sdk.device_authorization()

    async def user() -> None:
        await approve(http, device.user_code)

    # The second poll comes at the same app time as the first: the server says slow_down.
    sleep = FakeSleep(http, {4: user}, frozen=frozenset({2}))
    tokens = await sdk.poll_device(device, sleep=sleep)
    assert sleep.waits == [5, 5, 10, 10]
    assert tokens.access_token


async def test_a_denial_stops_the_polling_with_access_denied(
        sdk: AsyncOAuthClient, http: httpx.AsyncClient) -> None:
    device = await sdk.device_authorization()

    async def user() -> None:
        await approve(http, device.user_code, decision="deny")

    with pytest.raises(OAuthClientError) as refused:
        await sdk.poll_device(device, sleep=FakeSleep(http, {1: user}))
    assert refused.value.error == "access_denied"
    assert refused.value.status == 400


async def test_nobody_approving_ends_in_expired_token(
        sdk: AsyncOAuthClient, http: httpx.AsyncClient) -> None:
    device = await sdk.device_authorization()
    sleep = FakeSleep(http)
    with pytest.raises(OAuthClientError) as expired:
        await sdk.poll_device(device, sleep=sleep)
    assert expired.value.error == "expired_token"
    assert sum(sleep.waits) <= device.expires_in


async def test_a_client_without_the_device_grant_is_refused(http: httpx.AsyncClient) -> None:
    transport = http._transport
    assert isinstance(transport, httpx.AsyncBaseTransport)
    async with AsyncOAuthClient(ISSUER, PUBLIC_ID, transport=transport) as client:
        with pytest.raises(OAuthClientError) as refused:
            await client.device_authorization()
    assert refused.value.error == "unauthorized_client"


# -- the blocking client against a scripted provider -------------------------------------------

PROVIDER = "https://idp.example"
METADATA = {"issuer": PROVIDER, "authorization_endpoint": f"{PROVIDER}/authorize",
            "token_endpoint": f"{PROVIDER}/token",
            "device_authorization_endpoint": f"{PROVIDER}/device_authorization"}


def scripted(answers: list[tuple[int, dict[str, Any]]], *, metadata: dict[str, Any] = METADATA,
             seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """Metadata on discovery; ``answers`` in turn for every POST."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=metadata)
        if seen is not None:
            seen.append(request)
        status, body = queue.pop(0)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


DEVICE = {"device_code": "dc-secret", "user_code": "WDJB-MJHT",
          "verification_uri": f"{PROVIDER}/device", "expires_in": 30}
PENDING = (400, {"error": "authorization_pending"})
SLOW = (400, {"error": "slow_down"})
TOKENS = (200, {"access_token": "at", "token_type": "Bearer", "expires_in": 60})


def test_the_blocking_client_polls_with_the_interval_and_backs_off() -> None:
    seen: list[httpx.Request] = []
    waits: list[float] = []
    transport = scripted([(200, DEVICE), PENDING, SLOW, PENDING, TOKENS], seen=seen)
    with OAuthClient(PROVIDER, "tv", scope="profile", transport=transport) as client:
        device = client.device_authorization()
        assert device.interval == 5  # absent: RFC 8628 §3.2's default
        assert device.verification_uri_complete is None
        tokens = client.poll_device(device, sleep=waits.append)
    assert waits == [5, 5, 10, 10]
    assert tokens.access_token == "at"
    assert tokens.id_token is None
    first = dict(httpx.QueryParams(seen[0].content.decode()))
    assert first == {"scope": "profile", "client_id": "tv"}
    poll = dict(httpx.QueryParams(seen[1].content.decode()))
    assert poll == {"grant_type": DEVICE_GRANT_TYPE, "device_code": "dc-secret",
                    "client_id": "tv"}


def test_the_polling_gives_up_once_expires_in_is_spent() -> None:
    waits: list[float] = []
    transport = scripted([(200, {**DEVICE, "expires_in": 12})] + [PENDING] * 10)
    with OAuthClient(PROVIDER, "tv", scope="profile", transport=transport) as client:
        device = client.device_authorization()
        with pytest.raises(OAuthClientError) as expired:
            client.poll_device(device, sleep=waits.append)
    assert expired.value.error == "expired_token"
    assert waits == [5, 5]


@pytest.mark.parametrize("final", ["access_denied", "expired_token", "invalid_grant"])
def test_a_final_error_stops_the_polling(final: str) -> None:
    waits: list[float] = []
    transport = scripted([(200, DEVICE), PENDING, (400, {"error": final})])
    with OAuthClient(PROVIDER, "tv", scope="profile", transport=transport) as client:
        device = client.device_authorization()
        with pytest.raises(OAuthClientError) as stopped:
            client.poll_device(device, sleep=waits.append)
    assert stopped.value.error == final
    assert waits == [5, 5]


def test_openid_without_an_id_token_is_refused() -> None:
    transport = scripted([(200, DEVICE), TOKENS])
    with OAuthClient(PROVIDER, "tv", scope="openid", transport=transport) as client:
        device = client.device_authorization()
        with pytest.raises(OAuthClientError) as refused:
            client.poll_device(device, sleep=lambda _: None)
    assert refused.value.error == "invalid_response"


def test_a_provider_without_a_device_endpoint_is_reported() -> None:
    metadata = {k: v for k, v in METADATA.items() if k != "device_authorization_endpoint"}
    with OAuthClient(PROVIDER, "tv", transport=scripted([], metadata=metadata)) as client, \
            pytest.raises(OAuthClientError) as refused:
        client.device_authorization()
    assert refused.value.error == "unsupported"


@pytest.mark.parametrize("body", [
    {k: v for k, v in DEVICE.items() if k != "device_code"},
    {**DEVICE, "user_code": ""},
    {**DEVICE, "expires_in": "600"},
    {**DEVICE, "expires_in": 0},
    {**DEVICE, "interval": True},
    {**DEVICE, "verification_uri_complete": 7},
    ["not", "an", "object"],
], ids=["no device_code", "empty user_code", "string expires_in", "zero expires_in",
        "boolean interval", "odd complete uri", "not an object"])
def test_malformed_device_authorization_responses_are_refused(body: Any) -> None:
    with pytest.raises(OAuthClientError) as refused:
        parse_device_authorization_response(200, json.loads(json.dumps(body)))
    assert refused.value.error == "invalid_response"


def test_a_refused_device_authorization_carries_the_providers_error() -> None:
    with pytest.raises(OAuthClientError) as refused:
        parse_device_authorization_response(401, {"error": "invalid_client"})
    assert (refused.value.error, refused.value.status) == ("invalid_client", 401)
