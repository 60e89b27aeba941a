"""Dynamic client registration (RFC 7591) and its management (RFC 7592) over HTTP against the
real app, on SQLite and PostgreSQL: the modes, the one policy shared with `proofkey lint`, the
initial access tokens, and a registered client that then logs a person in with PKCE."""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from proofkey.crypto import fingerprint
from proofkey.flows.initial_tokens import create_initial_token
from proofkey.observability.events import ClientRegistration, EventBus
from proofkey.ops import lint_client
from proofkey.protocol.client_policy import Policy
from proofkey.protocol.registration import error_for_rule
from proofkey.settings import Settings, load_settings
from proofkey.store import open_store
from proofkey.web import app as app_module
from proofkey.web.app import create_app
from tests.conftest import Recorder
from tests.helpers import (
    ISSUER,
    PASSWORD,
    PUBLIC_ID,
    USERNAME,
    action_of,
    csrf_of,
    exchange,
    get_code,
    new_flow,
)
from tests.http.test_token_code_grant import app_services
from tests.scale.conftest import REDIS_URL, missing, reachable

NATIVE = {"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
          "grant_types": ["authorization_code", "refresh_token"], "client_name": "CLI tool"}
WEB = {"redirect_uris": ["https://app.example/cb"], "client_name": "Web",
       "token_endpoint_auth_method": "client_secret_basic",
       "grant_types": ["authorization_code", "refresh_token"]}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"registration": "open"}


async def post(http: httpx.AsyncClient, body: object, token: str | None = None,
               **headers: str) -> httpx.Response:
    sent = {"content-type": "application/json", **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    return await http.post("/register", content=json.dumps(body), headers=sent)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def initial_token(settings: Settings, *, uses: int = 1, lifetime: int = 3600) -> str:
    store = open_store(settings.effective_database_url)
    await store.migrate()
    try:
        made = await create_initial_token(store, lifetime=lifetime, uses=uses,
                                          now=int(time.time()))
    finally:
        await store.close()
    return made.token.reveal()


# --- registration ---------------------------------------------------------------------------

async def test_a_public_client_registers_and_gets_an_id_and_a_management_token(
        http: httpx.AsyncClient) -> None:
    response = await post(http, NATIVE)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    # 128 random bits in hex: never a leading "-" that a shell tool reads as an option
    # (`proofkey client show -eAJ…` failed), nothing to quote in a URL or a log line.
    assert re.fullmatch(r"[0-9a-f]{32}", body["client_id"]), body["client_id"]
    assert body["registration_client_uri"] == f"http://127.0.0.1:8000/register/{body['client_id']}"
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    assert body["redirect_uris"] == NATIVE["redirect_uris"]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert body["client_name"] == "CLI tool"
    assert isinstance(body["client_id_issued_at"], int)
    assert len(body["registration_access_token"]) >= 43
    again = (await post(http, NATIVE)).json()
    assert again["client_id"] != body["client_id"]


async def test_a_confidential_client_gets_a_secret_that_does_not_expire(
        http: httpx.AsyncClient) -> None:
    body = (await post(http, {**WEB, "client_uri": "https://app.example/",
                              "logo_uri": "https://app.example/logo.png"})).json()
    assert len(body["client_secret"]) >= 43
    assert body["client_secret_expires_at"] == 0
    assert body["client_uri"] == "https://app.example/"
    assert body["logo_uri"] == "https://app.example/logo.png"
    token = await http.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": "nothing"},
                            auth=(body["client_id"], body["client_secret"]))
    assert token.json()["error"] == "invalid_grant"  # authenticated: the secret works


