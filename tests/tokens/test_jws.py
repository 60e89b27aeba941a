"""The hand-rolled compact JWS signer against an independent verifier (joserfc) and OpenSSL."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from proofkey.tokens.jws import JwsSigner

EC_KEY = ECKey.generate_key("P-256", private=True)
RSA_KEY = RSAKey.generate_key(2048, private=True)

_scalars = st.one_of(st.text(max_size=40), st.integers(-(2**53), 2**53), st.booleans(),
                     st.none())
claims_strategy = st.dictionaries(st.text(min_size=1, max_size=12), _scalars, max_size=8)


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    header, payload, signature = token.split(".")
    pad = lambda part: part + "=" * (-len(part) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(header))),
            json.loads(base64.urlsafe_b64decode(pad(payload))),
            base64.urlsafe_b64decode(pad(signature)))


@settings(max_examples=60, deadline=None)
@given(claims=claims_strategy, typ=st.sampled_from(["at+jwt", "JWT"]))
def test_es256_tokens_verify_with_joserfc_and_carry_the_claims_unchanged(
        claims: dict[str, Any], typ: str) -> None:
    token = JwsSigner("ES256", "kid-1", EC_KEY.private_key).sign(claims, typ=typ)
    decoded = jwt.decode(token, EC_KEY, algorithms=["ES256"])
    assert decoded.header == {"alg": "ES256", "typ": typ, "kid": "kid-1"}
    assert decoded.claims == claims
    assert "=" not in token


@settings(max_examples=15, deadline=None)
@given(claims=claims_strategy)
def test_rs256_tokens_verify_with_joserfc(claims: dict[str, Any]) -> None:
    token = JwsSigner("RS256", "r1", RSA_KEY.private_key).sign(claims, typ="JWT")
    decoded = jwt.decode(token, RSA_KEY, algorithms=["RS256"])
    assert decoded.header == {"alg": "RS256", "typ": "JWT", "kid": "r1"}
    assert decoded.claims == claims


def test_es256_signature_is_fixed_width_r_s_over_the_signing_input() -> None:
    """RFC 7518 §3.4: 64 bytes R||S, not DER, even when R or S has leading zero bytes."""
    signer = JwsSigner("ES256", "k", EC_KEY.private_key)
    public = EC_KEY.public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    for i in range(300):  # ~1 in 128 signatures has a short R or S
        token = signer.sign({"i": i}, typ="JWT")
        _, _, signature = _segments(token)
        assert len(signature) == 64
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                   int.from_bytes(signature[32:], "big"))
        public.verify(der, token.rsplit(".", 1)[0].encode(), ec.ECDSA(hashes.SHA256()))


def test_rs256_signature_is_pkcs1_v15_sha256() -> None:
    token = JwsSigner("RS256", "k", RSA_KEY.private_key).sign({"a": 1}, typ="JWT")
    _, _, signature = _segments(token)
    public = RSA_KEY.public_key
    public.verify(signature, token.rsplit(".", 1)[0].encode(), padding.PKCS1v15(),  # type: ignore[union-attr]
                  hashes.SHA256())


def test_a_tampered_payload_no_longer_verifies() -> None:
    token = JwsSigner("ES256", "k", EC_KEY.private_key).sign({"sub": "alice"}, typ="JWT")
    header, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"sub":"mallory"}').rstrip(b"=").decode()
    with pytest.raises(Exception):  # noqa: B017,PT011 - joserfc's BadSignatureError
        jwt.decode(f"{header}.{forged}.{signature}", EC_KEY, algorithms=["ES256"])


def test_a_key_of_the_wrong_kind_or_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="P-256"):
        JwsSigner("ES256", "k", RSA_KEY.private_key)
    with pytest.raises(ValueError, match="RSA"):
        JwsSigner("RS256", "k", EC_KEY.private_key)
    with pytest.raises(ValueError, match="unsupported"):
        JwsSigner("HS256", "k", EC_KEY.private_key)
    p384 = ECKey.generate_key("P-384", private=True)
    with pytest.raises(ValueError, match="P-256"):
        JwsSigner("ES256", "k", p384.private_key)
