"""The pure rules of private_key_jwt (RFC 7523 §3, OIDC Core §9): assertion claims at their
boundaries, and the JWK Set and jwks_uri a client may register."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey.protocol.client_assertion import (
    AssertionRefused,
    ClientKeyRefused,
    check_assertion_claims,
    check_jwks,
    check_jwks_uri,
    key_fits,
)
from tests.pkjwt import es_key, jwks_of, rs_key

ISSUER = "https://as.example.com"
NOW = 1_800_000_000


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": "c", "sub": "c", "aud": ISSUER, "exp": NOW + 60,
                            "iat": NOW, "jti": "j-1"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def check(**changes: Any) -> Any:
    return check_assertion_claims(claims(**changes), client_id="c", issuer=ISSUER, now=NOW,
                                  max_lifetime=300, leeway=30)


def test_a_good_assertion_is_kept_until_it_could_no_longer_be_accepted() -> None:
    checked = check()
    assert (checked.jti, checked.exp, checked.replay_until) == ("j-1", NOW + 60, NOW + 90)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"exp": NOW - 30}, "exp"),  # past, beyond the leeway
    ({"exp": NOW + 331}, "lifetime"),  # more than max_lifetime + leeway ahead
    ({"nbf": NOW + 31}, "nbf"),
    ({"iat": NOW + 31}, "iat"),
    ({"exp": "soon"}, "malformed"),
    ({"exp": True}, "malformed"),
    ({"aud": [ISSUER, ISSUER + "/token"]}, "aud"),
    ({"aud": ISSUER + "/"}, "aud"),
    ({"jti": ""}, "jti"),
    ({"jti": "x" * 257}, "jti"),
    ({"jti": 7}, "jti"),
    ({"iss": None}, "iss"),
    ({"sub": None}, "sub"),
])
def test_claims_at_and_past_their_bounds_are_refused(changes: dict[str, Any],
                                                     reason: str) -> None:
    with pytest.raises(AssertionRefused) as refused:
        check(**changes)
    assert refused.value.reason == reason


@pytest.mark.parametrize("changes", [
    {"exp": NOW - 29}, {"exp": NOW + 330}, {"nbf": NOW + 30}, {"iat": NOW + 30},
    {"exp": NOW + 60.5}, {"aud": [ISSUER]},
])
def test_claims_within_the_leeway_are_accepted(changes: dict[str, Any]) -> None:
    check(**changes)


@given(st.dictionaries(st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(
                           allow_nan=False, allow_infinity=False), st.text(max_size=5),
                           st.lists(st.text(max_size=3), max_size=2))))
def test_any_claim_set_is_accepted_or_refused_never_an_error(raw: dict[str, Any]) -> None:
    with contextlib.suppress(AssertionRefused):
        check_assertion_claims(raw, client_id="c", issuer=ISSUER, now=NOW)


def test_only_keys_of_the_right_type_fit_an_algorithm() -> None:
    assert key_fits("ES256", "EC", "P-256")
    assert not key_fits("ES256", "EC", "P-384")
    assert key_fits("RS256", "RSA", None)
    assert key_fits("PS512", "RSA", None)
    assert not key_fits("RS256", "EC", "P-256")
    assert not key_fits("HS256", "oct", None)
    assert not key_fits("none", "RSA", None)


def test_a_public_set_passes() -> None:
    check_jwks(jwks_of(es_key("a"), rs_key("b")))


@pytest.mark.parametrize(("jwks", "rule"), [
    ({"keys": [es_key("a").as_dict(private=True)]}, "PKL061"),
    ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "PKL062"),
    ({"keys": []}, "PKL066"),
    ({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA"}]}, "PKL066"),  # no y
    ({"keys": [{**es_key("a").as_dict(private=False), "crv": "secp256k1"}]}, "PKL066"),
    ({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}, "PKL066"),  # far too small
    ({"keys": "not a list"}, "PKL066"),
    ({"keys": [es_key(str(i)).as_dict(private=False) for i in range(11)]}, "PKL066"),
])
def test_sets_the_policy_refuses_name_their_rule(jwks: dict[str, Any], rule: str) -> None:
    with pytest.raises(ClientKeyRefused) as refused:
        check_jwks(jwks)
    assert refused.value.rule == rule


@pytest.mark.parametrize("uri", [
    "http://keys.example/jwks", "https://u:p@keys.example/jwks", "https://keys.example/j#f",
    "https:///jwks", "https://keys.example/a b", "ftp://keys.example/jwks",
    "https://keys.example:0/jwks",
])
def test_a_jwks_uri_must_be_a_plain_https_url(uri: str) -> None:
    with pytest.raises(ClientKeyRefused) as refused:
        check_jwks_uri(uri)
    assert refused.value.rule == "PKL063"


def test_an_https_jwks_uri_with_a_query_passes() -> None:
    check_jwks_uri("https://keys.example:8443/tenant/jwks?v=2")
