"""The admin API's door, over HTTP on SQLite and PostgreSQL: bearer admin tokens (missing,
wrong, expired, revoked, short of a scope), access tokens from client_credentials carrying
admin scopes, the audit line of each call, and the RFC 9457 shape of every refusal."""

from __future__ import annotations

import time

import httpx
import pytest

from proofkey.flows.admin_tokens import admin_audience
from proofkey.flows.resources import register_resource
from proofkey.observability.events import AdminApiCall
from proofkey.settings import Settings
from proofkey.store import open_store
from tests.conftest import Recorder
from tests.helpers import ISSUER, WEB_ID

from .admin_api import API, admin_token, bearer, problem, send


async def test_a_call_without_a_token_is_a_401_problem_with_a_bearer_challenge(
        http: httpx.AsyncClient) -> None:
    response = await http.get(API + "/clients")
    problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer ")


@pytest.mark.parametrize("header", [
    "Bearer pka_" + "A" * 43, "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer ",
    "Bearer a.b.c"])
async def test_an_unknown_or_malformed_token_is_refused(http: httpx.AsyncClient,
                                                        header: str) -> None:
    response = await http.get(API + "/clients", headers={"authorization": header})
    body = problem(response, 401, "unauthorized")
    assert "pka_" not in body["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_an_admin_token_works_until_revoked(http: httpx.AsyncClient, settings: Settings,
                                                  events: Recorder) -> None:
    token, token_id = await admin_token(settings, ["clients:read"])
    assert (await send(http, "GET", "/clients", token)).status_code == 200
    store = open_store(settings.effective_database_url)
    try:
        listed = {t.token_id: t for t in await store.list_admin_tokens()}
        assert token not in repr(listed)
        assert listed[token_id].scopes == ("clients:read",)
        assert await store.revoke_admin_token(token_id, int(time.time()))
        assert not await store.revoke_admin_token(token_id, int(time.time()))
    finally:
        await store.close()
    problem(await send(http, "GET", "/clients", token), 401, "unauthorized")
    calls = [e for e in events.of(AdminApiCall) if isinstance(e, AdminApiCall)]
    assert [(c.actor, c.operation, c.status) for c in calls] == [
        (f"admin-token:{token_id}", "listClients", 200),
        ("anonymous", "listClients", 401)]
    assert all(token not in repr(c) for c in calls)


async def test_an_expired_admin_token_is_refused(http: httpx.AsyncClient,
                                                 settings: Settings) -> None:
    token, _ = await admin_token(settings, ["clients:read"], lifetime=60,
                                 now=int(time.time()) - 61)
    problem(await send(http, "GET", "/clients", token), 401, "unauthorized")


async def test_a_token_without_the_scope_gets_a_403_problem_naming_it(
        http: httpx.AsyncClient, settings: Settings, events: Recorder) -> None:
    token, token_id = await admin_token(settings, ["clients:read"])
    response = await send(http, "POST", "/clients", token,
                          {"client_id": "x", "type": "public"})
    body = problem(response, 403, "insufficient-scope")
    assert "clients:write" in body["detail"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    problem(await send(http, "GET", "/resources", token), 403, "insufficient-scope")
    [call] = [e for e in events.of(AdminApiCall) if isinstance(e, AdminApiCall)][:1]
    assert call == AdminApiCall(f"admin-token:{token_id}", "createClient", "", 403,
                                "insufficient-scope")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"client_cache_ms": 0}


async def _client_with_admin_scope(settings: Settings, http: httpx.AsyncClient,
                                   token: str) -> tuple[str, str]:
    """Register the admin API as a resource and a client allowed admin:clients:read."""
    store = open_store(settings.effective_database_url)
    try:
        await register_resource(store, admin_audience(ISSUER),
                                scopes=["admin:clients:read", "admin:resources:read"],
                                now=int(time.time()))
    finally:
        await store.close()
    created = await send(http, "POST", "/clients", token, {
        "client_id": "automation", "type": "confidential", "grant_types": ["client_credentials"],
        "scopes": ["admin:clients:read"]})
    assert created.status_code == 201, created.text
    return "automation", created.json()["client_secret"]


@pytest.mark.parametrize("with_resource", [True, False])
async def test_an_access_token_from_client_credentials_with_an_admin_scope_is_accepted(
        http: httpx.AsyncClient, settings: Settings, events: Recorder,
        with_resource: bool) -> None:
    writer, _ = await admin_token(settings, ["clients:write"])
    client_id, secret = await _client_with_admin_scope(settings, http, writer)
    form = {"grant_type": "client_credentials", "scope": "admin:clients:read"}
    if with_resource:
        form["resource"] = admin_audience(ISSUER)
    issued = await http.post("/token", data=form, auth=(client_id, secret))
    assert issued.status_code == 200, issued.text
    access = issued.json()["access_token"]
    listed = await http.get(API + "/clients", headers=bearer(access))
    assert listed.status_code == 200, listed.text
    assert client_id in [c["client_id"] for c in listed.json()["items"]]
    problem(await http.get(API + "/resources", headers=bearer(access)), 403,
            "insufficient-scope")
    calls = [e for e in events.of(AdminApiCall) if isinstance(e, AdminApiCall)]
    assert (calls[-2].actor, calls[-2].status) == (f"client:{client_id}", 200)


