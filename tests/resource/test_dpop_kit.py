"""DPoP-bound access tokens at an API (RFC 9449 §7): the kit's verifier and middleware accept
such a token only with the DPoP scheme and a fresh, single-use proof of its key, for this
request, and answer each refusal with the §7.1 challenge."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from proofkey.protocol.dpop import DPOP_ALGORITHMS, access_token_hash
from proofkey.resource import (
    DpopPolicy,
    InvalidDpopProofError,
    InvalidTokenError,
    Presentation,
    ProtectedResource,
    RotatingNonces,
    TokenVerifier,
    access_token_claims,
)
from proofkey.resource.mcp import McpTokenVerifier
from proofkey.sdk import AsyncOAuthClient, TokenSet
from proofkey.sdk.dpop import DpopKey
from tests.resource.conftest import (
    AUDIENCE,
    ISSUER,
    Clock,
    Issuer,
    Key,
    b64,
    challenges,
    dpop_proof,
    sign,
    thumbprint,
    unsigned,
)

METADATA_URL = "https://api.example/.well-known/oauth-protected-resource/mcp"
ALGS = " ".join(DPOP_ALGORITHMS)
CLIENT_KEY = ECKey.generate_key("P-256")
OTHER_KEY = ECKey.generate_key("P-256")


async def whoami(request: Request) -> JSONResponse:
    claims = access_token_claims(request.scope)
    return JSONResponse({"sub": claims.sub, "jkt": claims.jkt})


def protect(verifier: TokenVerifier) -> ProtectedResource:
    return ProtectedResource(Starlette(routes=[Route("/mcp", whoami, methods=["GET", "POST"])]),
                             verifier=verifier, required_scopes=["mcp:tools"])


async def client_for(verifier: TokenVerifier) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=protect(verifier)),
                             base_url="https://api.example")


@pytest.fixture
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(verifier) as http:
        yield http


def bound(ec_key: Key, key: Any = CLIENT_KEY, **claims: Any) -> str:
    return sign(ec_key, cnf={"jkt": thumbprint(key)}, **claims)


def dpop(token: str, proof: str | None = None, **proof_claims: Any) -> dict[str, str]:
    headers = {"Authorization": f"DPoP {token}"}
    if proof is None:
        proof = dpop_proof(CLIENT_KEY, token=token, **proof_claims)
    headers["DPoP"] = proof
    return headers


def refusal(response: httpx.Response, scheme: str = "DPoP", algs: str = ALGS) -> dict[str, str]:
    """The error and its description, from the challenge of ``scheme`` (RFC 9449 §7.1); the
    other scheme's challenge, if any, carries no error (§7.2)."""
    assert response.status_code == 401, response.text
    assert response.headers["cache-control"] == "no-store"
    parsed = challenges(response.headers["www-authenticate"])
    assert parsed["DPoP"]["algs"] == algs
    assert set(parsed) <= {"Bearer", "DPoP"}
    for name, params in parsed.items():
        assert params["resource_metadata"] == METADATA_URL
        assert ("error" in params) is (name == scheme)
    body = response.json()
    assert (body["error"], body["error_description"]) == (parsed[scheme]["error"],
                                                          parsed[scheme]["error_description"])
    return parsed[scheme]


# -- accepted --------------------------------------------------------------------------------


