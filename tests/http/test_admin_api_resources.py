"""Resources (RFC 8707) and registration tokens (RFC 7591 §3) through the admin API, over HTTP
on SQLite and PostgreSQL: validation, ids in paths, ETags, and tokens shown once that
POST /register then accepts."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from proofkey.settings import Settings

from .admin_api import admin_token, conforms, problem, send

ORDERS = {"uri": "https://orders.example/api", "scopes": ["orders:read", "orders:write"],
          "name": "Orders"}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"registration": "token"}


@pytest.fixture
async def token(settings: Settings) -> str:
    return (await admin_token(settings, ["resources:read", "resources:write",
                                         "registration-tokens:read",
                                         "registration-tokens:write", "clients:write"]))[0]


async def test_a_resource_is_registered_read_and_removed(http: httpx.AsyncClient,
                                                         token: str) -> None:
    created = await send(http, "POST", "/resources", token, ORDERS)
    assert created.status_code == 201, created.text
    await conforms(http, created, "createResource")
    body = created.json()
    assert body["id"] == base64.urlsafe_b64encode(ORDERS["uri"].encode()).decode().rstrip("=")
    assert body["scopes"] == ["orders:read", "orders:write"]
    read = await send(http, "GET", f"/resources/{body['id']}", token)
    assert read.json() == body
    assert read.headers["etag"] == created.headers["etag"]
    await conforms(http, read, "getResource")
    listed = (await send(http, "GET", "/resources", token)).json()
    assert listed == {"items": [body], "next_cursor": None}
    problem(await send(http, "POST", "/resources", token, ORDERS), 409, "exists")
    # its scopes are now known: a client may be registered for them
    client = await send(http, "POST", "/clients", token, {
        "client_id": "orders-bot", "type": "confidential", "scopes": ["orders:read"],
        "grant_types": ["client_credentials"]})
    assert client.status_code == 201, client.text
    problem(await send(http, "DELETE", f"/resources/{body['id']}", token), 428,
            "precondition-required")
    removed = await send(http, "DELETE", f"/resources/{body['id']}", token,
                         **{"if-match": read.headers["etag"]})
    assert removed.status_code == 204
    problem(await send(http, "GET", f"/resources/{body['id']}", token), 404, "not-found")
    problem(await send(http, "GET", "/resources/!!", token), 404, "not-found")


@pytest.mark.parametrize("change", [
    {"uri": "http://orders.example/api"}, {"uri": "https://orders.example/api#x"},
    {"uri": "orders"}, {"scopes": ["has space"]}])
async def test_a_bad_resource_is_refused(http: httpx.AsyncClient, token: str,
                                         change: dict[str, object]) -> None:
    response = await send(http, "POST", "/resources", token, {**ORDERS, **change})
    assert response.status_code == 422, response.text
    assert response.json()["type"] in {"urn:proofkey:problem:invalid-resource",
                                       "urn:proofkey:problem:invalid-body"}


async def test_a_registration_token_is_shown_once_and_registers_a_client(
        http: httpx.AsyncClient, token: str) -> None:
    created = await send(http, "POST", "/registration-tokens", token,
                         {"lifetime_seconds": 3600, "uses": 1})
    assert created.status_code == 201, created.text
    await conforms(http, created, "createRegistrationToken")
    body = created.json()
    initial = body.pop("token")
    assert body["uses_left"] == 1
    listed = await send(http, "GET", "/registration-tokens", token)
    await conforms(http, listed, "listRegistrationTokens")
    assert initial not in listed.text
    assert listed.json()["items"] == [body]
    registered = await http.post("/register", content=json.dumps({
        "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}),
        headers={"content-type": "application/json", "authorization": f"Bearer {initial}"})
    assert registered.status_code == 201, registered.text
    read = await send(http, "GET", f"/registration-tokens/{body['token_id']}", token)
    assert read.json()["uses_left"] == 0
    problem(await send(http, "DELETE", f"/registration-tokens/{body['token_id']}", token,
                       **{"if-match": created.headers["etag"]}), 412, "precondition-failed")
    removed = await send(http, "DELETE", f"/registration-tokens/{body['token_id']}", token,
                         **{"if-match": read.headers["etag"]})
    assert removed.status_code == 204
    problem(await send(http, "GET", f"/registration-tokens/{body['token_id']}", token), 404,
            "not-found")


@pytest.mark.parametrize("body", [
    {}, {"lifetime_seconds": 0}, {"lifetime_seconds": 10**12}, {"lifetime_seconds": "1h"},
    {"lifetime_seconds": 60, "uses": 0}, {"lifetime_seconds": 60, "uses": True},
    {"lifetime_seconds": 60, "extra": 1}])
async def test_a_bad_registration_token_request_is_refused(
        http: httpx.AsyncClient, token: str, body: dict[str, object]) -> None:
    problem(await send(http, "POST", "/registration-tokens", token, body), 422, "invalid-body")
