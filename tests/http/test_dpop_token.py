"""DPoP proofs at the token endpoint (RFC 9449 §4.3, §5), over HTTP against the real app, on
SQLite and PostgreSQL: a valid proof gets a DPoP-bound token; every invalid one is refused with
``invalid_dpop_proof``, counted by reason, and never echoed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OctKey

from proofkey.observability.events import DpopRefused, TokenExchangeFailed
from tests.conftest import Recorder
from tests.helpers import ISSUER, WEB_ID, get_code, new_flow
from tests.http.dpop_proofs import (
    TOKEN_URL,
    Prover,
    app_now,
    claims_of,
    code_data,
    post_token,
    refresh_data,
    unsigned,
)
from tests.http.test_token_code_grant import assert_oauth_error


def reasons(events: Recorder) -> list[str]:
    return [e.reason for e in events.of(DpopRefused)]  # type: ignore[attr-defined]


async def dpop_tokens(http: httpx.AsyncClient, prover: Prover, **extra: str) -> dict[str, Any]:
    flow = new_flow()
    code = await get_code(http, flow, **extra)
    response = await post_token(http, code_data(flow, code), prover.proof(iat=app_now(http)))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refused(http: httpx.AsyncClient, proof: str, events: Recorder, reason: str, *,
                  error: str = "invalid_dpop_proof") -> None:
    """A code exchange with ``proof`` is refused for ``reason``; the proof is not echoed."""
    flow = new_flow()
    code = await get_code(http, flow)
    response = await post_token(http, code_data(flow, code), proof)
    assert_oauth_error(response, error, secrets=[proof, *(p for p in proof.split(".") if p)])
    assert reasons(events)[-1] == reason


# -- the happy path ----------------------------------------------------------------------------


async def test_code_then_refresh_with_dpop_issue_dpop_bound_tokens(
        http: httpx.AsyncClient) -> None:
    prover = Prover()
    tokens = await dpop_tokens(http, prover)
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": prover.jkt}
    response = await post_token(http, refresh_data(tokens["refresh_token"]),
                                prover.proof(iat=app_now(http)))
    assert response.status_code == 200, response.text
    refreshed = response.json()
    assert refreshed["token_type"] == "DPoP"
    assert claims_of(refreshed["access_token"])["cnf"] == {"jkt": prover.jkt}


async def test_without_a_proof_the_token_is_bearer_without_cnf(http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await post_token(http, code_data(flow, code))
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in claims_of(response.json()["access_token"])


async def test_client_credentials_with_a_proof_is_dpop_bound(
        http: httpx.AsyncClient, web_secret: str) -> None:
    prover = Prover()
    response = await post_token(http, {"grant_type": "client_credentials"},
                                prover.proof(iat=app_now(http)), auth=(WEB_ID, web_secret))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": prover.jkt}


async def test_discovery_advertises_the_asymmetric_dpop_algorithms(
        http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    algs = metadata["dpop_signing_alg_values_supported"]
    assert "ES256" in algs
    assert not {"none", "HS256", "HS384", "HS512"} & set(algs)


# -- refusals ----------------------------------------------------------------------------------


async def test_a_replayed_proof_is_refused(http: httpx.AsyncClient, events: Recorder) -> None:
    prover = Prover()
    proof = prover.proof(iat=app_now(http))
    flow = new_flow()
    code = await get_code(http, flow)
    assert (await post_token(http, code_data(flow, code), proof)).status_code == 200
    await refused(http, proof, events, "replay")


async def test_of_eight_parallel_uses_of_one_proof_exactly_one_is_accepted(
        http: httpx.AsyncClient, events: Recorder) -> None:
    prover = Prover()
    proof = prover.proof(iat=app_now(http))
    flows = [new_flow() for _ in range(8)]
    codes = [await get_code(http, flow) for flow in flows]
    responses = await asyncio.gather(*(post_token(http, code_data(flow, code), proof)
                                       for flow, code in zip(flows, codes, strict=True)))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 7
    for response in responses:
        if response.status_code == 400:
            assert_oauth_error(response, "invalid_dpop_proof")
    assert reasons(events) == ["replay"] * 7


async def test_two_dpop_headers_are_refused(http: httpx.AsyncClient, events: Recorder) -> None:
    prover = Prover()
    flow = new_flow()
    code = await get_code(http, flow)
    response = await post_token(http, code_data(flow, code), prover.proof(iat=app_now(http)),
                                prover.proof(iat=app_now(http)))
    assert_oauth_error(response, "invalid_dpop_proof")
    assert reasons(events) == ["malformed"]


@pytest.mark.parametrize(("claims", "reason"), [
    ({"htm": "GET"}, "htm"),
    ({"htu": f"{ISSUER}/userinfo"}, "htu"),
    ({"htu": "https://attacker.example/token"}, "htu"),
])
async def test_a_proof_for_another_method_or_url_is_refused(
        http: httpx.AsyncClient, events: Recorder, claims: dict[str, str], reason: str) -> None:
    await refused(http, Prover().proof(iat=app_now(http), **claims), events, reason)


async def test_htu_is_the_configured_issuer_never_the_host_header(
        http: httpx.AsyncClient, events: Recorder) -> None:
    """A proof made for the URL a forged Host (or X-Forwarded-Host) names is refused."""
    forged = "http://evil.example/token"
    prover = Prover()
    flow = new_flow()
    code = await get_code(http, flow)
    response = await post_token(
        http, code_data(flow, code), prover.proof(iat=app_now(http), htu=forged),
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example",
                 "X-Forwarded-Proto": "http"})
    assert_oauth_error(response, "invalid_dpop_proof")
    assert reasons(events) == ["htu"]
    # ... while the configured issuer's URL works whatever the Host says.
    response = await post_token(http, code_data(flow, await get_code(http, flow)),
                                prover.proof(iat=app_now(http), htu=TOKEN_URL),
                                headers={"Host": "evil.example"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("offset", [60, -301, -3600])
async def test_a_proof_from_the_future_or_too_old_is_refused(
        http: httpx.AsyncClient, events: Recorder, offset: int) -> None:
    await refused(http, Prover().proof(iat=app_now(http) + offset), events, "iat")


async def test_alg_none_is_refused(http: httpx.AsyncClient, events: Recorder) -> None:
    key = ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    claims = {"jti": "x" * 16, "htm": "POST", "htu": TOKEN_URL, "iat": app_now(http)}
    await refused(http, unsigned(header, claims), events, "alg")


async def test_hs256_signed_with_the_public_key_is_refused(
        http: httpx.AsyncClient, events: Recorder) -> None:
    """Key confusion: an HMAC over the proof keyed with the (public) JWK's own bytes."""
    key = ECKey.generate_key("P-256")
    public = key.as_dict(private=False)
    secret = OctKey.import_key(json.dumps(public).encode())
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": public}
    claims = {"jti": "y" * 16, "htm": "POST", "htu": TOKEN_URL, "iat": app_now(http)}
    proof = jws.serialize_compact(header, json.dumps(claims), secret, algorithms=["HS256"])
    await refused(http, proof, events, "alg")


