"""Remembered consent never makes a code silent for a client whose redirect cannot prove who
receives it (RFC 8252 §8.6, RFC 6749 §10.2): a public client on a loopback or private-use
redirect is asked every time, and ``prompt=none`` answers ``consent_required``. Confidential
clients and public clients with https redirects keep the silent path."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.models import Secret
from proofkey.observability.events import CodeIssued
from proofkey.protocol.device import DEVICE_GRANT_TYPE
from proofkey.settings import Settings
from proofkey.store import open_store
from tests.conftest import Recorder
from tests.helpers import (
    ISSUER,
    PASSWORD,
    USERNAME,
    WEB_ID,
    WEB_REDIRECT,
    Flow,
    action_of,
    authorize_params,
    csrf_of,
    get_code,
    new_flow,
    query_of,
)
from tests.http.test_device_grant import approve, started

SPA_ID = "https-spa"
SPA_REDIRECT = "https://spa.example.com/cb"
CLI_ID = "native-cli"  # public, loopback redirect and the device grant
CLI_REDIRECT = "http://127.0.0.1/callback"
PRIVATE_USE = "com.example.app:/cb"


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:
    """The shared clients, plus a public https client and a public loopback+device client."""
    store = open_store(settings.effective_database_url)
    scopes = settings.scopes_supported
    now = int(time.time())
    try:
        await register_client(store, SPA_ID, client_type="public", redirect_uris=[SPA_REDIRECT],
                              scopes=scopes, supported_scopes=scopes,
                              grant_types=["authorization_code", "refresh_token",
                                           DEVICE_GRANT_TYPE], now=now)
        await register_client(store, CLI_ID, client_type="public", redirect_uris=[CLI_REDIRECT],
                              scopes=scopes, supported_scopes=scopes,
                              grant_types=["authorization_code", "refresh_token",
                                           DEVICE_GRANT_TYPE], now=now)
    finally:
        await store.close()
    return seeded


@pytest.fixture
async def other_browser(http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=http._transport, base_url=ISSUER) as client:
        yield client


async def authorize(http: httpx.AsyncClient, flow: Flow, **extra: str | None) -> httpx.Response:
    response = await http.get("/authorize", params=authorize_params(flow, **extra))
    assert response.status_code == 303, response.text
    return response


async def assert_asks_for_consent(http: httpx.AsyncClient, response: httpx.Response) -> None:
    location = response.headers["location"]
    assert location.startswith("/interaction/"), location
    page = await http.get(location)
    assert 'name="decision"' in page.text, page.text
    assert 'name="password"' not in page.text


def assert_code(response: httpx.Response, flow: Flow) -> None:
    location = response.headers["location"]
    assert location.startswith(flow.redirect_uri), location
    assert "code" in query_of(location)


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:49152/callback",
                                          "http://127.0.0.1/callback", PRIVATE_USE])
async def test_remembered_consent_still_asks_a_public_client_on_a_loopback_or_private_use_redirect(
        http: httpx.AsyncClient, events: Recorder, redirect_uri: str) -> None:
    await get_code(http, new_flow())
    response = await authorize(http, new_flow(redirect_uri=redirect_uri))
    await assert_asks_for_consent(http, response)
    assert len(events.of(CodeIssued)) == 1


async def test_allowing_again_gives_the_loopback_client_its_code(
        http: httpx.AsyncClient) -> None:
    await get_code(http, new_flow())
    flow = new_flow(redirect_uri="http://127.0.0.1:50123/callback")
    response = await authorize(http, flow)
    page = await http.get(response.headers["location"])
    answer = await http.post(action_of(page.text),
                             data={"csrf": csrf_of(page.text), "decision": "allow"})
    assert_code(answer, flow)


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:49152/callback", PRIVATE_USE])
async def test_prompt_none_for_a_loopback_public_client_answers_consent_required(
        http: httpx.AsyncClient, events: Recorder, redirect_uri: str) -> None:
    await get_code(http, new_flow())
    flow = new_flow(redirect_uri=redirect_uri)
    response = await authorize(http, flow, prompt="none")
    query = query_of(response.headers["location"])
    assert response.headers["location"].startswith(redirect_uri)
    assert query["error"] == "consent_required"
    assert query["state"] == flow.state
    assert "code" not in query
    assert len(events.of(CodeIssued)) == 1


async def test_a_fresh_login_with_remembered_consent_still_asks_a_loopback_public_client(
        http: httpx.AsyncClient, other_browser: httpx.AsyncClient, events: Recorder) -> None:
    await get_code(http, new_flow())  # consent remembered for the user
    response = await authorize(other_browser, new_flow())  # no session in this browser
    page = await other_browser.get(response.headers["location"])
    assert 'name="password"' in page.text
    after = await other_browser.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    assert after.status_code == 303
    await assert_asks_for_consent(other_browser, after)
    assert len(events.of(CodeIssued)) == 1


async def test_a_confidential_client_stays_silent_with_remembered_consent(
        http: httpx.AsyncClient) -> None:
    await get_code(http, new_flow(WEB_ID, WEB_REDIRECT))
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    assert_code(await authorize(http, flow, prompt="none"), flow)


async def test_a_public_client_with_an_https_redirect_stays_silent_with_remembered_consent(
        http: httpx.AsyncClient) -> None:
    await get_code(http, new_flow(SPA_ID, SPA_REDIRECT))
    flow = new_flow(SPA_ID, SPA_REDIRECT)
    assert_code(await authorize(http, flow), flow)
    flow = new_flow(SPA_ID, SPA_REDIRECT)
    assert_code(await authorize(http, flow, prompt="none"), flow)


@pytest.mark.parametrize(("client_id", "redirect_uri"), [(CLI_ID, CLI_REDIRECT),
                                                         (SPA_ID, SPA_REDIRECT)])
async def test_a_device_approval_does_not_make_a_later_authorization_silent(
        http: httpx.AsyncClient, other_browser: httpx.AsyncClient, events: Recorder,
        client_id: str, redirect_uri: str) -> None:
    body = await started(other_browser, client_id, scope="openid profile")
    await approve(http, body["user_code"])  # signs in and approves in this browser
    flow = new_flow(client_id, redirect_uri)
    response = await authorize(http, flow, prompt="none")
    query = query_of(response.headers["location"])
    assert query.get("error") == "consent_required", query
    assert not events.of(CodeIssued)
