"""``proofkey.resource.dpop.verify_proof``: the one verification of a DPoP proof's signature and
header (RFC 9449 §4.3), used by the token and userinfo endpoints and by APIs."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from typing import Any

import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from proofkey.protocol.dpop import DpopError, access_token_hash, jwk_thumbprint
from proofkey.resource.dpop import verify_proof

NOW = 1_800_000_000
URL = "https://as.example/token"
EC = ECKey.generate_key("P-256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def proof(key: Any = EC, alg: str = "ES256", *, header: dict[str, Any] | None = None,
          **claims: Any) -> str:
    body = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": URL, "iat": NOW, **claims}
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False),
                 **(header or {})}
    with warnings.catch_warnings():  # joserfc: RFC 9864 deprecates "EdDSA"
        warnings.simplefilter("ignore", SecurityWarning)
        return jws.serialize_compact(protected, json.dumps(body), key, algorithms=[alg])


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()),
                     b64(signature)))


def refused(token: str, **kwargs: Any) -> str:
    with pytest.raises(DpopError) as error:
        verify_proof(token, method="POST", url=URL, now=NOW, **kwargs)
    return error.value.reason


@pytest.mark.parametrize(("key", "alg"), [
    (EC, "ES256"), (ECKey.generate_key("P-384"), "ES384"), (RSAKey.generate_key(2048), "PS256"),
    (RSAKey.generate_key(2048), "RS256"), (OKPKey.generate_key("Ed25519"), "EdDSA"),
])
def test_a_proof_verifies_and_names_its_key(key: Any, alg: str) -> None:
    checked = verify_proof(proof(key, alg), method="POST", url=URL, now=NOW)
    assert checked.jkt == jwk_thumbprint(key.as_dict(private=False))


def test_an_rsa_4096_key_fits_in_the_header_bound() -> None:
    verify_proof(proof(RSAKey.generate_key(4096), "PS256"), method="POST", url=URL, now=NOW)


def test_typ_must_be_dpop_jwt() -> None:
    assert refused(proof(header={"typ": "JWT"})) == "typ"
    assert refused(proof(header={"typ": "at+jwt"})) == "typ"


def test_alg_none_is_refused() -> None:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": EC.as_dict(private=False)}
    assert refused(unsigned(header, {"jti": "a", "htm": "POST", "htu": URL,
                                     "iat": NOW})) == "alg"


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    from joserfc.jwk import OctKey

    public = RSAKey.generate_key(2048).as_dict(private=False)
    secret = OctKey.import_key(json.dumps(public).encode())
    token = jws.serialize_compact({"typ": "dpop+jwt", "alg": "HS256", "jwk": public},
                                  json.dumps({"jti": "a", "htm": "POST", "htu": URL,
                                              "iat": NOW}), secret, algorithms=["HS256"])
    assert refused(token) == "alg"


def test_a_private_or_symmetric_or_mismatched_jwk_is_refused() -> None:
    assert refused(proof(header={"jwk": EC.as_dict(private=True)})) == "jwk"
    assert refused(proof(header={"jwk": {"kty": "oct", "k": "c2VjcmV0"}})) == "jwk"
    assert refused(unsigned({"typ": "dpop+jwt", "alg": "ES256", "jwk": "not-an-object"},
                            {"jti": "a"}, b"x" * 64)) == "jwk"
    rsa = RSAKey.generate_key(2048)
    assert refused(proof(header={"jwk": rsa.as_dict(private=False)})) == "jwk"  # ES256 + RSA
    header = {"typ": "dpop+jwt", "alg": "ES256"}
    assert refused(unsigned(header, {"jti": "a"}, b"x" * 64)) == "jwk"


def test_a_signature_by_another_key_is_refused() -> None:
    other = ECKey.generate_key("P-256")
    assert refused(proof(other, header={"jwk": EC.as_dict(private=False)})) == "signature"


def test_a_weak_rsa_key_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        weak = RSAKey.generate_key(1024)
    assert refused(proof(weak, "RS256")) == "jwk"


def test_malformed_input_is_refused_as_malformed() -> None:
    for token in ("", "a.b", "a.b.c.d", "!!!.b.c", "x" * 5000):
        assert refused(token) == "malformed"


def test_algorithms_can_be_narrowed() -> None:
    assert refused(proof(), algorithms=("PS256",)) == "alg"


def test_claims_are_checked_after_the_signature() -> None:
    assert refused(proof(htm="GET")) == "htm"
    assert refused(proof(ath="x"), access_token="tok") == "ath"
    good = proof(ath=access_token_hash("tok"))
    assert verify_proof(good, method="POST", url=URL, now=NOW, access_token="tok").ath
