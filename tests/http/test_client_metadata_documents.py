"""Clients identified by a Client ID Metadata Document, over HTTP against the real app: the
server fetches the document at the https client_id (a real https server on loopback, its
private CA trusted through SSL_CERT_FILE) and the client then works like a registered one —
always asking for consent, its host shown, its id never a metric label."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from proofkey.models import Secret
from proofkey.observability.events import ClientMetadataFetched, EventBus
from proofkey.protocol.device import DEVICE_GRANT_TYPE
from proofkey.settings import Settings
from proofkey.web.app import create_app
from tests.conftest import Recorder
from tests.docserver import DocServer, running_docserver
from tests.helpers import (
    ISSUER,
    PASSWORD,
    USERNAME,
    TestClock,
    action_of,
    authorize_params,
    csrf_of,
    exchange,
    new_flow,
    query_of,
)
from tests.http.test_device_grant import INTERVAL, decide, enter_code, poll, sign_in
from tests.http.test_device_grant import started as device_started
from tests.http.test_token_code_grant import assert_oauth_error, shift_clock
from tests.observability.scrape import key, scrape

REDIRECT = "http://127.0.0.1/callback"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"client_metadata_documents": True, "client_metadata_allow_loopback": True}


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DocServer]:
    for server in running_docserver(tmp_path):
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # the private CA
        yield server


@pytest.fixture
async def http(settings: Settings, seeded: Secret, events: Recorder,
               docs: DocServer) -> AsyncIterator[httpx.AsyncClient]:
    bus = EventBus()
    bus.subscribe(events)
    app = create_app(settings, bus=bus, clock=TestClock())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER) as client:
        yield client


async def consent_page(http: httpx.AsyncClient, url: str,
                       redirect_uri: str = REDIRECT) -> httpx.Response:
    """From /authorize through the login page to the consent page (signing in if asked)."""
    response = await http.get("/authorize", params=authorize_params(
        new_flow(url, redirect_uri)))
    assert response.status_code == 303, response.text
    page = await http.get(response.headers["location"])
    if 'name="password"' in page.text:
        assert "<strong>localhost</strong>" in page.text  # the login page names the host
        response = await http.post(action_of(page.text), data={
            "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
        page = await http.get(response.headers["location"])
    assert 'name="decision"' in page.text, page.text
    return page


async def test_discovery_advertises_metadata_document_support(
        http: httpx.AsyncClient) -> None:
    body = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert body["client_id_metadata_document_supported"] is True


async def test_a_pkce_login_and_token_exchange_work_for_a_metadata_document_client(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    url = docs.document("/client.json", client_name="<b>Tool</b>")
    flow = new_flow(url, REDIRECT)
    response = await http.get("/authorize", params=authorize_params(flow))
    page = await http.get(response.headers["location"])
    response = await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    page = await http.get(response.headers["location"])
    # The host, prominently; the self-chosen name escaped, never as markup.
    assert '<strong class="client-host" id="client-host">localhost</strong>' in page.text
    assert "&lt;b&gt;Tool&lt;/b&gt;" in page.text
    assert "<b>Tool</b>" not in page.text
    response = await http.post(action_of(page.text), data={"csrf": csrf_of(page.text),
                                                          "decision": "allow"})
    code = query_of(response.headers["location"])["code"]
    tokens = await exchange(http, flow, code)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["scope"] == "openid profile"
    assert body["refresh_token"]
    refreshed = await http.post("/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
        "client_id": url})
    assert refreshed.status_code == 200, refreshed.text
    revoked = await http.post("/revoke", data={
        "token": refreshed.json()["refresh_token"], "client_id": url})
    assert revoked.status_code == 200
    assert docs.hits["/client.json"] == 1  # fetched once, then cached


async def test_consent_is_asked_every_time_and_prompt_none_never_gets_a_code(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    """Even with an https redirect, which makes a registered public client's remembered
    consent silent: whoever controls a URL can mint such a client."""
    web = "https://tool.example/cb"
    url = docs.document("/client.json", redirect_uris=[web])
    page = await consent_page(http, url, web)
    allowed = await http.post(action_of(page.text), data={"csrf": csrf_of(page.text),
                                                          "decision": "allow"})
    assert "code" in query_of(allowed.headers["location"])
    silent = await http.get("/authorize", params=authorize_params(
        new_flow(url, web), prompt="none"))
    assert query_of(silent.headers["location"])["error"] == "consent_required"
    await consent_page(http, url, web)  # remembered consent does not make it silent


async def test_a_document_that_breaks_a_rule_is_an_error_page_naming_it_never_a_redirect(
        http: httpx.AsyncClient, docs: DocServer, events: Recorder) -> None:
    url = docs.document("/client.json", client_id="https://other.example/client.json")
    response = await http.get("/authorize", params=authorize_params(new_flow(url, REDIRECT)))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "PKL071" in response.text
    assert "must equal" in response.text
    fetched = [e for e in events.of(ClientMetadataFetched)
               if isinstance(e, ClientMetadataFetched)]
    assert [(e.outcome, e.detail) for e in fetched] == [("refused", "PKL071")]


async def test_a_document_that_cannot_be_fetched_is_an_error_page_naming_the_problem(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    response = await http.get("/authorize", params=authorize_params(
        new_flow(docs.url("/missing.json"), REDIRECT)))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "could not be fetched" in response.text
    assert "404" in response.text


async def test_the_token_endpoint_answers_invalid_client_for_an_unusable_document(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    url = docs.document("/client.json", token_endpoint_auth_method="client_secret_post")
    response = await http.post("/token", data={
        "grant_type": "authorization_code", "client_id": url, "code": "x",
        "code_verifier": "y" * 43, "redirect_uri": REDIRECT})
    body = assert_oauth_error(response, "invalid_client", status=401)
    assert "PKL072" in body["error_description"]


async def test_a_metadata_document_client_can_push_an_authorization_request(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    url = docs.document("/client.json")
    response = await http.post("/par", data=authorize_params(new_flow(url, REDIRECT)))
    assert response.status_code == 201, response.text
    assert response.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")


async def test_metrics_count_metadata_document_clients_under_one_label(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    urls = [docs.document(f"/c{i}.json") for i in range(3)]
    for url in urls:
        await consent_page(http, url)
    samples = await scrape(http)
    labels = {dict(labels).get("client_id") for _, labels in samples}
    assert "metadata_document" in labels
    assert not any(label and label.startswith("https://") for label in labels)
    assert samples[key("proofkey_client_metadata_fetches_total", outcome="fetched")] == 3


async def test_with_the_setting_off_a_url_client_id_is_an_unknown_client(
        settings: Settings, seeded: Secret, docs: DocServer) -> None:
    app = create_app(dataclasses.replace(settings, client_metadata_documents=False),
                     clock=TestClock())
    url = docs.document("/client.json")
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
        body = (await http.get("/.well-known/oauth-authorization-server")).json()
        assert "client_id_metadata_document_supported" not in body
        response = await http.get("/authorize", params=authorize_params(
            new_flow(url, REDIRECT)))
        assert response.status_code == 400
        assert "unknown client_id" in response.text
    assert docs.hits["/client.json"] == 0


async def test_a_metadata_document_client_can_use_the_device_grant_showing_its_host(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    url = docs.document("/tv.json", redirect_uris=[], grant_types=[DEVICE_GRANT_TYPE],
                        client_name="TV")
    async with httpx.AsyncClient(transport=http._transport, base_url=ISSUER) as device:
        started_ = await device_started(device, url, scope="openid profile")
        await sign_in(http)
        confirm = await enter_code(http, started_["user_code"])
        assert '<strong class="client-host" id="client-host">localhost</strong>' in confirm.text
        done = await decide(http, confirm, "allow")
        assert done.status_code == 200
        shift_clock(device, INTERVAL)
        tokens = await poll(device, started_["device_code"], client_id=url)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid profile"


@pytest.mark.parametrize("settings_overrides", [{
    "client_metadata_documents": True, "client_metadata_allow_loopback": True,
    "resources": ["https://mcp.example.com/mcp mcp:tools"]}])
async def test_a_document_may_ask_for_the_scopes_a_registered_resource_declares(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    """An MCP client's document names its server's scope: known through the resource
    (RFC 8707), as for a client registered any other way."""
    url = docs.document("/mcp-client.json", scope="openid profile mcp:tools")
    await consent_page(http, url)
    unknown = docs.document("/unknown.json", scope="openid z:nothing")
    refused = await http.get("/authorize", params=authorize_params(new_flow(unknown, REDIRECT)))
    assert refused.status_code == 400
    assert "z:nothing" in refused.text
