"""Requests that anyone can send may create only a bounded number of rows: pending
authorizations (/authorize), pushed requests (/par) and device requests (/device_authorization)
are capped per client and per client address; beyond a cap the answer is 429 with Retry-After
(a page at /authorize that redirects nowhere, RFC 6749 §5.2-shaped JSON at the back-channel
endpoints)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from starlette.applications import Starlette

from proofkey.observability.events import EventBus
from proofkey.settings import Settings, SettingsError, load_settings
from proofkey.web.app import create_app
from tests.helpers import ISSUER, WEB_ID, authorize_params, login_and_consent, new_flow
from tests.http.test_device_grant import TV_ID, register_device_clients
from tests.scale.conftest import REDIS_URL, missing, reachable

PER_ADDRESS = 3
PER_CLIENT = 5
CAPS = {
    "pending_authorizations_per_address": PER_ADDRESS,
    "pending_authorizations_per_client": PER_CLIENT,
    "pushed_requests_per_address": PER_ADDRESS,
    "pushed_requests_per_client": PER_CLIENT,
    "device_requests_per_address": PER_ADDRESS,
    "device_requests_per_client": PER_CLIENT,
}

Browser = Callable[[str], httpx.AsyncClient]


@pytest.fixture
def store_backend() -> str:
    return "sqlite"  # the caps live in the rate limiter, not in the store


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return dict(CAPS)


@pytest.fixture
async def at(settings: Settings, seeded: object) -> AsyncIterator[Browser]:
    """``at(address)``: an HTTP client on the real app whose requests come from ``address``."""
    await register_device_clients(settings)
    app = create_app(settings, bus=EventBus())
    async with app.router.lifespan_context(app), AsyncExitStack() as stack:
        yield lambda address: _client(stack, app, address)


def _client(stack: AsyncExitStack, app: Starlette, address: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)),
                               base_url=ISSUER)
    stack.push_async_callback(client.aclose)
    return client


async def _authorize(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/authorize", params=authorize_params(new_flow()))


def _assert_refused_page(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def _assert_refused_json(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "slow_down"


async def test_authorize_stores_at_most_the_address_cap_of_pending_requests(at: Browser) -> None:
    browser = at("198.51.100.7")
    for _ in range(PER_ADDRESS):
        response = await _authorize(browser)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/interaction/")
    _assert_refused_page(await _authorize(browser))
    # Another address is not affected.
    response = await _authorize(at("198.51.100.8"))
    assert response.headers["location"].startswith("/interaction/")


async def test_authorize_stores_at_most_the_client_cap_of_pending_requests(at: Browser) -> None:
    for n in range(PER_CLIENT):
        response = await _authorize(at(f"203.0.113.{n}"))
        assert response.headers["location"].startswith("/interaction/")
    _assert_refused_page(await _authorize(at("203.0.113.200")))


async def test_only_requests_that_store_a_pending_authorization_count(at: Browser) -> None:
    browser = at("192.0.2.44")
    flow = new_flow()
    response = await login_and_consent(browser, flow)  # one pending request, then a session
    assert "code=" in response.headers["location"]
    for _ in range(PER_ADDRESS + 2):  # session and consent: a code at once, nothing stored
        response = await browser.get("/authorize", params=authorize_params(new_flow()))
        assert "code=" in response.headers["location"]
    for _ in range(PER_ADDRESS - 1):  # prompt=login stores a pending request again
        response = await browser.get("/authorize",
                                     params=authorize_params(new_flow(), prompt="login"))
        assert response.headers["location"].startswith("/interaction/")
    _assert_refused_page(await browser.get(
        "/authorize", params=authorize_params(new_flow(), prompt="login")))


async def test_a_refused_request_with_an_unverified_client_still_gets_its_own_error(
    at: Browser,
) -> None:
    browser = at("198.51.100.9")
    for _ in range(PER_ADDRESS):
        await _authorize(browser)
    response = await browser.get("/authorize", params={"client_id": "nobody"})
    assert response.status_code == 400  # unknown client: no row, so no cap involved


async def test_par_answers_429_json_beyond_the_address_cap(at: Browser, web_secret: str) -> None:
    flow = new_flow(WEB_ID, "https://app.example.com/cb")
    backend = at("198.51.100.20")
    for _ in range(PER_ADDRESS):
        response = await backend.post("/par", data=authorize_params(flow),
                                      auth=(WEB_ID, web_secret))
        assert response.status_code == 201, response.text
    _assert_refused_json(await backend.post("/par", data=authorize_params(flow),
                                            auth=(WEB_ID, web_secret)))
    response = await at("198.51.100.21").post("/par", data=authorize_params(flow),
                                              auth=(WEB_ID, web_secret))
    assert response.status_code == 201


async def test_par_answers_429_json_beyond_the_client_cap(at: Browser) -> None:
    flow = new_flow()
    for n in range(PER_CLIENT):
        response = await at(f"203.0.113.{n}").post("/par", data=authorize_params(flow))
        assert response.status_code == 201, response.text
    _assert_refused_json(await at("203.0.113.99").post("/par", data=authorize_params(flow)))


async def test_an_invalid_pushed_request_does_not_count(at: Browser) -> None:
    backend = at("198.51.100.30")
    bad = {**authorize_params(new_flow()), "code_challenge_method": "plain"}
    for _ in range(PER_ADDRESS + 1):
        assert (await backend.post("/par", data=bad)).status_code == 400
    assert (await backend.post("/par", data=authorize_params(new_flow()))).status_code == 201


async def test_device_authorization_answers_429_json_beyond_the_address_cap(at: Browser) -> None:
    device = at("198.51.100.40")
    for _ in range(PER_ADDRESS):
        response = await device.post("/device_authorization", data={"client_id": TV_ID})
        assert response.status_code == 200, response.text
    _assert_refused_json(await device.post("/device_authorization", data={"client_id": TV_ID}))
    response = await at("198.51.100.41").post("/device_authorization", data={"client_id": TV_ID})
    assert response.status_code == 200


async def test_device_authorization_answers_429_json_beyond_the_client_cap(at: Browser) -> None:
    for n in range(PER_CLIENT):
        response = await at(f"203.0.113.{n}").post("/device_authorization",
                                                  data={"client_id": TV_ID})
        assert response.status_code == 200, response.text
    _assert_refused_json(await at("203.0.113.99").post("/device_authorization",
                                                       data={"client_id": TV_ID}))


def test_the_caps_are_settings_with_generous_defaults() -> None:
    defaults = load_settings({}, environ={})
    for name in CAPS:
        assert getattr(defaults, name) >= 100
    configured = load_settings({}, environ={"PROOFKEY_PENDING_AUTHORIZATIONS_PER_ADDRESS": "7"})
    assert configured.pending_authorizations_per_address == 7
    with pytest.raises(SettingsError, match="PROOFKEY_DEVICE_REQUESTS_PER_CLIENT"):
        load_settings({"device_requests_per_client": 0}, environ={})


async def test_the_address_cap_holds_across_instances_sharing_redis(
    settings: Settings, seeded: object,
) -> None:
    why = reachable(REDIS_URL, 6379)
    if why:
        missing("Redis", why, "PROOFKEY_TEST_REDIS_URL")
    # A fresh address per run: the shared Redis remembers earlier runs for the window.
    address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    shared = load_settings({"data_dir": str(settings.data_dir), "issuer": ISSUER, "demo": False,
                            "redis_url": REDIS_URL, "pending_authorizations_per_address": 3,
                            "pending_authorizations_per_client": 100_000}, environ={})
    one, two = create_app(shared, bus=EventBus()), create_app(shared, bus=EventBus())
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(one.router.lifespan_context(one))
        await stack.enter_async_context(two.router.lifespan_context(two))
        first, second = _client(stack, one, address), _client(stack, two, address)
        for browser in (first, second, first):
            response = await _authorize(browser)
            assert response.headers["location"].startswith("/interaction/")
        _assert_refused_page(await _authorize(second))
