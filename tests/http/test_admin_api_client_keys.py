"""The admin API's client key, DPoP and profile fields over HTTP on SQLite and PostgreSQL:
``jwks``, ``jwks_uri``, ``token_endpoint_auth_signing_alg``, ``require_dpop``, ``profile``
round-trip on create and change, through the same policy as ``proofkey client add|set`` (a
refusal is a problem naming the PKL rule), and a fapi2 client stays in its profile."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from proofkey.settings import Settings
from tests.fapi2_keys import public_jwks

from .admin_api import admin_token, conforms, problem, send

JWKS = json.loads(public_jwks())
KEYED = {"client_id": "keyed", "type": "confidential",
         "token_endpoint_auth_method": "private_key_jwt",
         "redirect_uris": ["https://keyed.example/cb"], "scopes": ["openid"], "jwks": JWKS}
FAPI2 = {**KEYED, "client_id": "bank", "profile": "fapi2", "require_dpop": True,
         "require_pushed_authorization_requests": True, "grant_types": ["authorization_code"],
         "id_token_signed_response_alg": "ES256"}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"client_cache_ms": 0}


@pytest.fixture
async def token(settings: Settings) -> str:
    return (await admin_token(settings, ["clients:read", "clients:write"]))[0]


async def _patch(http: httpx.AsyncClient, token: str, client_id: str,
                 change: dict[str, Any]) -> httpx.Response:
    etag = (await send(http, "GET", f"/clients/{client_id}", token)).headers["etag"]
    return await send(http, "PATCH", f"/clients/{client_id}", token, change, **{
        "if-match": etag})


async def test_each_key_field_round_trips_on_create_and_change(http: httpx.AsyncClient,
                                                                token: str) -> None:
    created = await send(http, "POST", "/clients", token, {
        **KEYED, "token_endpoint_auth_signing_alg": "ES256", "require_dpop": True,
        "revoke_on_logout": True, "reject_reused_challenge": True,
        "post_logout_redirect_uris": ["https://keyed.example/bye"]})
    assert created.status_code == 201, created.text
    await conforms(http, created, "createClient")
    body = created.json()
    assert body["client_secret"] is None  # private_key_jwt: no shared secret
    assert body["jwks"] == JWKS
    assert body["jwks_uri"] is None
    assert body["token_endpoint_auth_signing_alg"] == "ES256"
    assert (body["require_dpop"], body["profile"]) == (True, None)
    assert body["post_logout_redirect_uris"] == ["https://keyed.example/bye"]
    assert body["revoke_on_logout"]
    assert body["reject_reused_challenge"]
    read = await send(http, "GET", "/clients/keyed", token)
    await conforms(http, read, "getClient")
    assert {k: read.json()[k] for k in ("jwks", "require_dpop")} == {
        "jwks": JWKS, "require_dpop": True}

    changed = await _patch(http, token, "keyed", {
        "jwks": None, "jwks_uri": "https://keyed.example/jwks.json",
        "token_endpoint_auth_signing_alg": None, "require_dpop": False,
        "revoke_on_logout": False, "post_logout_redirect_uris": []})
    assert changed.status_code == 200, changed.text
    await conforms(http, changed, "updateClient")
    after = (await send(http, "GET", "/clients/keyed", token)).json()
    assert after["jwks"] is None
    assert after["jwks_uri"] == "https://keyed.example/jwks.json"
    assert after["token_endpoint_auth_signing_alg"] is None
    assert not after["require_dpop"]
    assert not after["revoke_on_logout"]
    assert after["post_logout_redirect_uris"] == []
    assert after["token_endpoint_auth_method"] == "private_key_jwt"


async def test_a_fapi2_client_round_trips_and_stays_in_its_profile(http: httpx.AsyncClient,
                                                                    token: str) -> None:
    created = await send(http, "POST", "/clients", token, FAPI2)
    assert created.status_code == 201, created.text
    assert created.json()["profile"] == "fapi2"
    body = problem(await _patch(http, token, "bank", {"profile": None}), 422, "policy")
    assert "fapi2" in body["detail"]
    body = problem(await _patch(http, token, "bank", {"require_dpop": False}), 422, "policy")
    assert body["rule"] == "PKL103"
    body = problem(await _patch(http, token, "bank", {"require_pushed_authorization_requests":
                                                      False}), 422, "policy")
    assert body["rule"] == "PKL102"
    assert (await send(http, "GET", "/clients/bank", token)).json()["profile"] == "fapi2"
    renamed = await _patch(http, token, "bank", {"name": "Bank", "profile": "fapi2"})
    assert renamed.status_code == 200, renamed.text


@pytest.mark.parametrize(("body", "rule"), [
    ({**KEYED, "jwks_uri": "https://keyed.example/jwks.json"}, "PKL060"),
    ({**KEYED, "jwks": None}, "PKL064"),
    ({**KEYED, "token_endpoint_auth_signing_alg": "HS256"}, "PKL065"),
    ({**FAPI2, "token_endpoint_auth_method": "client_secret_basic", "jwks": None}, "PKL101"),
    ({**FAPI2, "require_dpop": False}, "PKL103"),
])
async def test_registration_refuses_key_and_profile_breaches_naming_the_rule(
        http: httpx.AsyncClient, token: str, body: dict[str, Any], rule: str) -> None:
    refused = problem(await send(http, "POST", "/clients", token, body), 422, "policy")
    assert refused["rule"] == rule, refused
    assert f"[{rule}]" in refused["detail"]
    assert (await send(http, "GET", f"/clients/{body['client_id']}", token)).status_code == 404


async def test_a_change_that_breaks_the_key_rules_is_refused(http: httpx.AsyncClient,
                                                             token: str) -> None:
    assert (await send(http, "POST", "/clients", token, KEYED)).status_code == 201
    body = problem(await _patch(http, token, "keyed", {
        "jwks_uri": "https://keyed.example/jwks.json"}), 422, "policy")
    assert body["rule"] == "PKL060"
    body = problem(await _patch(http, token, "keyed", {"jwks": None}), 422, "policy")
    assert body["rule"] == "PKL064"


async def test_a_jwks_that_is_not_a_jwk_set_is_a_schema_problem(http: httpx.AsyncClient,
                                                                token: str) -> None:
    for bad in ({"kty": "EC"}, {"keys": "x"}, {"keys": [1]}, "text"):
        body = problem(await send(http, "POST", "/clients", token, {**KEYED, "jwks": bad}),
                       422, "invalid-body")
        assert body["errors"][0]["pointer"].startswith("/jwks")


async def test_the_openapi_document_publishes_the_fields(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/admin/api/openapi.json")).json()
    schemas = doc["components"]["schemas"] if "components" in doc else None
    ops = {op["operationId"]: op for path in doc["paths"].values() for op in path.values()}
    for op_id in ("createClient", "updateClient"):
        schema = ops[op_id]["requestBody"]["content"]["application/json"]["schema"]
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
        for name in ("jwks", "jwks_uri", "token_endpoint_auth_signing_alg", "require_dpop",
                     "profile", "post_logout_redirect_uris", "revoke_on_logout",
                     "reject_reused_challenge"):
            assert name in schema["properties"], (op_id, name)
        assert schema["properties"]["profile"]["enum"] == ["fapi2", None]
