"""Compact JWS signing (RFC 7515 §7.1) straight on ``cryptography`` for the two algorithms we mint.

Signing is on the hot path of every token response. joserfc (kept for verification, where it
is the faster library, DEPENDENCIES.md §2) re-validates and re-encodes the header and claims on
each call, which costs more than the ES256 signature itself. Here the protected header of a key
is encoded once, the claims once, and the signature is OpenSSL's: ES256 is ECDSA P-256 with
SHA-256, its DER signature converted to the fixed-width ``R || S`` of RFC 7518 §3.4; RS256 is
RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3). ECDSA nonces come from OpenSSL's CSPRNG.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["JwsSigner", "b64url"]

_ECDSA = ec.ECDSA(hashes.SHA256())
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_P256_BYTES = 32


def b64url(data: bytes) -> bytes:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _compact_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("ascii")


class JwsSigner:
    """Signs compact JWS with one private key under fixed protected headers."""

    def __init__(self, alg: str, kid: str,
                 private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
        if alg == "ES256":
            if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
                    private_key.curve, ec.SECP256R1):
                raise ValueError("ES256 needs a P-256 private key")
        elif alg == "RS256":
            if not isinstance(private_key, rsa.RSAPrivateKey):
                raise ValueError("RS256 needs an RSA private key")
        else:
            raise ValueError(f"unsupported signing algorithm {alg}")
        self.alg = alg
        self.kid = kid
        self._key = private_key
        self._headers: dict[str, bytes] = {}

    def _header(self, typ: str) -> bytes:
        encoded = self._headers.get(typ)
        if encoded is None:
            encoded = b64url(_compact_json({"alg": self.alg, "typ": typ, "kid": self.kid}))
            self._headers[typ] = encoded
        return encoded

    def sign(self, claims: Mapping[str, Any], *, typ: str) -> str:
        """``header.payload.signature`` for ``claims`` under ``{"alg", "typ", "kid"}``."""
        signing_input = self._header(typ) + b"." + b64url(_compact_json(claims))
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(signing_input, _ECDSA))
            signature = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        else:
            signature = key.sign(signing_input, _PKCS1, _SHA256)
        return (signing_input + b"." + b64url(signature)).decode("ascii")