async def test_a_private_key_in_the_jwk_is_refused(
        http: httpx.AsyncClient, events: Recorder) -> None:
    key = ECKey.generate_key("P-256")
    proof = Prover(key).proof(iat=app_now(http), header={"jwk": key.as_dict(private=True)})
    await refused(http, proof, events, "jwk")


async def test_a_proof_signed_by_another_key_is_refused(
        http: httpx.AsyncClient, events: Recorder) -> None:
    other = ECKey.generate_key("P-256")
    proof = Prover().proof(iat=app_now(http), header={"jwk": other.as_dict(private=False)})
    await refused(http, proof, events, "signature")


@pytest.mark.parametrize("proof", ["", "not-a-jws", "a.b", "a.b.c.d", "x" * 20000])
async def test_a_malformed_proof_is_refused_not_a_500(
        http: httpx.AsyncClient, events: Recorder, proof: str) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await post_token(http, code_data(flow, code), proof)
    assert response.status_code in {400, 413, 431}, response.text
    if response.status_code == 400:
        assert_oauth_error(response, "invalid_dpop_proof")


async def test_a_refused_proof_is_counted_by_reason_and_the_audit_keeps_no_proof(
        http: httpx.AsyncClient, events: Recorder) -> None:
    proof = Prover().proof(iat=app_now(http), htm="GET")
    await refused(http, proof, events, "htm")
    failed = events.of(TokenExchangeFailed)[-1]
    assert failed.error == "invalid_dpop_proof"  # type: ignore[attr-defined]
    assert proof not in repr(events.events)
    metrics = await http.get("/metrics")
    assert 'proofkey_dpop_failures_total{reason="htm"} 1.0' in metrics.text
    assert 'proofkey_dpop_failures_total{reason="replay"} 0.0' in metrics.text
