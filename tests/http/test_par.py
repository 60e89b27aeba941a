"""Pushed authorization requests (RFC 9126) over HTTP against the real app."""

from __future__ import annotations

import time

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.models import Secret
from proofkey.settings import Settings
from proofkey.store import open_store
from tests.helpers import (
    PASSWORD,
    PUBLIC_ID,
    USERNAME,
    WEB_ID,
    action_of,
    authorize_params,
    csrf_of,
    exchange,
    new_flow,
    query_of,
)

STRICT_ID = "par-only"
STRICT_REDIRECT = "http://127.0.0.1/par-cb"


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:  # type: ignore[override]
    store = open_store(settings.effective_database_url)
    await store.migrate()
    scopes = settings.scopes_supported
    await register_client(store, STRICT_ID, client_type="public", redirect_uris=[STRICT_REDIRECT],
                          scopes=scopes, supported_scopes=scopes, require_par=True,
                          now=int(time.time()))
    await store.close()
    return seeded


async def _push(http: httpx.AsyncClient, params: dict[str, str],
                **auth: str) -> httpx.Response:
    return await http.post("/par", data={**params, **auth})


async def _login_from(http: httpx.AsyncClient, location: str) -> str:
    """Finish login and consent after /authorize; return the final redirect's URL."""
    page = await http.get(location)
    response = await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    location = response.headers["location"]
    if location.startswith("/interaction/"):
        page = await http.get(location)
        response = await http.post(action_of(page.text), data={
            "csrf": csrf_of(page.text), "decision": "allow"})
        location = response.headers["location"]
    return str(location)


async def test_a_pushed_request_completes_the_code_flow_with_only_a_request_uri_in_front(
    http: httpx.AsyncClient,
) -> None:
    flow = new_flow()
    pushed = await _push(http, authorize_params(flow))
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["cache-control"] == "no-store"
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < body["expires_in"] < 600  # RFC 9126 §2.2
    response = await http.get("/authorize", params={
        "client_id": PUBLIC_ID, "request_uri": body["request_uri"]})
    assert response.status_code == 303
    final = query_of(await _login_from(http, response.headers["location"]))
    assert final["state"] == flow.state
    assert final["iss"] == "http://127.0.0.1:8000"
    tokens = await exchange(http, flow, final["code"])
    assert tokens.status_code == 200, tokens.text


async def test_a_request_uri_works_once(http: httpx.AsyncClient) -> None:
    flow = new_flow()
    request_uri = (await _push(http, authorize_params(flow))).json()["request_uri"]
    first = await http.get("/authorize", params={"client_id": PUBLIC_ID,
                                                  "request_uri": request_uri})
    assert first.status_code == 303
    again = await http.get("/authorize", params={"client_id": PUBLIC_ID,
                                                  "request_uri": request_uri})
    assert again.status_code == 400
    assert "invalid_request_uri" in again.text
    assert "location" not in again.headers


async def test_a_request_uri_of_another_client_is_refused_without_redirect(
    http: httpx.AsyncClient,
) -> None:
    request_uri = (await _push(http, authorize_params(new_flow()))).json()["request_uri"]
    response = await http.get("/authorize", params={"client_id": STRICT_ID,
                                                     "request_uri": request_uri})
    assert response.status_code == 400
    assert "invalid_request_uri" in response.text
    assert "location" not in response.headers


@pytest.mark.parametrize("request_uri", [
    "urn:ietf:params:oauth:request_uri:made-up", "urn:ietf:params:oauth:request_uri:",
    "urn:ietf:params:oauth:request_uri:" + "x" * 300])
async def test_an_unknown_request_uri_is_an_error_page(http: httpx.AsyncClient,
                                                       request_uri: str) -> None:
    response = await http.get("/authorize", params={"client_id": PUBLIC_ID,
                                                     "request_uri": request_uri})
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_a_foreign_request_uri_is_request_uri_not_supported(
    http: httpx.AsyncClient,
) -> None:
    flow = new_flow()
    response = await http.get("/authorize", params=authorize_params(
        flow, request_uri="https://client.example/request.jwt"))
    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "request_uri_not_supported"


@pytest.mark.parametrize(("change", "error"), [
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"redirect_uri": "http://127.0.0.1/elsewhere"}, "invalid_request"),
    ({"request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request"),
])
async def test_a_bad_pushed_request_is_refused_as_json_and_stores_nothing(
    http: httpx.AsyncClient, change: dict[str, str | None], error: str,
) -> None:
    response = await _push(http, authorize_params(new_flow(), **change))
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


async def test_par_authenticates_confidential_clients(http: httpx.AsyncClient,
                                                      web_secret: str) -> None:
    flow = new_flow(WEB_ID, "https://app.example.com/cb")
    refused = await _push(http, authorize_params(flow))
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    accepted = await http.post("/par", data=authorize_params(flow), auth=(WEB_ID, web_secret))
    assert accepted.status_code == 201
    assert web_secret not in accepted.text


async def test_a_client_that_requires_par_cannot_use_the_front_channel(
    http: httpx.AsyncClient,
) -> None:
    flow = new_flow(STRICT_ID, STRICT_REDIRECT)
    response = await http.get("/authorize", params=authorize_params(flow))
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert "pushed" in query["error_description"]
    pushed = await _push(http, authorize_params(flow))
    assert pushed.status_code == 201
    ok = await http.get("/authorize", params={"client_id": STRICT_ID,
                                              "request_uri": pushed.json()["request_uri"]})
    assert ok.status_code == 303
    assert ok.headers["location"].startswith("/interaction/")


async def test_discovery_advertises_par(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["pushed_authorization_request_endpoint"] == "http://127.0.0.1:8000/par"
    assert metadata["require_pushed_authorization_requests"] is False
