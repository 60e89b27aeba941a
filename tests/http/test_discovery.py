"""Discovery (RFC 8414, OIDC Discovery §3–4), the JWKS (RFC 7517) and signing-key rotation,
over HTTP."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.tokens.keys import rotate_keys
from tests.helpers import ISSUER
from tests.http.test_token_code_grant import app_services, public_tokens, refresh

WELL_KNOWN = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
# RFC 7518 §6.2.2, §6.3.2, §6.4: private and symmetric key members.
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def kid_of(token: str) -> str:
    return str(jws.extract_compact(token.encode()).protected["kid"])


async def jwks(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/jwks")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# -- metadata ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WELL_KNOWN)
async def test_the_metadata_is_served_at_both_well_known_urls(
        http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    meta = response.json()
    # RFC 8414 §3.3 / OIDC Discovery §4.3: issuer MUST be identical to the issuer URL.
    assert meta["issuer"] == ISSUER
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["response_types_supported"] == ["code"]
    assert "token" not in meta["response_types_supported"]
    assert "implicit" not in meta["grant_types_supported"]
    assert "password" not in meta["grant_types_supported"]
    assert "openid" in meta["scopes_supported"]
    assert meta["subject_types_supported"] == ["public"]


async def test_both_well_known_documents_are_identical(http: httpx.AsyncClient) -> None:
    first, second = [(await http.get(path)).json() for path in WELL_KNOWN]
    assert first == second


async def test_every_advertised_endpoint_is_served_by_this_issuer(
        http: httpx.AsyncClient) -> None:
    meta = (await http.get(WELL_KNOWN[0])).json()
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
                 "revocation_endpoint", "introspection_endpoint"):
        url = meta[name]
        assert url.startswith(ISSUER + "/"), name
        response = await http.request("GET" if name in {"jwks_uri", "userinfo_endpoint"}
                                      else "POST", url.removeprefix(ISSUER))
        assert response.status_code != 404, name


async def test_introspection_does_not_advertise_auth_method_none(
        http: httpx.AsyncClient) -> None:
    meta = (await http.get(WELL_KNOWN[1])).json()
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]


# -- JWKS --------------------------------------------------------------------------------------


async def test_the_jwks_publishes_only_public_key_material(http: httpx.AsyncClient) -> None:
    response = await http.get("/jwks")
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    keys = response.json()["keys"]
    assert {k["alg"] for k in keys} >= {"ES256", "RS256"}
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), key
        assert key["use"] == "sig"
        assert key["kid"]
        assert key["kty"] in {"EC", "RSA"}
    assert len({k["kid"] for k in keys}) == len(keys)
    KeySet.import_key_set(response.json())  # parses as a JWK Set


# -- key rotation ------------------------------------------------------------------------------


async def rotate(settings: Settings) -> list[str]:
    store = open_store(settings.effective_database_url)
    try:
        fresh = await rotate_keys(store, int(time.time()), keep_seconds=3600)
    finally:
        await store.close()
    return [k.kid for k in fresh]


async def test_after_rotation_the_jwks_shows_old_and_new_keys_and_new_tokens_use_new_kids(
        http: httpx.AsyncClient, settings: Settings) -> None:
    before = await public_tokens(http)
    old_kids = {k["kid"] for k in (await jwks(http))["keys"]}
    new_kids = await rotate(settings)
    published = {k["kid"] for k in (await jwks(http))["keys"]}
    assert published == old_kids | set(new_kids)
    assert len(published) == 4

    # Tokens signed with the retired keys still verify.
    response = await http.get("/userinfo",
                              headers={"Authorization": f"Bearer {before['access_token']}"})
    assert response.status_code == 200, response.text
    keys = KeySet.import_key_set(await jwks(http))
    jwt.decode(before["id_token"], keys)

    await app_services(http).refresh_keys()
    after = await public_tokens(http)
    assert kid_of(after["access_token"]) in new_kids
    assert kid_of(after["id_token"]) in new_kids
    assert kid_of(after["access_token"]) != kid_of(before["access_token"])
    assert (await refresh(http, before["refresh_token"])).status_code == 200
    jwt.decode(after["access_token"], keys)
    jwt.decode(after["id_token"], keys)


async def test_keys_retired_longer_than_the_token_lifetime_are_dropped_on_the_next_rotation(
        http: httpx.AsyncClient, settings: Settings) -> None:
    first = {k["kid"] for k in (await jwks(http))["keys"]}
    store = open_store(settings.effective_database_url)
    try:
        now = int(time.time())
        await rotate_keys(store, now, keep_seconds=60)
        second = {k.kid for k in await rotate_keys(store, now + 120, keep_seconds=60)}
    finally:
        await store.close()
    published = {k["kid"] for k in (await jwks(http))["keys"]}
    assert not first & published
    assert second <= published
    assert len(published) == 4


async def test_a_token_signed_by_a_key_another_instance_picked_up_verifies_here_at_once(
        http: httpx.AsyncClient, settings: Settings, web_secret: str) -> None:
    """Instance A picked up rotated keys (its JWKS was fetched) and signs with them; this
    instance, B, has not refreshed yet: userinfo, introspection and revocation must still
    recognise A's tokens instead of calling them invalid for up to a minute."""
    from proofkey.web.app import create_app

    await rotate(settings)
    other = create_app(settings)  # instance A, on the same database
    async with (other.router.lifespan_context(other),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=other),
                                  base_url=ISSUER) as instance_a):
        await app_services(instance_a).refresh_keys()
        tokens = await public_tokens(instance_a)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = await http.get("/userinfo", headers=bearer)
    assert info.status_code == 200, info.text
    inspected = await http.post("/introspect", data={"token": tokens["access_token"]},
                                auth=("web-app", web_secret))
    assert inspected.json()["active"] is True


async def test_made_up_kids_reload_the_keys_at_most_once_a_second(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone can send a token naming an unknown kid; each used to cost a read of the key
    table. Now such reloads happen at most once per second per process."""
    services = app_services(http)
    reads: list[int] = []
    real = services.keys.keys.list_keys

    async def counted() -> Any:
        reads.append(1)
        return await real()

    monkeypatch.setattr(services.keys.keys, "list_keys", counted)
    header = base64.urlsafe_b64encode(b'{"alg":"ES256","kid":"made-up"}').rstrip(b"=").decode()
    for i in range(20):
        response = await http.get("/userinfo",
                                  headers={"Authorization": f"Bearer {header}.e30.sig{i}"})
        assert response.status_code == 401
    assert len(reads) == 1