async def test_a_bound_token_with_a_valid_proof_passes_and_the_app_sees_its_key(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    response = await client.get("/mcp", headers=dpop(token))
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": "user-1", "jkt": thumbprint(CLIENT_KEY)}
    post = await client.post("/mcp?page=2", headers=dpop(token, method="POST"))
    assert post.status_code == 200  # htu has no query (§4.3 point 9)


async def test_the_scheme_name_is_case_insensitive(client: httpx.AsyncClient,
                                                   ec_key: Key) -> None:
    token = bound(ec_key)
    headers = dpop(token)
    headers["Authorization"] = f"dpop {token}"
    assert (await client.get("/mcp", headers=headers)).status_code == 200


async def test_the_verifier_checks_a_presentation_without_the_middleware(
        verifier: TokenVerifier, ec_key: Key) -> None:
    token = bound(ec_key)
    proof = dpop_proof(CLIENT_KEY, method="POST", url=AUDIENCE + "/tools", token=token)
    claims = await verifier.verify(token, presentation=Presentation.dpop(
        proof, method="POST", url=AUDIENCE + "/tools"))
    assert claims.jkt == thumbprint(CLIENT_KEY)
    with pytest.raises(InvalidTokenError, match="DPoP-bound"):
        await verifier.verify(token)  # no presentation: a bearer token


async def test_an_unbound_token_still_works_as_bearer(client: httpx.AsyncClient,
                                                      ec_key: Key) -> None:
    response = await client.get("/mcp", headers={"Authorization": f"Bearer {sign(ec_key)}"})
    assert response.status_code == 200
    assert response.json()["jkt"] is None


async def test_no_token_gets_both_challenges_without_an_error(
        client: httpx.AsyncClient) -> None:
    response = await client.get("/mcp")
    assert response.status_code == 401
    assert challenges(response.headers["www-authenticate"]) == {
        "Bearer": {"resource_metadata": METADATA_URL},
        "DPoP": {"resource_metadata": METADATA_URL, "algs": ALGS}}


# -- downgrade and binding -------------------------------------------------------------------


async def test_a_bound_token_sent_as_bearer_is_refused(client: httpx.AsyncClient,
                                                       ec_key: Key) -> None:
    token = bound(ec_key)
    for headers in ({"Authorization": f"Bearer {token}"},
                    {"Authorization": f"Bearer {token}",
                     "DPoP": dpop_proof(CLIENT_KEY, token=token)}):
        error = refusal(await client.get("/mcp", headers=headers), scheme="Bearer")
        assert error["error"] == "invalid_token"
        assert "DPoP-bound" in error["error_description"]


async def test_a_proof_by_another_key_than_the_bound_one_is_invalid_token(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    proof = dpop_proof(OTHER_KEY, token=token)
    error = refusal(await client.get("/mcp", headers=dpop(token, proof)))
    assert error["error"] == "invalid_token"  # §7.1 Figure 16: a failed key binding
    assert "bound to" in error["error_description"]


async def test_an_unbound_token_with_the_dpop_scheme_is_invalid_token(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = sign(ec_key)
    error = refusal(await client.get("/mcp", headers=dpop(token)))
    assert error["error"] == "invalid_token"


@pytest.mark.parametrize("cnf", ["jkt", {"x5t#S256": "abc"}, {"jkt": 7}, {"jkt": ""}])
async def test_an_unusable_cnf_is_invalid_token(client: httpx.AsyncClient, ec_key: Key,
                                                cnf: Any) -> None:
    token = sign(ec_key, cnf=cnf)
    error = refusal(await client.get("/mcp", headers=dpop(token)))
    assert error["error"] == "invalid_token"
    assert "cnf" in error["error_description"]


# -- the proof (RFC 9449 §4.3) ---------------------------------------------------------------


async def test_a_dpop_token_without_a_proof_or_with_two_is_invalid_dpop_proof(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    missing = await client.get("/mcp", headers={"Authorization": f"DPoP {token}"})
    assert refusal(missing)["error"] == "invalid_dpop_proof"
    two = httpx.Headers([("Authorization", f"DPoP {token}"),
                         ("DPoP", dpop_proof(CLIENT_KEY, token=token)),
                         ("DPoP", dpop_proof(CLIENT_KEY, token=token))])
    assert refusal(await client.get("/mcp", headers=two))["error"] == "invalid_dpop_proof"


async def test_a_proof_for_another_access_token_is_refused_by_its_ath(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    other = bound(ec_key, jti="jti-2")
    for proof in (dpop_proof(CLIENT_KEY, token=other), dpop_proof(CLIENT_KEY),
                  dpop_proof(CLIENT_KEY, ath="é" * 43)):
        error = refusal(await client.get("/mcp", headers=dpop(token, proof)))
        assert error == {"resource_metadata": METADATA_URL, "error": "invalid_dpop_proof",
                         "error_description": "the DPoP proof's ath does not match the "
                                              "access token", "algs": ALGS}


@pytest.mark.parametrize(("claims", "word"), [
    ({"htm": "POST"}, "htm"), ({"htm": "get"}, "htm"),
    ({"url": "https://api.example/other"}, "htu"), ({"url": "https://evil.example/mcp"}, "htu"),
    ({"url": "http://api.example/mcp"}, "htu"),
])
async def test_a_proof_for_another_method_or_url_is_refused(
        client: httpx.AsyncClient, ec_key: Key, claims: dict[str, str], word: str) -> None:
    token = bound(ec_key)
    proof = dpop_proof(CLIENT_KEY, token=token, **claims)
    error = refusal(await client.get("/mcp", headers=dpop(token, proof)))
    assert error["error"] == "invalid_dpop_proof"
    assert word in error["error_description"]


async def test_htu_is_checked_against_the_configured_origin_not_the_host_header(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    spoofed = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    proof = dpop_proof(CLIENT_KEY, token=token, url="https://evil.example/mcp")
    refused = await client.get("/mcp", headers={**dpop(token, proof), **spoofed})
    assert refusal(refused)["error"] == "invalid_dpop_proof"
    accepted = await client.get("/mcp", headers={**dpop(token), **spoofed})
    assert accepted.status_code == 200


@pytest.mark.parametrize("age", [-60, 301, 3600])
async def test_a_proof_from_the_future_or_stale_is_refused(
        client: httpx.AsyncClient, ec_key: Key, clock: Clock, age: int) -> None:
    token = bound(ec_key, exp=int(clock.wall()) + 7200)
    proof = dpop_proof(CLIENT_KEY, token=token, iat=int(clock.wall()) - age)
    error = refusal(await client.get("/mcp", headers=dpop(token, proof)))
    assert (error["error"], "iat" in error["error_description"]) == ("invalid_dpop_proof", True)


async def test_alg_none_and_hs256_signed_with_the_public_key_are_refused(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    claims = {"jti": "j1", "htm": "GET", "htu": AUDIENCE, "iat": int(Clock().wall()),
              "ath": access_token_hash(token)}
    jwk = CLIENT_KEY.as_dict(private=False)
    none = unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}, claims)
    # Key confusion (RFC 8725 §2.1): an HMAC keyed with the public key itself, which a
    # verifier that lets the header's alg pick the algorithm would accept.
    head = unsigned({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}, claims).rsplit(".", 1)[0]
    hs256 = []
    for secret in (CLIENT_KEY.as_pem(private=False), json.dumps(jwk).encode()):
        mac = hmac.new(secret, head.encode(), hashlib.sha256).digest()
        hs256.append(f"{head}.{b64(mac)}")
    for proof in (none, *hs256, none + "AAAA"):
        error = refusal(await client.get("/mcp", headers=dpop(token, proof)))
        assert (error["error"], error["error_description"]) == (
            "invalid_dpop_proof", "the DPoP proof's alg is not accepted")


async def test_a_proof_with_a_private_key_or_the_wrong_typ_is_refused(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    leaky = dpop_proof(CLIENT_KEY, token=token,
                       header={"jwk": CLIENT_KEY.as_dict(private=True)})
    wrong_typ = dpop_proof(CLIENT_KEY, token=token, header={"typ": "JWT"})
    garbage = "not-a-jws"
    for proof in (leaky, wrong_typ, garbage, "a.b.c", b64(b"{}") * 400):
        assert refusal(await client.get("/mcp", headers=dpop(token, proof)))["error"] == (
            "invalid_dpop_proof")


# -- replay (RFC 9449 §11.1) -----------------------------------------------------------------


async def test_a_proof_is_accepted_once(client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    headers = dpop(token)
    assert (await client.get("/mcp", headers=headers)).status_code == 200
    replay = refusal(await client.get("/mcp", headers=headers))
    assert replay == {"resource_metadata": METADATA_URL, "error": "invalid_dpop_proof",
                      "error_description": "the DPoP proof was already used", "algs": ALGS}
    assert (await client.get("/mcp", headers=dpop(token))).status_code == 200  # a fresh one


async def test_a_refused_request_does_not_use_up_the_proofs_jti(
        client: httpx.AsyncClient, ec_key: Key) -> None:
    token = bound(ec_key)
    proof = dpop_proof(CLIENT_KEY, token=token)
    wrong_key_token = bound(ec_key, key=OTHER_KEY, jti="other")
    assert (await client.get("/mcp", headers=dpop(wrong_key_token, proof))).status_code == 401
    assert (await client.get("/mcp", headers=dpop(token, proof))).status_code == 200


# -- policy: DPoP required, resource nonces --------------------------------------------------


async def test_a_resource_requiring_dpop_refuses_bearer_tokens_and_says_so(
        issuer: Issuer, clock: Clock, ec_key: Key) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle))
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http, clock=clock.wall,
                             dpop=DpopPolicy(required=True, algorithms=["ES256", "EdDSA"]))
    async with http, await client_for(verifier) as client:
        metadata = (await client.get("/.well-known/oauth-protected-resource/mcp")).json()
        assert metadata["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
        assert metadata["dpop_bound_access_tokens_required"] is True
        no_token = await client.get("/mcp")
        assert challenges(no_token.headers["www-authenticate"]) == {
            "DPoP": {"resource_metadata": METADATA_URL, "algs": "ES256 EdDSA"}}
        bearer = await client.get("/mcp", headers={"Authorization": f"Bearer {sign(ec_key)}"})
        assert challenges(bearer.headers["www-authenticate"])["DPoP"]["error"] == (
            "invalid_token")
        token = bound(ec_key)
        assert (await client.get("/mcp", headers=dpop(token))).status_code == 200
        p384 = ECKey.generate_key("P-384")
        token = bound(ec_key, key=p384)
        off_list = await client.get("/mcp", headers=dpop(token, dpop_proof(
            p384, token=token, alg="ES384")))
        assert refusal(off_list, algs="ES256 EdDSA")["error_description"] == (
            "the DPoP proof's alg is not accepted")


async def test_with_resource_nonces_a_proof_needs_a_recent_one(
        issuer: Issuer, clock: Clock, ec_key: Key) -> None:
    nonces = RotatingNonces(b"0123456789abcdef", period=60, clock=clock.wall)
    http = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle))
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http, clock=clock.wall,
                             monotonic=clock.monotonic, dpop=DpopPolicy(nonces=nonces))
    token = bound(ec_key, exp=int(clock.wall()) + 3600)
    async with http, await client_for(verifier) as client:
        first = await client.get("/mcp", headers=dpop(token))
        assert refusal(first)["error"] == "use_dpop_nonce"  # §9 Figure 24
        nonce = first.headers["dpop-nonce"]
        ok = await client.get("/mcp", headers=dpop(token, nonce=nonce))
        assert ok.status_code == 200
        assert ok.headers["dpop-nonce"] == nonce
        wrong = await client.get("/mcp", headers=dpop(token, nonce=nonce + "x"))
        assert refusal(wrong)["error"] == "use_dpop_nonce"
        clock.offset += 60  # the next window: the old nonce still works once more
        again = await client.get("/mcp", headers=dpop(token, nonce=nonce, iat=int(
            clock.wall())))
        assert again.status_code == 200
        assert again.headers["dpop-nonce"] != nonce
        clock.offset += 60
        stale = await client.get("/mcp", headers=dpop(token, nonce=nonce, iat=int(
            clock.wall())))
        assert refusal(stale)["error"] == "use_dpop_nonce"
        # Bearer requests are not asked for nonces.
        plain = await client.get("/mcp", headers={"Authorization": f"Bearer {sign(ec_key)}"})
        assert plain.status_code == 200


# -- the MCP adapter -------------------------------------------------------------------------


async def test_the_mcp_sdk_adapter_sees_only_bearer_tokens_so_refuses_bound_ones(
        verifier: TokenVerifier, ec_key: Key) -> None:
    adapter = McpTokenVerifier(verifier)
    assert await adapter.verify_token(bound(ec_key)) is None
    assert await adapter.verify_token(sign(ec_key)) is not None


def test_the_policy_takes_only_asymmetric_algorithms() -> None:
    for algs in (["HS256"], ["none"], []):
        with pytest.raises(ValueError, match="asymmetric"):
            DpopPolicy(algorithms=algs)
    assert InvalidDpopProofError("x", reason="replay").status_code == 401


# -- proofkey's own client SDK against the kit -----------------------------------------------


async def test_the_sdk_calls_a_dpop_api_and_answers_its_nonce_challenge_once(
        issuer: Issuer, clock: Clock, ec_key: Key) -> None:
    key = DpopKey.generate("ES256")
    token = sign(ec_key, cnf={"jkt": key.thumbprint})
    tokens = TokenSet(access_token=token, token_type="DPoP", expires_at=None,
                      dpop_jkt=key.thumbprint)
    http = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle))
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http, clock=clock.wall,
                             dpop=DpopPolicy(nonces=RotatingNonces()))
    api = protect(verifier)
    statuses: list[int] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)
        await api(scope, receive, record)

    sdk = AsyncOAuthClient(ISSUER, "app", dpop_key=key,
                           transport=httpx.ASGITransport(app=recording))
    async with http, sdk:
        response = await sdk.request("POST", AUDIENCE, tokens, json={"q": 1})
        assert response.status_code == 200, response.text
        assert response.json()["jkt"] == key.thumbprint
        again = await sdk.request("GET", AUDIENCE + "?page=2", tokens)
        assert again.status_code == 200
    assert statuses == [401, 200, 200]  # one use_dpop_nonce, then the nonce is kept