async def test_an_omitted_scope_is_the_documented_default_and_unknown_ones_are_refused(
        http: httpx.AsyncClient, settings: Settings) -> None:
    body = (await post(http, NATIVE)).json()
    assert body["scope"].split() == sorted(settings.registration_scopes)
    assert "email" not in body["scope"].split()
    asked = (await post(http, {**NATIVE, "scope": "openid email"})).json()
    assert asked["scope"] == "email openid"
    refused = await post(http, {**NATIVE, "scope": "openid admin"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert refused.json()["error_description"].endswith("[PKL058]")


@pytest.mark.parametrize("settings_overrides", [{"registration": "open",
                                                 "scopes_supported": "openid profile email"}])
async def test_the_default_scope_keeps_to_the_scopes_the_server_knows(
        http: httpx.AsyncClient) -> None:
    assert (await post(http, NATIVE)).json()["scope"] == "openid profile"


# The clients `proofkey lint` flags (tests/ops/test_lint.py): registration refuses each, naming
# a rule. Where lint speaks of another provider's spelling (implicit, password), the metadata
# shape rule refuses first (PKL052, PKL053): the same decision, its own id. What lint only
# warns about in other providers' exports (localhost, PKL013; a private-use scheme that is not
# a reverse domain, PKL016) registration refuses (PKL016), as protocol/client_policy says.
POLICY_CASES = [
    ({"redirect_uris": ["https://x.example/*"]}, "PKL010", "PKL010"),
    ({"redirect_uris": ["https://*.example.com/cb"]}, "PKL010", "PKL010"),
    ({"redirect_uris": ["http://app.example.com/cb"]}, "PKL012", "PKL012"),
    ({"redirect_uris": ["https://app.example.com/cb#frag"]}, "PKL014", "PKL014"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "PKL015", "PKL015"),
    ({"redirect_uris": ["data:text/html,hi"]}, "PKL015", "PKL015"),
    ({"redirect_uris": ["vbscript:msgbox"]}, "PKL015", "PKL015"),
    ({"redirect_uris": ["/relative/cb"]}, "PKL016", "PKL016"),
    ({"redirect_uris": ["http://localhost/cb"]}, "PKL013", "PKL016"),
    ({"redirect_uris": ["myapp:/cb"]}, "PKL016", "PKL016"),
    ({"redirect_uris": []}, "PKL017", "PKL017"),
    ({"grant_types": ["client_credentials"], "response_types": [],
      "redirect_uris": []}, "PKL023", "PKL023"),
    ({"response_types": ["token"]}, "PKL020", "PKL052"),
    ({"grant_types": ["password"]}, "PKL021", "PKL053"),
]


@pytest.mark.parametrize(("change", "lint_rule", "rule"), POLICY_CASES)
async def test_registration_refuses_what_lint_flags_and_names_the_rule(
        http: httpx.AsyncClient, change: dict[str, Any], lint_rule: str, rule: str) -> None:
    metadata = {**NATIVE, **change}
    linted = lint_client.lint(lint_client.view_of({**metadata, "code_challenge_method": "S256"},
                                                  "c"), Policy())
    assert lint_rule in {i.rule for i in linted}, linted
    response = await post(http, metadata)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error_for_rule(rule)
    assert response.json()["error_description"].endswith(f"[{rule}]")


@pytest.mark.parametrize(("change", "rule"), [
    ({"redirect_uris": "http://127.0.0.1/cb"}, "PKL050"),
    ({"redirect_uris": [f"http://127.0.0.1/{i}" for i in range(11)]}, "PKL051"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "PKL054"),
    ({"logo_uri": "http://app.example/logo.png"}, "PKL055"),
    ({"grant_types": ["refresh_token"], "response_types": ["code"]}, "PKL056"),
    ({"id_token_signed_response_alg": "none"}, "PKL057"),
])
async def test_metadata_of_the_wrong_shape_is_refused_naming_the_rule(
        http: httpx.AsyncClient, change: dict[str, Any], rule: str) -> None:
    response = await post(http, {**NATIVE, **change})
    assert response.status_code == 400
    assert response.json()["error"] == error_for_rule(rule)
    assert response.json()["error_description"].endswith(f"[{rule}]")


@pytest.mark.parametrize(("content", "content_type", "error"), [
    (json.dumps(NATIVE), "application/x-www-form-urlencoded", "invalid_request"),
    (json.dumps(NATIVE), "text/plain", "invalid_request"),
    ("{not json", "application/json", "invalid_client_metadata"),
    ("[1, 2]", "application/json", "invalid_client_metadata"),
    ('{"client_name": "a", "client_name": "b"}', "application/json",
     "invalid_client_metadata"),
    ('{"x": NaN}', "application/json", "invalid_client_metadata"),
    ("[" * 16000, "application/json", "invalid_client_metadata"),
    (b"\xff\xfe{}", "application/json", "invalid_client_metadata"),
])
async def test_bad_bodies_get_a_400_json_error_never_a_500(
        http: httpx.AsyncClient, content: str | bytes, content_type: str, error: str) -> None:
    response = await http.post("/register", content=content,
                               headers={"content-type": content_type})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


async def test_an_oversize_body_is_refused_before_it_is_parsed(
        http: httpx.AsyncClient) -> None:
    async def endless() -> Any:
        for _ in range(1000):
            yield b" " * 1024

    streamed = await http.post("/register", content=endless(),
                               headers={"content-type": "application/json"})
    declared = await post(http, {**NATIVE, "pad": "x" * 20000})
    for response in (streamed, declared):
        assert response.status_code == 413
        assert response.json()["error"] == "invalid_request"


# --- modes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [{"registration": "off"}])
async def test_off_answers_404_and_is_not_advertised(http: httpx.AsyncClient) -> None:
    assert (await post(http, NATIVE)).status_code == 404
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert "registration_endpoint" not in metadata


async def test_open_and_token_modes_are_advertised(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["registration_endpoint"] == "http://127.0.0.1:8000/register"


@pytest.mark.parametrize("settings_overrides", [{"registration": "open",
                                                 "registrations_per_address": 2}])
async def test_open_registration_is_limited_per_address_with_retry_after(
        http: httpx.AsyncClient) -> None:
    assert (await post(http, {**NATIVE, "redirect_uris": ["vbscript:x"]})).status_code == 400
    assert (await post(http, NATIVE)).status_code == 201
    assert (await post(http, NATIVE)).status_code == 201
    refused = await post(http, NATIVE)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0


@pytest.mark.parametrize("settings_overrides", [{"registration": "token"}])
async def test_token_mode_needs_a_valid_initial_access_token(
        http: httpx.AsyncClient, settings: Settings) -> None:
    missing = await post(http, NATIVE)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["error"] == "invalid_token"
    wrong = await post(http, NATIVE, token="made-up")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_token")
    token = await initial_token(settings, uses=2)
    assert (await post(http, NATIVE, token=token)).status_code == 201
    refused = await post(http, {**NATIVE, "redirect_uris": ["https://x/*"]}, token=token)
    assert refused.status_code == 400  # a refusal does not take a use
    assert (await post(http, NATIVE, token=token)).status_code == 201
    used_up = await post(http, NATIVE, token=token)
    assert used_up.status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"registration": "token"}])
