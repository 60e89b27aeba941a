"""The SDK's DPoP proofs (RFC 9449 §4.2), checked by the verifier the server and the kit use
(``proofkey.resource.dpop.verify_proof``), and their algorithm chosen from the server's list."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofkey.protocol.dpop import access_token_hash, jwk_thumbprint
from proofkey.resource.dpop import verify_proof
from proofkey.sdk.dpop import ALGORITHMS, DpopKey, choose_algorithm

KEY = DpopKey.generate()


def parts(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def decode(segment: str) -> dict[str, Any]:
        padded = segment + "=" * (-len(segment) % 4)
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
        return data
    header, payload, _ = proof.split(".")
    return decode(header), decode(payload)


def test_a_proof_has_the_shape_of_rfc_9449_section_4_2() -> None:
    header, claims = parts(KEY.proof("post", "https://as.example/token"))
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": KEY.public_jwk}
    assert set(KEY.public_jwk) == {"kty", "crv", "x", "y"}  # public members only, no "d"
    assert KEY.public_jwk["crv"] == "P-256"
    assert set(claims) == {"jti", "htm", "htu", "iat"}  # no ath, no nonce unless asked
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://as.example/token"
    assert abs(claims["iat"] - time.time()) < 5
    assert len(base64.urlsafe_b64decode(claims["jti"] + "==")) * 8 >= 96


def test_each_proof_has_its_own_jti() -> None:
    jtis = {parts(KEY.proof("GET", "https://rs.example/"))[1]["jti"] for _ in range(200)}
    assert len(jtis) == 200


def test_a_resource_proof_carries_ath_and_the_nonce_it_was_given() -> None:
    proof = KEY.proof("GET", "https://rs.example/me", access_token="at-1", nonce="n-42")
    claims = parts(proof)[1]
    assert claims["ath"] == access_token_hash("at-1")
    assert claims["nonce"] == "n-42"
    checked = verify_proof(proof, method="GET", url="https://rs.example/me",
                           now=int(time.time()), access_token="at-1")
    assert checked.jkt == KEY.thumbprint == jwk_thumbprint(KEY.public_jwk)
    assert checked.nonce == "n-42"


urls = st.builds(
    lambda scheme, host, port, path, query, fragment: (
        f"{scheme}://{host}{port}{path}{query}{fragment}"),
    st.sampled_from(["https", "http", "HTTPS", "Http"]),
    st.sampled_from(["as.example", "AS.Example", "127.0.0.1", "[::1]", "login.ex-ample.org"]),
    st.sampled_from(["", ":443", ":80", ":8443", ":1"]),
    st.lists(st.text("abcXYZ09-._~%2F", min_size=1, max_size=8), max_size=4).map(
        lambda segments: "".join("/" + s for s in segments)),
    st.one_of(st.just(""), st.text("ab=&?/%20", max_size=12).map(lambda q: "?" + q)),
    st.one_of(st.just(""), st.text("ab?#/", max_size=8).map(lambda f: "#" + f)),
)


@settings(max_examples=150, deadline=None)
@given(url=urls, method=st.sampled_from(["get", "POST", "Put", "delete"]))
def test_htu_is_the_target_uri_without_query_and_fragment(url: str, method: str) -> None:
    proof = KEY.proof(method, url, access_token="tok")
    claims = parts(proof)[1]
    htu = claims["htu"]
    assert "?" not in htu
    assert "#" not in htu
    given_parts, htu_parts = urlsplit(url), urlsplit(htu)
    assert htu_parts.scheme == given_parts.scheme.lower()
    assert htu_parts.hostname == (given_parts.hostname or "").lower()
    assert htu_parts.path == (given_parts.path or "/")
    assert claims["htm"] == method.upper()
    # The server's own check accepts it for the same request, query and fragment included.
    verify_proof(proof, method=method.upper(), url=url, now=int(time.time()),
                 access_token="tok")


@pytest.mark.parametrize(("advertised", "chosen"), [
    (["ES256", "Ed25519", "EdDSA"], "ES256"),  # node-oidc-provider's default list
    (["RS256", "PS256", "ES256"], "ES256"),
    (["EdDSA", "RS256"], "EdDSA"),
    (["PS256"], "PS256"),
    (["ES384", "ES512"], "ES384"),
    (["HS256", "none"], None),
    ([], None),
])
def test_the_algorithm_is_chosen_from_the_servers_list(advertised: list[str],
                                                       chosen: str | None) -> None:
    assert choose_algorithm(advertised) == chosen


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")
@pytest.mark.parametrize("alg", [a for a in ALGORITHMS if a != "Ed25519"])  # not in proofkey's
def test_every_algorithm_signs_proofs_the_server_verifies(alg: str) -> None:
    key = DpopKey.generate(alg)
    proof = key.proof("POST", "https://as.example/token")
    assert parts(proof)[0]["alg"] == alg
    assert "d" not in key.public_jwk
    assert "p" not in key.public_jwk
    checked = verify_proof(proof, method="POST", url="https://as.example/token",
                           now=int(time.time()))
    assert checked.jkt == key.thumbprint


def test_a_key_survives_its_jwk_and_its_repr_shows_no_secret() -> None:
    again = DpopKey.from_jwk(KEY.to_jwk())
    assert again.thumbprint == KEY.thumbprint
    assert again.alg == "ES256"
    assert KEY.to_jwk()["d"] not in repr(KEY)
    with pytest.raises(ValueError, match="private"):
        DpopKey.from_jwk({**KEY.public_jwk, "alg": "ES256"})
    with pytest.raises(ValueError, match="curve"):
        DpopKey.from_jwk({**KEY.to_jwk(), "alg": "ES384"})  # a P-256 key is not ES384
