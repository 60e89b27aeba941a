"""private_key_jwt client authentication (RFC 7523 §2.2, §3; OIDC Core §9) over HTTP against
the real app, on SQLite and PostgreSQL: a client proves its private key with a signed JWT at
the token, PAR, revocation, introspection and device authorization endpoints; replays,
foreign audiences, unsafe algorithms and stale or far-future assertions are refused as
``invalid_client`` (401)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from proofkey.flows.admin import register_client
from proofkey.models import Secret
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.app import create_app
from tests.conftest import Recorder
from tests.helpers import ISSUER, WEB_ID, WEB_REDIRECT, TestClock, authorize_params, new_flow
from tests.http.test_token_code_grant import app_services, assert_oauth_error
from tests.pkjwt import assertion, auth_form, claims_for, es_key, jwks_of, raw_jws, rs_key

ES_ID, RS_ID = "pk-es", "pk-rs"
ES_KEY, RS_KEY = es_key("es-1"), rs_key("rs-1")
KEY_OF = {ES_ID: ES_KEY, RS_ID: RS_KEY}
GRANTS = ["authorization_code", "refresh_token", "client_credentials",
          "urn:ietf:params:oauth:grant-type:device_code"]


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:  # type: ignore[override]
    store = open_store(settings.effective_database_url)
    scopes = settings.scopes_supported
    try:
        for client_id, key, alg in ((ES_ID, ES_KEY, ""), (RS_ID, RS_KEY, "RS256")):
            await register_client(store, client_id, client_type="confidential",
                                  redirect_uris=[WEB_REDIRECT], scopes=scopes,
                                  supported_scopes=scopes, grant_types=GRANTS,
                                  jwks=json.dumps(jwks_of(key)), auth_signing_alg=alg,
                                  now=int(time.time()))
    finally:
        await store.close()
    return seeded


def app_now(http: httpx.AsyncClient) -> int:
    return app_services(http).ctx.now()


async def client_token(http: httpx.AsyncClient, client_id: str, **claims: Any) -> httpx.Response:
    signed = assertion(KEY_OF[client_id], client_id, now=app_now(http), **claims)
    return await http.post("/token", data={"grant_type": "client_credentials",
                                           "scope": "profile", **auth_form(signed)})


# -- metadata -----------------------------------------------------------------------------------

async def test_discovery_advertises_private_key_jwt_and_its_algorithms(
        http: httpx.AsyncClient) -> None:
    body = (await http.get("/.well-known/openid-configuration")).json()
    for endpoint in ("token", "revocation", "introspection"):
        assert "private_key_jwt" in body[f"{endpoint}_endpoint_auth_methods_supported"]
        algs = body[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert {"ES256", "RS256", "PS256"} <= set(algs)
        assert not {"none", "HS256", "HS384", "HS512"} & set(algs)


# -- the happy paths ----------------------------------------------------------------------------

@pytest.mark.parametrize("client_id", [ES_ID, RS_ID])
async def test_an_assertion_authenticates_at_token_introspection_and_revocation(
        http: httpx.AsyncClient, client_id: str) -> None:
    key = KEY_OF[client_id]
    response = await client_token(http, client_id)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]

    def fresh() -> dict[str, str]:
        return auth_form(assertion(key, client_id, now=app_now(http)), client_id)

    described = await http.post("/introspect", data={"token": token, **fresh()})
    assert described.status_code == 200, described.text
    assert described.json()["active"] is True
    assert described.json()["client_id"] == client_id
    revoked = await http.post("/revoke", data={"token": token, **fresh()})
    assert revoked.status_code == 200, revoked.text
    after = await http.post("/introspect", data={"token": token, **fresh()})
    assert after.json() == {"active": False}


@pytest.mark.parametrize("client_id", [ES_ID, RS_ID])
async def test_an_assertion_authenticates_a_pushed_authorization_request(
        http: httpx.AsyncClient, client_id: str) -> None:
    signed = assertion(KEY_OF[client_id], client_id, now=app_now(http))
    params = authorize_params(new_flow(client_id, WEB_REDIRECT))
    response = await http.post("/par", data={**params, **auth_form(signed)})
    assert response.status_code == 201, response.text
    assert response.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")


async def test_an_assertion_authenticates_a_device_authorization_request(
        http: httpx.AsyncClient) -> None:
    signed = assertion(ES_KEY, ES_ID, now=app_now(http))
    response = await http.post("/device_authorization",
                               data={"scope": "openid", **auth_form(signed, ES_ID)})
    assert response.status_code == 200, response.text
    assert "device_code" in response.json()


async def test_the_client_id_may_be_left_out_the_assertion_names_it(
        http: httpx.AsyncClient) -> None:
    response = await client_token(http, ES_ID)  # auth_form without client_id
    assert response.status_code == 200, response.text


async def test_a_one_member_audience_array_naming_the_issuer_is_accepted(
        http: httpx.AsyncClient) -> None:
    response = await client_token(http, ES_ID, aud=[ISSUER])
    assert response.status_code == 200, response.text


async def test_a_key_without_kid_is_found_when_it_is_the_only_one_that_fits(
        http: httpx.AsyncClient) -> None:
    signed = assertion(ES_KEY, ES_ID, kid=None, now=app_now(http))
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               **auth_form(signed)})
    assert response.status_code == 200, response.text


# -- replays ------------------------------------------------------------------------------------

async def test_a_replayed_assertion_is_refused(http: httpx.AsyncClient) -> None:
    signed = assertion(ES_KEY, ES_ID, now=app_now(http))
    form = {"grant_type": "client_credentials", **auth_form(signed)}
    assert (await http.post("/token", data=form)).status_code == 200
    again = await http.post("/token", data=form)
    body = assert_oauth_error(again, "invalid_client", status=401, secrets=[signed])
    assert "used before" in body["error_description"]
    # and at another endpoint too: the jti is spent, whichever endpoint saw it first
    elsewhere = await http.post("/introspect", data={"token": "x", **auth_form(signed)})
    assert_oauth_error(elsewhere, "invalid_client", status=401, secrets=[signed])


async def test_of_eight_parallel_uses_of_one_assertion_exactly_one_is_accepted(
        http: httpx.AsyncClient) -> None:
    signed = assertion(RS_KEY, RS_ID, now=app_now(http))
    form = {"grant_type": "client_credentials", **auth_form(signed)}
    answers = await asyncio.gather(*(http.post("/token", data=form) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [401] * 7


@pytest.fixture
async def second_instance(settings: Settings, http: httpx.AsyncClient) -> AsyncIterator[
        httpx.AsyncClient]:
    """Another app on the same database (its own process state: caches, key sets)."""
    app = create_app(settings, clock=TestClock())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER) as client:
        yield client


async def test_two_instances_share_the_replay_records(
        http: httpx.AsyncClient, second_instance: httpx.AsyncClient) -> None:
    signed = assertion(ES_KEY, ES_ID, now=app_now(http))
    form = {"grant_type": "client_credentials", **auth_form(signed)}
    answers = await asyncio.gather(*(
        instance.post("/token", data=form) for _ in range(4)
        for instance in (http, second_instance)))
    assert sorted(a.status_code for a in answers) == [200] + [401] * 7
    late = await second_instance.post("/token", data=form)
    assert_oauth_error(late, "invalid_client", status=401)


# -- refusals -----------------------------------------------------------------------------------

def _public_pem() -> bytes:
    return ES_KEY.public_key.public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def _refused_assertions(now: int) -> dict[str, tuple[str, str, str]]:
    """case -> (client_id sent, assertion, what the error_description says)."""
    other = es_key("es-1")  # same kid, another key
    es, rs = ES_ID, RS_ID
    alg, aud = "alg is not accepted", "aud must be the issuer"
    public_jwk = json.dumps(ES_KEY.as_dict(private=False)).encode()
    return {
        "alg none": (es, raw_jws({"alg": "none", "kid": "es-1"}, claims_for(es, now=now)), alg),
        "HS256 keyed with the public key PEM": (es, raw_jws(
            {"alg": "HS256", "kid": "es-1"}, claims_for(es, now=now), hmac_key=_public_pem()),
            alg),
        "HS256 keyed with the public JWK": (es, raw_jws(
            {"alg": "HS256", "kid": "es-1"}, claims_for(es, now=now), hmac_key=public_jwk), alg),
        "aud is the token endpoint": (es, assertion(ES_KEY, es, now=now,
                                                    aud=f"{ISSUER}/token"), aud),
        "aud is another server": (es, assertion(ES_KEY, es, now=now,
                                                aud="https://other.example"), aud),
        "aud array with another audience": (es, assertion(
            ES_KEY, es, now=now, aud=[ISSUER, "https://other.example"]), aud),
        "iss is another client": (es, assertion(ES_KEY, es, now=now, iss=rs), "iss must be"),
        "sub is another client": (es, assertion(ES_KEY, es, now=now, sub=WEB_ID),
                                  "sub must be"),
        "no exp": (es, assertion(ES_KEY, es, now=now, exp=None), "has no exp"),
        "exp an hour ahead": (es, assertion(ES_KEY, es, now=now, exp_in=3600),
                              "more than 300 seconds ahead"),
        "expired": (es, assertion(ES_KEY, es, now=now - 600, exp_in=60), "has expired"),
        "nbf in the future": (es, assertion(ES_KEY, es, now=now, nbf=now + 120),
                              "not valid yet"),
        "iat in the future": (es, assertion(ES_KEY, es, now=now, iat=now + 120),
                              "issued in the future"),
        "no jti": (es, assertion(ES_KEY, es, now=now, jti=None), "needs a jti"),
        "unknown kid": (es, assertion(ES_KEY, es, now=now, kid="es-2"), "no registered key"),
        "signed by another key under its kid": (es, assertion(other, es, now=now),
                                                "signature is invalid"),
        "an alg other than the registered one": (rs, assertion(RS_KEY, rs, now=now,
                                                               alg="PS256"), alg),
        "an EC signature for an RSA client": (rs, assertion(other, rs, now=now, kid="rs-1"),
                                              alg),
        "an ES384 header over a P-256 key": (es, raw_jws(
            {"alg": "ES384", "kid": "es-1"}, claims_for(es, now=now)), "no registered key"),
        "not a JWS": (es, "not.a.jws", "malformed"),
        "oversized": (es, "a" * 5000, "malformed or too large"),
    }


REFUSALS = list(_refused_assertions(int(time.time())))


@pytest.mark.parametrize("case", REFUSALS)
async def test_an_unacceptable_assertion_is_invalid_client(
        http: httpx.AsyncClient, case: str, events: Recorder) -> None:
    client_id, signed, says = _refused_assertions(app_now(http))[case]
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               **auth_form(signed, client_id)})
    body = assert_oauth_error(response, "invalid_client", status=401, secrets=[signed])
    assert says in body["error_description"]
    assert signed not in repr(events.events)  # nor in what the audit log and metrics see


async def test_an_assertion_with_a_secret_too_is_two_methods(http: httpx.AsyncClient,
                                                             web_secret: str) -> None:
    signed = assertion(ES_KEY, ES_ID, now=app_now(http))
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               "client_secret": web_secret,
                                               **auth_form(signed, ES_ID)})
    assert_oauth_error(response, "invalid_request", secrets=[signed, web_secret])
    basic = await http.post("/token", data={"grant_type": "client_credentials",
                                            **auth_form(signed)}, auth=(WEB_ID, web_secret))
    assert_oauth_error(basic, "invalid_request", secrets=[signed, web_secret])


async def test_the_assertion_type_must_be_jwt_bearer(http: httpx.AsyncClient) -> None:
    signed = assertion(ES_KEY, ES_ID, now=app_now(http))
    form = {**auth_form(signed, ES_ID), "client_assertion_type": "urn:x:saml"}
    response = await http.post("/token", data={"grant_type": "client_credentials", **form})
    assert_oauth_error(response, "invalid_client", status=401, secrets=[signed])


async def test_a_client_registered_for_secrets_cannot_use_an_assertion(
        http: httpx.AsyncClient) -> None:
    signed = assertion(ES_KEY, WEB_ID, now=app_now(http))
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               **auth_form(signed, WEB_ID)})
    assert_oauth_error(response, "invalid_client", status=401, secrets=[signed])


async def test_a_private_key_jwt_client_cannot_use_a_secret(http: httpx.AsyncClient) -> None:
    response = await http.post("/token", data={"grant_type": "client_credentials"},
                               auth=(ES_ID, "anything"))
    assert_oauth_error(response, "invalid_client", status=401)


async def test_a_client_id_that_differs_from_the_assertion_is_refused(
        http: httpx.AsyncClient) -> None:
    signed = assertion(ES_KEY, ES_ID, now=app_now(http))
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               **auth_form(signed, RS_ID)})
    assert_oauth_error(response, "invalid_client", status=401, secrets=[signed])


async def test_failed_assertions_count_towards_the_client_throttle(
        http: httpx.AsyncClient, settings: Settings) -> None:
    now = app_now(http)
    for _ in range(settings.client_auth_failures_per_ip):
        bad = assertion(ES_KEY, ES_ID, now=now, aud="https://other.example")
        response = await http.post("/token", data={"grant_type": "client_credentials",
                                                   **auth_form(bad)})
        assert response.status_code == 401
    good = assertion(ES_KEY, ES_ID, now=now)
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               **auth_form(good)})
    body = assert_oauth_error(response, "invalid_client", status=401, secrets=[good])
    assert "too many" in body["error_description"]
    assert int(response.headers["retry-after"]) > 0


async def test_the_description_names_the_reason_not_the_assertion(
        http: httpx.AsyncClient) -> None:
    signed = assertion(ES_KEY, ES_ID, now=app_now(http), exp_in=3600)
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               **auth_form(signed)})
    body = assert_oauth_error(response, "invalid_client", status=401, secrets=[signed])
    assert "seconds ahead" in body["error_description"]


async def test_new_inline_keys_replace_the_old_ones(http: httpx.AsyncClient,
                                                    settings: Settings) -> None:
    """Rotation of inline keys (``proofkey client set --jwks``, or RFC 7592): once the
    client cache has passed, only the new set verifies."""
    new_key = es_key("es-2")
    store = open_store(settings.effective_database_url)
    try:
        client = await store.get_client(ES_ID)
        assert client is not None
        await store.update_client(replace(client, jwks=json.dumps(jwks_of(new_key))))
    finally:
        await store.close()
    await asyncio.sleep(settings.client_cache_ms / 1000 + 0.1)
    old = await client_token(http, ES_ID)
    assert_oauth_error(old, "invalid_client", status=401)
    signed = assertion(new_key, ES_ID, now=app_now(http))
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               **auth_form(signed)})
    assert response.status_code == 200, response.text