async def test_an_expired_initial_access_token_is_refused(
        http: httpx.AsyncClient, settings: Settings) -> None:
    token = await initial_token(settings, uses=5, lifetime=1)
    await asyncio.sleep(1.1)
    assert (await post(http, NATIVE, token=token)).status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"registration": "token"}])
async def test_the_one_use_of_a_token_goes_to_exactly_one_of_concurrent_registrations(
        http: httpx.AsyncClient, settings: Settings) -> None:
    token = await initial_token(settings, uses=1)
    answers = await asyncio.gather(*(post(http, NATIVE, token=token) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [201] + [401] * 7


# --- RFC 7592 management --------------------------------------------------------------------

async def test_the_client_reads_its_registration_with_its_token(http: httpx.AsyncClient) -> None:
    body = (await post(http, WEB)).json()
    uri, token = body["registration_client_uri"], body["registration_access_token"]
    read = await http.get(uri, headers=bearer(token))
    assert read.status_code == 200
    assert read.headers["cache-control"] == "no-store"
    seen = read.json()
    assert seen["client_id"] == body["client_id"]
    assert seen["registration_access_token"] == token
    assert seen["redirect_uris"] == WEB["redirect_uris"]
    assert "client_secret" not in seen  # kept only as a digest


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_management_without_the_right_token_is_401_and_hides_existence(
        http: httpx.AsyncClient, method: str) -> None:
    body = (await post(http, NATIVE)).json()
    other = (await post(http, NATIVE)).json()
    uri = body["registration_client_uri"]
    content = json.dumps({**NATIVE, "client_id": body["client_id"]})
    for headers in ({}, bearer("nope"), bearer(other["registration_access_token"]),
                    {"authorization": f"Basic {body['registration_access_token']}"}):
        response = await http.request(method, uri, content=content, headers={
            **headers, "content-type": "application/json"})
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")
    for unknown in ("/register/no-such-client", f"/register/{PUBLIC_ID}"):  # CLI client too
        response = await http.request(method, unknown, content=content, headers={
            **bearer(body["registration_access_token"]), "content-type": "application/json"})
        assert response.status_code == 401
    assert (await http.get(uri, headers=bearer(body["registration_access_token"]))
            ).status_code == 200  # nothing above changed or removed it


async def test_an_update_replaces_the_metadata_under_the_same_policy(
        http: httpx.AsyncClient) -> None:
    body = (await post(http, WEB)).json()
    uri, token = body["registration_client_uri"], body["registration_access_token"]
    headers = {**bearer(token), "content-type": "application/json"}
    change = {**WEB, "client_id": body["client_id"], "redirect_uris": ["https://new.example/cb"],
              "client_name": "Renamed", "registration_access_token": token,
              "client_secret": body["client_secret"]}
    updated = await http.put(uri, content=json.dumps(change), headers=headers)
    assert updated.status_code == 200, updated.text
    seen = updated.json()
    assert (seen["client_id"], seen["redirect_uris"], seen["client_name"]) == (
        body["client_id"], ["https://new.example/cb"], "Renamed")
    assert "client_secret" not in seen  # the secret stays what it was
    token_request = await http.post("/token", data={"grant_type": "refresh_token",
                                                    "refresh_token": "x"},
                                    auth=(body["client_id"], body["client_secret"]))
    assert token_request.json()["error"] == "invalid_grant"  # still authenticates
    refused = await http.put(uri, content=json.dumps(
        {**change, "redirect_uris": ["https://x.example/*"]}), headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_redirect_uri")
    assert refused.json()["error_description"].endswith("[PKL010]")
    for bad in ({**change, "client_id": "other"}, {k: v for k, v in change.items()
                                                   if k != "client_id"},
                {**change, "client_secret": "guess"}):
        answer = await http.put(uri, content=json.dumps(bad), headers=headers)
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_client_metadata")
    assert (await http.get(uri, headers=bearer(token))).json()["client_name"] == "Renamed"


async def test_a_registered_public_client_logs_a_person_in_with_pkce_then_deletes_itself(
        http: httpx.AsyncClient) -> None:
    body = (await post(http, {**NATIVE, "scope": "openid profile offline_access"})).json()
    flow = new_flow(body["client_id"], "http://127.0.0.1:53124/cb")  # loopback: any port
    code = await get_code(http, flow, scope="openid offline_access")
    tokens = await exchange(http, flow, code)
    assert tokens.status_code == 200, tokens.text
    refresh = tokens.json()["refresh_token"]
    uri, token = body["registration_client_uri"], body["registration_access_token"]
    deleted = await http.delete(uri, headers=bearer(token))
    assert deleted.status_code == 204
    assert (await http.get(uri, headers=bearer(token))).status_code == 401
    again = await http.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": refresh,
                                            "client_id": body["client_id"]})
    assert again.status_code in (400, 401)  # the client and its grants are gone


async def test_the_consent_page_shows_the_registered_name_and_site_escaped(
        http: httpx.AsyncClient) -> None:
    body = (await post(http, {**NATIVE, "redirect_uris": ["https://app.example/cb"],
                              "client_name": "<b>Evil</b>",
                              "client_uri": "https://app.example/?a=<x>"})).json()
    flow = new_flow(body["client_id"], "https://app.example/cb")
    start = await http.get("/authorize", params={
        "response_type": "code", "client_id": flow.client_id, "redirect_uri": flow.redirect_uri,
        "scope": "openid", "code_challenge": flow.challenge, "code_challenge_method": "S256",
        "state": flow.state})
    page = await http.get(start.headers["location"])
    consent = await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    html = (await http.get(consent.headers["location"])).text
    assert "&lt;b&gt;Evil&lt;/b&gt;" in html
    assert "<b>Evil" not in html
    assert "https://app.example/?a=&lt;x&gt;" in html


async def test_the_open_limit_holds_across_instances_sharing_redis(settings: Settings) -> None:
    why = reachable(REDIS_URL, 6379)
    if why:
        missing("Redis", why, "PROOFKEY_TEST_REDIS_URL")
    # A fresh address per run: the shared Redis remembers earlier runs for the window.
    address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    shared = load_settings({"data_dir": str(settings.data_dir), "issuer": ISSUER, "demo": False,
                            "database_url": settings.database_url, "redis_url": REDIS_URL,
                            "registration": "open", "registrations_per_address": 2},
                           environ={})
    one, two = create_app(shared, bus=EventBus()), create_app(shared, bus=EventBus())
    async with AsyncExitStack() as stack:
        browsers = []
        for app in (one, two):
            await stack.enter_async_context(app.router.lifespan_context(app))
            browser = httpx.AsyncClient(transport=httpx.ASGITransport(
                app=app, client=(address, 50000)), base_url=ISSUER)
            stack.push_async_callback(browser.aclose)
            browsers.append(browser)
        assert (await post(browsers[0], NATIVE)).status_code == 201
        assert (await post(browsers[1], NATIVE)).status_code == 201
        refused = await post(browsers[0], NATIVE)
        assert refused.status_code == 429
        assert (await post(browsers[1], NATIVE)).status_code == 429


async def test_audit_events_name_the_client_and_never_a_token(
        http: httpx.AsyncClient, events: Recorder) -> None:
    body = (await post(http, WEB)).json()
    headers = {**bearer(body["registration_access_token"]), "content-type": "application/json"}
    await http.put(body["registration_client_uri"], headers=headers,
                   content=json.dumps({**WEB, "client_id": body["client_id"]}))
    await http.delete(body["registration_client_uri"], headers=headers)
    seen = events.of(ClientRegistration)
    assert [(e.action, e.client_id) for e in seen] == [  # type: ignore[attr-defined]
        ("registered", body["client_id"]), ("updated", body["client_id"]),
        ("deleted", body["client_id"])]
    text = repr(seen)
    for secret in (body["registration_access_token"], body["client_secret"]):
        assert secret not in text
    assert {e.registration_token for e in seen} == {  # type: ignore[attr-defined]
        fingerprint(body["registration_access_token"])}


async def test_housekeeping_records_when_a_dynamic_client_was_last_used(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "HOUSEKEEPING_SECONDS", 0.05)
    body = (await post(http, {**NATIVE, "scope": "openid"})).json()
    flow = new_flow(body["client_id"], "http://127.0.0.1/cb")
    assert (await exchange(http, flow, await get_code(http, flow, scope="openid"))
            ).status_code == 200
    store = app_services(http).store
    assert (await store.get_client(body["client_id"])).last_used_at is None  # type: ignore[union-attr]
    services = app_services(http)
    task = asyncio.create_task(app_module._housekeeping(services))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            client = await store.get_client(body["client_id"])
            if client is not None and client.last_used_at is not None:
                break
    finally:
        task.cancel()
    assert client is not None
    assert client.last_used_at is not None


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False, 0, -1, 2**70, 1.5])
    if kind == 1:
        return rng.choice(["", "none", "code", "openid", "https://a.example/cb",
                           "http://127.0.0.1/cb", "com.example.app:/cb", "x" * 3000,
                           "\u0000", "javascript:x", "client_secret_post"])
    if kind in (2, 3, 4):
        return "".join(rng.choice("ab:/.#*%\u00e9 ") for _ in range(rng.randrange(12)))
    if kind in (5, 6):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


KEYS = ["redirect_uris", "grant_types", "response_types", "token_endpoint_auth_method",
        "scope", "client_name", "client_uri", "logo_uri", "contacts", "client_id",
        "id_token_signed_response_alg", "software_id", "tos_uri", "jwks"]


@pytest.mark.parametrize("settings_overrides", [{"registration": "open",
                                                 "registrations_per_address": 1000}])
async def test_any_json_gets_a_registration_or_a_spec_shaped_400_never_a_500(
        http: httpx.AsyncClient) -> None:
    rng = random.Random(7591)  # reproducible inputs, not secrets
    accepted = 0
    for _ in range(300):  # jwks is read since private_key_jwt: fewer random docs pass
        doc = {**NATIVE, **{rng.choice(KEYS): _random_value(rng) for _ in range(3)}}
        response = await post(http, doc)
        assert response.status_code in (201, 400), (doc, response.text)
        accepted += response.status_code == 201
        if response.status_code == 400:
            body = response.json()
            assert body["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
            assert body["error_description"].endswith("]"), body
    assert accepted > 0  # some of the inputs were registrations
