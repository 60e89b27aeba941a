"""DPoP proof checks (RFC 9449 §4.3) as pure functions over an already-parsed, verified JWS.

Signature verification is ``proofkey.resource.dpop``'s (joserfc with the proof's own key);
the time and the one-time use of ``jti`` belong to the caller, who passes ``now`` in and
records the ``jti`` (as a digest) after these checks pass. Every refusal is a ``DpopError``
whose ``reason`` is one value of the closed set ``outcomes.DpopRefusal`` (a metric label) and
whose ``description`` is safe to send to the client: it never repeats the proof.

What is compared, and why:
- ``htm`` exactly the request method; ``htu`` against the URL the *server* says the endpoint
  has (built from its configured issuer, never from Host or forwarded headers), both without
  query and fragment and with scheme and host lowercased and the default port dropped (§4.3
  point 9 asks for RFC 3986 §6 normalisation);
- ``iat`` within ``max_age`` seconds in the past and ``future_leeway`` in the future (§11.1:
  a short window bounds how long the caller must remember each ``jti``);
- ``ath`` (§4.2): the base64url SHA-256 of the access token, when one is presented with it;
- ``jti`` present, a string of bounded length (it is digested and stored by the caller).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from proofkey.outcomes import DpopRefusal

__all__ = ["DPOP_ALGORITHMS", "DPOP_TYP", "DpopError", "DpopProof", "access_token_hash",
           "check_claims", "jwk_thumbprint", "normalize_htu"]

DPOP_TYP = "dpop+jwt"
# Asymmetric only (§4.3 point 5: "not none", "not a MAC"); advertised as
# dpop_signing_alg_values_supported.
DPOP_ALGORITHMS: tuple[str, ...] = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
                                    "RS256", "EdDSA")
MAX_JTI_CHARS = 256
MAX_AGE = 300
FUTURE_LEEWAY = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"),
                       "OKP": ("crv", "kty", "x")}


class DpopError(Exception):
    """A DPoP proof was refused; ``description`` is safe to show the client."""

    def __init__(self, reason: DpopRefusal, description: str) -> None:
        super().__init__(description)
        self.reason: DpopRefusal = reason
        self.description = description


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A proof that passed every check: the key it binds to and what it was for."""

    jkt: str  # RFC 7638 thumbprint of the proof's public key
    jti: str
    iat: int
    htm: str
    htu: str
    ath: str | None
    nonce: str | None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url (``cnf.jkt``, ``dpop_jkt``).
    ``ValueError`` for a key type or member it cannot use."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or not all(isinstance(jwk.get(m), str) for m in members):
        raise ValueError("not a public EC, RSA or OKP key")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"),
                           sort_keys=True, ensure_ascii=False)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """``ath`` (§4.2): base64url SHA-256 of the access token's ASCII bytes."""
    return _b64url(hashlib.sha256(token.encode("ascii", "replace")).digest())


def normalize_htu(url: str) -> str:
    """``url`` without query and fragment, scheme and host lowercased, default port dropped.
    ``ValueError`` if it is not an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError("not an absolute http(s) URL")
    port = parts.port  # ValueError for a bad port
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def _string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


def check_claims(claims: Mapping[str, Any], *, jkt: str, method: str, url: str, now: int,
                 max_age: int = MAX_AGE, future_leeway: int = FUTURE_LEEWAY,
                 access_token: str | None = None) -> DpopProof:
    """The proof's claims checked against the request (§4.3 points 8-12); ``url`` is the
    endpoint's URL as the server knows it."""
    jti = _string(claims, "jti")
    if not jti or len(jti) > MAX_JTI_CHARS:
        raise DpopError("malformed", "the DPoP proof needs a jti")
    htm = _string(claims, "htm")
    if htm != method:
        raise DpopError("htm", "the DPoP proof's htm does not match the request method")
    htu = _string(claims, "htu")
    try:
        matches = htu is not None and normalize_htu(htu) == normalize_htu(url)
    except ValueError:
        matches = False
    if not matches or htu is None:
        raise DpopError("htu", "the DPoP proof's htu does not match the request URL")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise DpopError("iat", "the DPoP proof needs a numeric iat")
    if iat > now + future_leeway or iat < now - max_age:
        raise DpopError("iat", "the DPoP proof's iat is outside the accepted window")
    ath = _string(claims, "ath")
    if access_token is not None and (
            ath is None or not hmac.compare_digest(  # bytes: a str must be ASCII here
                ath.encode("utf-8"), access_token_hash(access_token).encode("ascii"))):
        raise DpopError("ath", "the DPoP proof's ath does not match the access token")
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise DpopError("malformed", "the DPoP proof's nonce must be a string")
    return DpopProof(jkt=jkt, jti=jti, iat=int(iat), htm=htm, htu=htu, ath=ath, nonce=nonce)
