"""DPoP proof claim checks (RFC 9449 §4.3) and the values derived from keys and tokens."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey.protocol.dpop import (
    DpopError,
    access_token_hash,
    check_claims,
    jwk_thumbprint,
    normalize_htu,
)

NOW = 1_800_000_000
URL = "https://as.example/token"


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_rfc_7638_example_thumbprint() -> None:
    # RFC 7638 §3.1's example key and its thumbprint.
    jwk = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
           "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhD"
                "R1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6C"
                "f0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n"
                "91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF"
                "44-csFCur-kEgU8awapJzKnqDKgw"}
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_thumbprint_ignores_optional_members_and_refuses_unknown_types() -> None:
    ec = {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}
    assert jwk_thumbprint(ec) == jwk_thumbprint({**ec, "kid": "k", "alg": "ES256"})
    with pytest.raises(ValueError, match="not a public"):
        jwk_thumbprint({"kty": "oct", "k": "secret"})
    with pytest.raises(ValueError, match="not a public"):
        jwk_thumbprint({"kty": "EC", "crv": "P-256", "x": "a"})


def test_ath_is_the_base64url_sha256_of_the_token() -> None:
    digest = hashlib.sha256(b"token-value").digest()
    assert access_token_hash("token-value") == base64.urlsafe_b64encode(
        digest).rstrip(b"=").decode()


@pytest.mark.parametrize(("given_url", "expected"), [
    ("HTTPS://AS.Example:443/token?x=1#f", "https://as.example/token"),
    ("http://as.example:80/a", "http://as.example/a"),
    ("https://as.example:8443/a", "https://as.example:8443/a"),
    ("https://as.example", "https://as.example/"),
    ("https://[::1]:9000/t", "https://[::1]:9000/t"),
])
def test_htu_normalisation(given_url: str, expected: str) -> None:
    assert normalize_htu(given_url) == expected


@pytest.mark.parametrize("bad", ["/token", "ftp://as.example/t", "https:///t", "https://h:x/"])
def test_htu_that_is_not_an_absolute_http_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - urllib's port errors have no fixed text
        normalize_htu(bad)


def test_a_good_proof_passes() -> None:
    proof = check_claims(claims(), jkt="k", method="POST", url=URL, now=NOW)
    assert (proof.jti, proof.htm, proof.iat, proof.jkt) == ("j-1", "POST", NOW, "k")


@pytest.mark.parametrize(("changes", "reason"), [
    ({"jti": None}, "malformed"), ({"jti": ""}, "malformed"), ({"jti": "x" * 257}, "malformed"),
    ({"jti": 5}, "malformed"),
    ({"htm": "GET"}, "htm"), ({"htm": "post"}, "htm"), ({"htm": None}, "htm"),
    ({"htu": "https://as.example/userinfo"}, "htu"), ({"htu": "https://evil.example/token"}, "htu"),
    ({"htu": None}, "htu"), ({"htu": "token"}, "htu"),
    ({"iat": NOW + 6}, "iat"), ({"iat": NOW - 301}, "iat"), ({"iat": "now"}, "iat"),
    ({"iat": True}, "iat"), ({"iat": None}, "iat"),
    ({"nonce": 5}, "malformed"),
])
def test_each_claim_is_checked(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(DpopError) as refused:
        check_claims(claims(**changes), jkt="k", method="POST", url=URL, now=NOW)
    assert refused.value.reason == reason


def test_a_query_in_htu_is_ignored_and_leeway_applies() -> None:
    check_claims(claims(htu=URL + "?a=b", iat=NOW + 5), jkt="k", method="POST", url=URL,
                 now=NOW)


def test_ath_must_match_the_presented_token() -> None:
    good = claims(ath=access_token_hash("the-token"))
    check_claims(good, jkt="k", method="POST", url=URL, now=NOW, access_token="the-token")
    for bad in (claims(), claims(ath=access_token_hash("another")), claims(ath="é" * 43)):
        with pytest.raises(DpopError) as refused:
            check_claims(bad, jkt="k", method="POST", url=URL, now=NOW,
                         access_token="the-token")
        assert refused.value.reason == "ath"


@given(st.text(max_size=60), st.sampled_from(["https", "http", "HTTPS"]),
       st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5})?", fullmatch=True))
def test_htu_never_keeps_a_query_or_fragment(path: str, scheme: str, host: str) -> None:
    url = f"{scheme}://{host}/{path.replace('#', '').replace('?', '')}?q=1#frag"
    try:
        normalized = normalize_htu(url)
    except ValueError:
        return
    assert "?" not in normalized
    assert "#" not in normalized
    assert normalize_htu(normalized) == normalized  # idempotent


@given(st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce", "x"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                                 st.floats(allow_nan=False))))
def test_any_claim_set_is_accepted_or_refused_with_a_reason(raw: dict[str, object]) -> None:
    reason = None
    try:
        check_claims(raw, jkt="k", method="POST", url=URL, now=NOW, access_token="t")
    except DpopError as error:
        reason, description = error.reason, error.description
        assert "t" not in description.split()  # nothing from the request is echoed
    assert reason in {None, "malformed", "htm", "htu", "iat", "ath"}
