"""RFC 9068 §4: what a resource server must check on a JWT access token, with real keys."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from proofkey.resource import (
    InsufficientScopeError,
    InvalidTokenError,
    TokenVerifier,
    VerifierUnavailable,
    fetch,
)
from tests.resource.conftest import (
    ALG_KEYS,
    AUDIENCE,
    ISSUER,
    Clock,
    Issuer,
    Key,
    b64,
    claims,
    new_key,
    sign,
    unsigned,
)


async def test_a_valid_token_gives_typed_frozen_claims(verifier: TokenVerifier,
                                                       ec_key: Key) -> None:
    verified = await verifier.verify(sign(ec_key, scope="mcp:tools mcp:admin"),
                                     required_scopes=["mcp:tools"])
    assert (verified.iss, verified.sub, verified.aud, verified.client_id) == (
        ISSUER, "user-1", (AUDIENCE,), "app")
    assert verified.scopes == ("mcp:tools", "mcp:admin")
    assert verified.has_scopes("mcp:admin")
    with pytest.raises(AttributeError):
        verified.sub = "someone else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        verified.claims["sub"] = "someone else"  # type: ignore[index]


@pytest.mark.parametrize("alg", sorted(ALG_KEYS))
async def test_every_allowed_asymmetric_algorithm_verifies(alg: str, clock: Clock) -> None:
    key = new_key(ALG_KEYS[alg], "default")
    issuer = Issuer([key])
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle)) as http:
        verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http)
        assert (await verifier.verify(sign(key, alg))).sub == "user-1"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt",
                                 "Application/At+JWT"])
async def test_typ_at_jwt_is_compared_case_insensitively(verifier: TokenVerifier, ec_key: Key,
                                                         typ: str) -> None:
    assert (await verifier.verify(sign(ec_key, typ=typ))).sub == "user-1"


@pytest.mark.parametrize("typ", [None, "JWT", "id_token+jwt", "at+jwt2", "jwt"])
async def test_a_token_of_another_type_is_refused(verifier: TokenVerifier, ec_key: Key,
                                                  typ: str | None) -> None:
    """An ID token signed by the same issuer with the same key is not an access token."""
    with pytest.raises(InvalidTokenError, match="typ"):
        await verifier.verify(sign(ec_key, typ=typ))


async def test_alg_none_is_refused(verifier: TokenVerifier, issuer: Issuer) -> None:
    token = unsigned({"alg": "none", "typ": "at+jwt", "kid": "default"}, claims())
    with pytest.raises(InvalidTokenError, match="algorithm"):
        await verifier.verify(token)
    assert issuer.jwks_requests == 0  # refused before any key is looked up


@pytest.mark.parametrize("secret_form", ["jwk-json", "x-coordinate", "pem"])
async def test_hmac_with_the_public_key_as_secret_is_refused(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer, secret_form: str) -> None:
    """The key-confusion attack (RFC 8725 §2.1): HS256 keyed with what the JWKS publishes."""
    public = ec_key.as_dict(private=False)
    secret = {"jwk-json": json.dumps(public).encode(), "x-coordinate": public["x"].encode(),
              "pem": ec_key.as_pem(private=False)}[secret_form]
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "default"}).encode())
    body = b64(json.dumps(claims()).encode())
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidTokenError, match="algorithm"):
        await verifier.verify(f"{header}.{body}.{b64(mac)}")


async def test_an_alg_that_does_not_fit_the_keys_type_is_refused(issuer: Issuer,
                                                                 clock: Clock) -> None:
    """An RSA key named by kid cannot verify an ES256 token, nor an EC key an RS256 one."""
    rsa = new_key("rsa", "rsa-1")
    issuer.keys.append(rsa)
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle)) as http:
        verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http)
        token = sign(rsa, "RS256", kid="rsa-1")
        _header, body, signature = token.split(".")
        relabelled = b64(json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": "rsa-1"}).encode())
        with pytest.raises(InvalidTokenError, match="key"):
            await verifier.verify(f"{relabelled}.{body}.{signature}")
        assert (await verifier.verify(token)).sub == "user-1"


async def test_algorithms_outside_the_asymmetric_list_cannot_be_configured() -> None:
    for algs in (["none"], ["HS256"], ["ES256", "HS512"], []):
        with pytest.raises(ValueError, match="algorithm"):
            TokenVerifier(issuer=ISSUER, audience=AUDIENCE, algorithms=algs)


async def test_an_issuer_in_the_clear_off_loopback_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="https"):
        TokenVerifier(issuer="http://issuer.example", audience=AUDIENCE)
    with pytest.raises(ValueError, match="https"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_uri="http://10.0.0.1/keys")


async def test_a_forged_signature_is_refused(verifier: TokenVerifier, ec_key: Key) -> None:
    other = new_key("ec", "default")  # same kid, another key
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier.verify(sign(other))
    header, _body, signature = sign(ec_key).split(".")
    tampered = b64(json.dumps(claims(sub="admin")).encode())
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier.verify(f"{header}.{tampered}.{signature}")


@dataclass(frozen=True)
class Offset:
    """A time claim this many seconds from the moment the test runs."""

    seconds: int


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"iss": "https://issuer.example/"}, "another server"),
    ({"iss": "https://evil.example"}, "another server"),
    ({"aud": "https://api.example/other"}, "another resource"),
    ({"aud": ["https://api.example/other", "https://issuer.example"]}, "another resource"),
    ({"aud": []}, "aud"),
    ({"aud": None}, "aud"),
    ({"exp": Offset(-31)}, "expired"),
    ({"nbf": Offset(60)}, "not valid yet"),
    ({"iat": Offset(60)}, "future"),
    ({"exp": "tomorrow"}, "exp"),
    ({"exp": True}, "exp"),
    ({"sub": None}, "sub"),
    ({"client_id": 7}, "client_id"),
    ({"jti": None}, "jti"),
    ({"scope": ["mcp:tools"]}, "scope"),
])
async def test_claims_that_do_not_check_out_are_refused(
        verifier: TokenVerifier, ec_key: Key, overrides: dict[str, Any], reason: str) -> None:
    now = int(time.time())  # times are taken when the test runs, not when it is collected
    values = {k: now + v.seconds if isinstance(v, Offset) else v for k, v in overrides.items()}
    with pytest.raises(InvalidTokenError, match=reason):
        await verifier.verify(sign(ec_key, **values))


async def test_an_audience_array_that_names_this_resource_is_accepted(
        verifier: TokenVerifier, ec_key: Key) -> None:
    token = sign(ec_key, aud=["https://api.example/other", AUDIENCE])
    assert (await verifier.verify(token)).aud == ("https://api.example/other", AUDIENCE)


async def test_times_are_checked_with_the_configured_leeway(verifier: TokenVerifier,
                                                             ec_key: Key) -> None:
    now = int(time.time())
    token = sign(ec_key, exp=now - 10, nbf=now + 10, iat=now + 10)
    assert (await verifier.verify(token)).exp == now - 10  # within the default 30 s
    verifier.leeway = 0
    with pytest.raises(InvalidTokenError, match="expired"):
        await verifier.verify(token)


async def test_a_missing_scope_is_insufficient_scope_naming_what_to_ask_for(
        verifier: TokenVerifier, ec_key: Key) -> None:
    with pytest.raises(InsufficientScopeError) as refused:
        await verifier.verify(sign(ec_key, scope="mcp:tools"),
                              required_scopes=["mcp:tools", "mcp:admin"])
    assert refused.value.scope == "mcp:tools mcp:admin"
    assert refused.value.status_code == 403
    with pytest.raises(InsufficientScopeError):
        await verifier.verify(sign(ec_key, scope=None), required_scopes=["mcp:tools"])


async def test_an_oversize_or_malformed_token_is_refused_before_any_fetch(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer) -> None:
    big = sign(ec_key, padding="x" * 5000)
    for token in (big, "", "a.b", "a.b.c.d", "not a token", "e30.e30.", "!!.??.**"):
        with pytest.raises(InvalidTokenError):
            await verifier.verify(token)
    assert issuer.jwks_requests == 0


async def test_keys_are_fetched_once_and_kept(verifier: TokenVerifier, ec_key: Key,
                                              issuer: Issuer) -> None:
    for _ in range(5):
        await verifier.verify(sign(ec_key))
    assert (issuer.metadata_requests, issuer.jwks_requests) == (1, 1)


async def test_an_unknown_kid_triggers_one_refresh_that_finds_a_rotated_key(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer, clock: Clock) -> None:
    await verifier.verify(sign(ec_key))
    rotated = new_key("ec", "rotated")
    issuer.keys.append(rotated)
    clock.offset += 31  # past the refresh interval since the first fetch
    assert (await verifier.verify(sign(rotated, kid="rotated"))).sub == "user-1"
    assert issuer.jwks_requests == 2
    assert issuer.metadata_requests == 1  # the jwks_uri was kept


async def test_refreshes_for_unknown_kids_are_rate_limited(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer, clock: Clock) -> None:
    await verifier.verify(sign(ec_key))
    for n in range(20):
        with pytest.raises(InvalidTokenError, match="key"):
            await verifier.verify(sign(ec_key, kid=f"made-up-{n}"))
    assert issuer.jwks_requests == 1  # the first fetch was less than 30 s ago
    clock.offset += 30
    for n in range(20):
        with pytest.raises(InvalidTokenError, match="key"):
            await verifier.verify(sign(ec_key, kid=f"made-up-again-{n}"))
    assert issuer.jwks_requests == 2


async def test_concurrent_verifications_share_one_fetch(verifier: TokenVerifier,
                                                         ec_key: Key, issuer: Issuer) -> None:
    issuer.delay = 0.05
    results = await asyncio.gather(*(verifier.verify(sign(ec_key)) for _ in range(20)))
    assert {r.sub for r in results} == {"user-1"}
    assert issuer.jwks_requests == 1


async def test_keys_older_than_max_age_are_refetched_and_kept_if_that_fails(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer, clock: Clock) -> None:
    token = sign(ec_key, exp=int(time.time()) + 7200)
    await verifier.verify(token)
    clock.offset += 3600
    issuer.fail = True
    assert (await verifier.verify(token)).sub == "user-1"
    issuer.fail = False
    clock.offset += 30
    await verifier.verify(token)
    assert issuer.jwks_requests == 2


async def test_a_withdrawn_key_stops_verifying_after_max_age(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer, clock: Clock) -> None:
    token = sign(ec_key)
    await verifier.verify(token)
    issuer.keys = [new_key("ec", "next")]
    clock.offset += 3600
    with pytest.raises(InvalidTokenError, match="key"):
        await verifier.verify(token)


async def test_an_unreachable_issuer_is_unavailable_not_an_invalid_token(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer, clock: Clock) -> None:
    issuer.fail = True
    with pytest.raises(VerifierUnavailable) as refused:
        await verifier.verify(sign(ec_key))
    assert refused.value.status_code == 503
    issuer.fail = False
    with pytest.raises(VerifierUnavailable):  # no new attempt within the interval
        await verifier.verify(sign(ec_key))
    clock.offset += 30
    assert (await verifier.verify(sign(ec_key))).sub == "user-1"


@pytest.mark.parametrize("body", [b"{" * 100_000, b"[" * 60_000, b'{"keys": "none"}',
                                  b"not json", json.dumps({"keys": ["x" * 70_000]}).encode()])
async def test_a_broken_or_oversize_jwks_yields_no_keys(verifier: TokenVerifier, ec_key: Key,
                                                        issuer: Issuer, body: bytes) -> None:
    issuer.jwks_override = body
    with pytest.raises((VerifierUnavailable, InvalidTokenError)):
        await verifier.verify(sign(ec_key))


async def test_a_jwks_of_symmetric_private_or_weak_keys_verifies_nothing(
        verifier: TokenVerifier, ec_key: Key, issuer: Issuer) -> None:
    weak = new_key("rsa", "weak")
    weak_jwk = weak.as_dict(private=False)
    weak_jwk["n"] = weak_jwk["n"][:170]  # 1024 bits
    issuer.jwks_override = json.dumps({"keys": [
        {"kty": "oct", "k": b64(b"secret"), "kid": "default"},
        ec_key.as_dict(private=True),
        {**ec_key.as_dict(private=False), "use": "enc"},
        {**ec_key.as_dict(private=False), "alg": "ES384"},
        {**weak_jwk, "kid": "default"},
    ]}).encode()
    with pytest.raises(InvalidTokenError, match="key"):
        await verifier.verify(sign(ec_key))


async def test_metadata_naming_another_issuer_is_not_used(verifier: TokenVerifier,
                                                          ec_key: Key, issuer: Issuer) -> None:
    issuer.extra_metadata = {"issuer": "https://evil.example"}
    with pytest.raises(VerifierUnavailable):
        await verifier.verify(sign(ec_key))


async def test_discovery_falls_back_to_openid_configuration(ec_key: Key) -> None:
    issuer = Issuer([ec_key], metadata_path="/.well-known/openid-configuration")
    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return await issuer.handle(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http)
        await verifier.verify(sign(ec_key))
    assert seen == ["/.well-known/oauth-authorization-server",
                    "/.well-known/openid-configuration", "/keys"]


async def test_a_configured_jwks_uri_skips_discovery(ec_key: Key) -> None:
    issuer = Issuer([ec_key])
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle)) as http:
        verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http,
                                 jwks_uri="https://issuer.example/keys")
        await verifier.verify(sign(ec_key))
    assert (issuer.metadata_requests, issuer.jwks_requests) == (0, 1)


async def test_a_compressed_jwks_is_refused_whatever_it_inflates_to(ec_key: Key) -> None:
    import gzip

    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["accept-encoding"])
        body = gzip.compress(json.dumps({"keys": [ec_key.as_dict(private=False)]}).encode())
        return httpx.Response(200, content=body, headers={"content-encoding": "gzip"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http,
                                 jwks_uri="https://issuer.example/keys")
        with pytest.raises(VerifierUnavailable):
            await verifier.verify(sign(ec_key))
    assert seen == ["identity"]


async def test_a_redirect_is_not_followed(ec_key: Key) -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "https://evil.example/keys"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, http=http,
                                 jwks_uri="https://issuer.example/keys")
        with pytest.raises(VerifierUnavailable):
            await verifier.verify(sign(ec_key))


async def test_a_slow_issuer_costs_a_bounded_time(verifier: TokenVerifier, ec_key: Key,
                                                  issuer: Issuer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "TOTAL_SECONDS", 0.2)
    issuer.delay = 5
    started = time.monotonic()
    with pytest.raises(VerifierUnavailable):
        await verifier.verify(sign(ec_key))
    assert time.monotonic() - started < 2


async def test_concurrent_requests_share_one_failed_fetch_too(verifier: TokenVerifier,
                                                               ec_key: Key,
                                                               issuer: Issuer) -> None:
    issuer.jwks_override = b"not json"
    issuer.delay = 0.05
    results = await asyncio.gather(*(verifier.verify(sign(ec_key)) for _ in range(10)),
                                   return_exceptions=True)
    assert all(isinstance(r, VerifierUnavailable) for r in results)
    assert issuer.jwks_requests == 1