async def test_an_access_token_without_admin_scopes_grants_nothing(
        http: httpx.AsyncClient, web_secret: str) -> None:
    issued = await http.post("/token", data={"grant_type": "client_credentials",
                                             "scope": "profile"}, auth=(WEB_ID, web_secret))
    assert issued.status_code == 200, issued.text
    response = await http.get(API + "/clients", headers=bearer(issued.json()["access_token"]))
    problem(response, 403, "insufficient-scope")


async def test_a_revoked_access_token_is_refused(http: httpx.AsyncClient,
                                                 settings: Settings) -> None:
    writer, _ = await admin_token(settings, ["clients:write"])
    client_id, secret = await _client_with_admin_scope(settings, http, writer)
    access = (await http.post("/token", data={
        "grant_type": "client_credentials", "scope": "admin:clients:read"},
        auth=(client_id, secret))).json()["access_token"]
    revoked = await http.post("/revoke", data={"token": access}, auth=(client_id, secret))
    assert revoked.status_code == 200
    problem(await http.get(API + "/clients", headers=bearer(access)), 401, "unauthorized")


# --- the shape of every refusal ----------------------------------------------------------


async def test_unknown_paths_and_methods_are_problems(http: httpx.AsyncClient,
                                                      settings: Settings) -> None:
    token, _ = await admin_token(settings)
    problem(await send(http, "GET", "/nothing", token), 404, "not-found")
    problem(await http.get("/admin/api/v2/clients"), 404, "not-found")
    # a newline in the path: no route pattern matches it at all (found by schemathesis)
    problem(await send(http, "GET", "/clients/%0A%21", token), 404, "not-found")
    problem(await http.get("/admin/api/%0A"), 404, "not-found")
    response = await send(http, "PUT", "/clients", token, {})
    problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET, POST"
    problem(await http.post("/admin/api/openapi.json"), 405, "method-not-allowed")


async def test_bodies_must_be_json_of_bounded_size(http: httpx.AsyncClient,
                                                   settings: Settings) -> None:
    token, _ = await admin_token(settings)
    problem(await send(http, "POST", "/clients", token, b"client_id=x",
                       **{"content-type": "application/x-www-form-urlencoded"}),
            415, "unsupported-media-type")
    problem(await send(http, "POST", "/clients", token, b"{not json"), 400, "malformed-json")
    problem(await send(http, "POST", "/clients", token, b'{"a": 1, "a": 2}'), 400,
            "malformed-json")
    problem(await send(http, "POST", "/clients", token, b"[" * 100 + b"]" * 100), 400,
            "malformed-json")
    big = {"client_id": "x", "type": "public", "name": "n" * 70_000}
    problem(await send(http, "POST", "/clients", token, big), 413, "too-large")


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 2048}])
async def test_the_servers_own_body_cap_answers_with_a_problem_too(
        http: httpx.AsyncClient, settings: Settings) -> None:
    token, _ = await admin_token(settings)
    body = {"client_id": "x", "type": "public", "name": "n" * 3000}
    problem(await send(http, "POST", "/clients", token, body), 413, "too-large")


async def test_unknown_fields_and_bad_values_are_refused_field_by_field(
        http: httpx.AsyncClient, settings: Settings) -> None:
    token, _ = await admin_token(settings)
    body = problem(await send(http, "POST", "/clients", token, {
        "client_id": "ok", "type": "sideways", "redirect_uris": "https://a.example/cb",
        "secret": "x", "require_pushed_authorization_requests": "yes"}), 422, "invalid-body")
    pointers = {e["pointer"]: e["detail"] for e in body["errors"]}
    assert pointers == {"/type": "must be one of confidential, public",
                        "/redirect_uris": "must be an array",
                        "/secret": "is not a known field",
                        "/require_pushed_authorization_requests": "must be true or false"}
    missing = problem(await send(http, "POST", "/clients", token, {}), 422, "invalid-body")
    assert {e["pointer"] for e in missing["errors"]} == {"/client_id", "/type"}


async def test_query_parameters_are_validated(http: httpx.AsyncClient,
                                              settings: Settings) -> None:
    token, _ = await admin_token(settings)
    for query in ("limit=0", "limit=201", "limit=ten", "limit=1&limit=2", "color=red",
                  "cursor=%25%25"):
        problem(await send(http, "GET", "/clients?" + query, token), 400, "invalid-query")
    problem(await send(http, "GET", "/clients?cursor=bm90LWpzb24", token), 400,
            "invalid-cursor")


async def test_the_openapi_document_describes_every_operation(http: httpx.AsyncClient) -> None:
    response = await http.get("/admin/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    operations = {op["operationId"]: op for path in doc["paths"].values()
                  for op in path.values()}
    assert {"listClients", "createClient", "getClient", "updateClient", "deleteClient",
            "rotateClientSecret", "listResources", "createResource",
            "createRegistrationToken"} <= set(operations)
    create = operations["createClient"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False
    assert create["security"] == [{"bearer": ["clients:write"]}]
    assert {p["name"] for p in operations["updateClient"]["parameters"]} == {
        "client_id", "If-Match"}


async def test_admin_port_serves_the_api_and_the_main_port_does_not(
        tmp_path: object, settings: Settings) -> None:
    from dataclasses import replace

    from proofkey.web.app import create_app

    app = create_app(replace(settings, admin_port=1))  # never bound: lifespan not run
    paths = [getattr(r, "path", "") for r in app.routes]
    assert "/admin/api" not in paths
    plain = create_app(settings)
    assert "/admin/api" in [getattr(r, "path", "") for r in plain.routes]
