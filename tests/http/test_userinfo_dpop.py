"""DPoP-bound access tokens at UserInfo (RFC 9449 §7) and at introspection (§6.2), over HTTP on
both stores: the ``DPoP`` scheme with a fresh proof of the bound key for this request, never
as ``Bearer``, each refusal a §7.1 challenge; introspection describes the binding.

Until the token endpoint issues DPoP-bound tokens, the tests mint them with the app's own
minter (``TokenMinter.access_token(..., jkt=...)``), exactly as the token endpoint does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from proofkey.protocol.dpop import DPOP_ALGORITHMS, access_token_hash
from proofkey.sdk import AsyncOAuthClient, TokenSet
from proofkey.sdk.dpop import DpopKey
from tests.helpers import ISSUER, PUBLIC_ID
from tests.http.test_token_code_grant import (
    app_services,
    assert_oauth_error,
    introspect,
    public_tokens,
    shift_clock,
)
from tests.resource.conftest import b64, challenges, dpop_proof, thumbprint, unsigned

USERINFO = f"{ISSUER}/userinfo"
ALGS = " ".join(DPOP_ALGORITHMS)
KEY = ECKey.generate_key("P-256")


async def bound_token(http: httpx.AsyncClient, key: Any = KEY, scope: str = "openid profile",
                      subject: str | None = None, jkt: str | None = None) -> str:
    """An access token bound to ``key``, minted by the running app for the test user."""
    if subject is None:
        plain = (await public_tokens(http))["access_token"]
        info = await http.get("/userinfo", headers={"Authorization": f"Bearer {plain}"})
        subject = info.json()["sub"]
    services = app_services(http)
    issued = services.minter.access_token(
        client_id=PUBLIC_ID, subject=subject, scope=scope, grant_id=None, auth_time=None,
        now=int(services.ctx.now()), jkt=jkt or thumbprint(key))
    return issued.token


def with_proof(token: str, proof: str | None = None, *, method: str = "GET",
               **claims: Any) -> dict[str, str]:
    if proof is None:
        proof = dpop_proof(KEY, method=method, url=USERINFO, token=token, **claims)
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def dpop_refusal(response: httpx.Response, error: str, token: str) -> str:
    """A §7.1 refusal: 401, the error in the DPoP challenge (with algs) and in the body, the
    Bearer challenge without one, and neither the token nor the proof echoed."""
    secrets = [token]
    assert_oauth_error(response, error, status=401, secrets=secrets)
    parsed = challenges(response.headers["www-authenticate"])
    assert parsed["Bearer"] == {"realm": "proofkey"}
    assert parsed["DPoP"]["error"] == error
    assert parsed["DPoP"]["algs"] == ALGS
    return parsed["DPoP"]["error_description"]


# -- accepted ------------------------------------------------------------------------------


async def test_a_bound_token_with_a_valid_proof_reads_userinfo(
        http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    response = await http.get("/userinfo", headers=with_proof(token))
    assert response.status_code == 200, response.text
    assert response.json()["preferred_username"]
    post = await http.post("/userinfo", headers=with_proof(token, method="POST"))
    assert post.status_code == 200, post.text


async def test_userinfo_without_a_token_offers_both_schemes(http: httpx.AsyncClient) -> None:
    response = await http.get("/userinfo")
    assert response.status_code == 401
    assert challenges(response.headers["www-authenticate"]) == {
        "Bearer": {"realm": "proofkey"}, "DPoP": {"realm": "proofkey", "algs": ALGS}}


async def test_a_browser_app_can_read_the_challenge(http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}",
                                                    "Origin": "https://app.example.com"})
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-expose-headers"] == "WWW-Authenticate"
    assert "access-control-allow-origin" not in (await http.get("/userinfo", headers={
        "Authorization": f"Bearer {token}", "Origin": "https://evil.example"})).headers


# -- downgrade and binding -----------------------------------------------------------------


async def test_a_bound_token_presented_as_bearer_is_refused(http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    for request in (
            {"headers": {"Authorization": f"Bearer {token}"}},
            {"headers": {"Authorization": f"Bearer {token}",
                         "DPoP": dpop_proof(KEY, url=USERINFO, token=token)}}):
        response = await http.get("/userinfo", **request)
        assert_oauth_error(response, "invalid_token", status=401, secrets=[token])
        parsed = challenges(response.headers["www-authenticate"])
        assert parsed["Bearer"]["error"] == "invalid_token"
        assert "DPoP-bound" in parsed["Bearer"]["error_description"]
        assert parsed["DPoP"] == {"algs": ALGS}
    body = await http.post("/userinfo", data={"access_token": token})
    assert_oauth_error(body, "invalid_token", status=401, secrets=[token])


async def test_a_proof_signed_by_another_key_than_cnf_jkt_is_invalid_token(
        http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    other = ECKey.generate_key("P-256")
    response = await http.get("/userinfo", headers=with_proof(
        token, dpop_proof(other, url=USERINFO, token=token)))
    assert "bound to" in dpop_refusal(response, "invalid_token", token)


async def test_an_unbound_token_with_the_dpop_scheme_is_invalid_token(
        http: httpx.AsyncClient) -> None:
    token = (await public_tokens(http))["access_token"]
    response = await http.get("/userinfo", headers=with_proof(token))
    assert "not DPoP-bound" in dpop_refusal(response, "invalid_token", token)


# -- the proof (RFC 9449 §4.3) -------------------------------------------------------------


async def test_a_dpop_token_without_a_proof_or_with_two_is_invalid_dpop_proof(
        http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    missing = await http.get("/userinfo", headers={"Authorization": f"DPoP {token}"})
    dpop_refusal(missing, "invalid_dpop_proof", token)
    two = httpx.Headers([("Authorization", f"DPoP {token}"),
                         ("DPoP", dpop_proof(KEY, url=USERINFO, token=token)),
                         ("DPoP", dpop_proof(KEY, url=USERINFO, token=token))])
    dpop_refusal(await http.get("/userinfo", headers=two), "invalid_dpop_proof", token)


async def test_a_proof_for_another_token_fails_on_its_ath(http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    other = await bound_token(http)
    for proof in (dpop_proof(KEY, url=USERINFO, token=other), dpop_proof(KEY, url=USERINFO),
                  dpop_proof(KEY, url=USERINFO, ath="é" * 43)):  # not a 500
        response = await http.get("/userinfo", headers=with_proof(token, proof))
        assert "ath" in dpop_refusal(response, "invalid_dpop_proof", token)


@pytest.mark.parametrize(("method", "url", "word"), [
    ("POST", USERINFO, "htm"),
    ("GET", f"{ISSUER}/token", "htu"),
    ("GET", "https://evil.example/userinfo", "htu"),
])
async def test_a_proof_for_another_method_or_url_is_refused(
        http: httpx.AsyncClient, method: str, url: str, word: str) -> None:
    token = await bound_token(http)
    proof = dpop_proof(KEY, method=method, url=url, token=token)
    response = await http.get("/userinfo", headers=with_proof(token, proof))
    assert word in dpop_refusal(response, "invalid_dpop_proof", token)


async def test_htu_is_the_configured_issuers_endpoint_whatever_the_host_header_says(
        http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    spoofed = {"Host": "evil.example", "X-Forwarded-Host": "evil.example",
               "X-Forwarded-Proto": "https"}
    proof = dpop_proof(KEY, url="https://evil.example/userinfo", token=token)
    refused = await http.get("/userinfo", headers={**with_proof(token, proof), **spoofed})
    assert "htu" in dpop_refusal(refused, "invalid_dpop_proof", token)
    accepted = await http.get("/userinfo", headers={**with_proof(token), **spoofed})
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("age", [-60, 301])
async def test_a_proof_from_the_future_or_a_stale_one_is_refused(
        http: httpx.AsyncClient, age: int) -> None:
    token = await bound_token(http)
    proof = dpop_proof(KEY, url=USERINFO, token=token, iat=int(time.time()) - age)
    response = await http.get("/userinfo", headers=with_proof(token, proof))
    assert "iat" in dpop_refusal(response, "invalid_dpop_proof", token)


async def test_alg_none_and_hs256_keyed_with_the_public_key_are_refused(
        http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    claims = {"jti": "j-none", "htm": "GET", "htu": USERINFO, "iat": int(time.time()),
              "ath": access_token_hash(token)}
    jwk = KEY.as_dict(private=False)
    none = unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}, claims)
    head = unsigned({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}, claims).rsplit(".", 1)[0]
    forged = [f"{head}.{b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())}"
              for secret in (KEY.as_pem(private=False), json.dumps(jwk).encode())]
    for proof in (none, *forged):
        response = await http.get("/userinfo", headers=with_proof(token, proof))
        assert "alg" in dpop_refusal(response, "invalid_dpop_proof", token)


async def test_a_proof_carrying_a_private_key_or_a_lone_surrogate_jti_is_refused(
        http: httpx.AsyncClient) -> None:
    rsa = RSAKey.generate_key(2048)
    token = await bound_token(http, key=rsa)
    leaky = dpop_proof(rsa, alg="PS256", url=USERINFO, token=token,
                       header={"jwk": rsa.as_dict(private=True)})
    dpop_refusal(await http.get("/userinfo", headers=with_proof(token, leaky)),
                 "invalid_dpop_proof", token)
    surrogate = dpop_proof(rsa, alg="PS256", url=USERINFO, token=token, jti="\ud800")
    dpop_refusal(await http.get("/userinfo", headers=with_proof(token, surrogate)),
                 "invalid_dpop_proof", token)


# -- replay (RFC 9449 §11.1), shared by every instance through the store ---------------------


async def test_a_proof_is_accepted_once(http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    headers = with_proof(token)
    assert (await http.get("/userinfo", headers=headers)).status_code == 200
    replay = await http.get("/userinfo", headers=headers)
    assert dpop_refusal(replay, "invalid_dpop_proof", token) == "the DPoP proof was already used"
    assert (await http.get("/userinfo", headers=with_proof(token))).status_code == 200


async def test_of_parallel_replays_of_one_proof_exactly_one_is_accepted(
        http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    headers = with_proof(token)
    responses = await asyncio.gather(*(http.get("/userinfo", headers=headers)
                                       for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [200] + [401] * 7


async def test_a_refused_proof_does_not_use_up_its_jti(http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    proof = dpop_proof(KEY, url=USERINFO, token=token)
    other_key_token = await bound_token(http, key=ECKey.generate_key("P-256"))
    refused = await http.get("/userinfo", headers=with_proof(other_key_token, proof))
    assert refused.status_code == 401
    assert (await http.get("/userinfo", headers=with_proof(token, proof))).status_code == 200


# -- the token still has to be good --------------------------------------------------------


async def test_an_expired_bound_token_is_invalid_token_in_the_dpop_challenge(
        http: httpx.AsyncClient, settings: Any) -> None:
    token = await bound_token(http)
    shift_clock(http, settings.access_token_ttl_seconds)
    proof = dpop_proof(KEY, url=USERINFO, token=token,
                       iat=int(app_services(http).ctx.now()))
    response = await http.get("/userinfo", headers=with_proof(token, proof))
    dpop_refusal(response, "invalid_token", token)


async def test_a_bound_token_without_openid_is_403_insufficient_scope(
        http: httpx.AsyncClient) -> None:
    token = await bound_token(http, scope="profile")
    response = await http.get("/userinfo", headers=with_proof(token))
    assert_oauth_error(response, "insufficient_scope", status=403, secrets=[token])
    assert challenges(response.headers["www-authenticate"])["DPoP"]["error"] == (
        "insufficient_scope")


# -- introspection (RFC 9449 §6.2) ---------------------------------------------------------


async def test_introspection_describes_a_bound_token_with_its_cnf(
        http: httpx.AsyncClient, web_secret: str) -> None:
    token = await bound_token(http)
    described = await introspect(http, token, web_secret)
    assert described["active"] is True
    assert described["token_type"] == "DPoP"
    assert described["cnf"] == {"jkt": thumbprint(KEY)}
    plain = await introspect(http, (await public_tokens(http))["access_token"], web_secret)
    assert plain["token_type"] == "Bearer"
    assert "cnf" not in plain


async def test_proofkeys_sdk_reads_userinfo_with_a_bound_token(
        http: httpx.AsyncClient) -> None:
    key = DpopKey.generate("ES256")
    token = await bound_token(http, jkt=key.thumbprint)
    tokens = TokenSet(access_token=token, token_type="DPoP", expires_at=None,
                      dpop_jkt=key.thumbprint)
    transport = http._transport
    assert isinstance(transport, httpx.ASGITransport)
    async with AsyncOAuthClient(ISSUER, PUBLIC_ID, dpop_key=key, transport=transport) as sdk:
        response = await sdk.request("GET", USERINFO, tokens)
        assert response.status_code == 200, response.text
        assert response.json()["preferred_username"]


# -- the DPoP failure SLI counts userinfo's refusals with the token endpoint's ---------------


async def test_userinfo_refusals_are_counted_by_reason(http: httpx.AsyncClient) -> None:
    token = await bound_token(http)
    headers = with_proof(token)
    assert (await http.get("/userinfo", headers=headers)).status_code == 200
    assert (await http.get("/userinfo", headers=headers)).status_code == 401  # replayed
    as_bearer = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    other = ECKey.generate_key("P-256")
    wrong_key = {"Authorization": f"DPoP {token}",
                 "DPoP": dpop_proof(other, method="GET", url=USERINFO, token=token)}
    assert (await http.get("/userinfo", headers=wrong_key)).status_code == 401
    metrics = (await http.get("/metrics")).text
    assert 'proofkey_dpop_failures_total{reason="replay"} 1.0' in metrics
    assert 'proofkey_dpop_failures_total{reason="missing"} 1.0' in metrics
    assert 'proofkey_dpop_failures_total{reason="key_mismatch"} 1.0' in metrics
    assert token not in metrics
