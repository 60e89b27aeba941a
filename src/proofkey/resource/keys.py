"""The issuer's public keys and which algorithm each may verify (RFC 7517, RFC 7518 §3).

Only asymmetric algorithms exist here: ``none`` and the HMAC family cannot be configured, so a
token "signed" with the issuer's public key as an HMAC secret has nowhere to go (the key
confusion of RFC 8725 §2.1 and §3.1). A key verifies a token only when its type (and curve)
is the one the token's ``alg`` needs, its own ``alg`` (if it names one) is that ``alg``, its
``use`` (if any) is ``sig``, and RSA keys have at least 2048 bits (RFC 7518 §3.3). Symmetric
keys, private key members and unparsable entries are dropped when the set is read.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

__all__ = ["ASYMMETRIC_ALGORITHMS", "DEFAULT_ALGORITHMS", "PublicKey", "allowed_algorithms",
           "read_key_set", "read_public_key"]

Key = ECKey | RSAKey | OKPKey

# alg → (kty, crv) it needs (RFC 7518 §3.1, RFC 8037 §3.1, RFC 9864 §2.2).
ASYMMETRIC_ALGORITHMS: Mapping[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
    "RS256": ("RSA", None), "RS384": ("RSA", None), "RS512": ("RSA", None),
    "PS256": ("RSA", None), "PS384": ("RSA", None), "PS512": ("RSA", None),
    "EdDSA": ("OKP", "Ed25519"), "Ed25519": ("OKP", "Ed25519"),
}
DEFAULT_ALGORITHMS = ("ES256", "ES384", "RS256", "PS256", "EdDSA", "Ed25519")
MAX_KEYS = 32
_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def allowed_algorithms(algorithms: Iterable[str]) -> frozenset[str]:
    """The allow-list, refusing (``ValueError``) anything that is not an asymmetric signature."""
    chosen = frozenset(algorithms)
    refused = sorted(chosen - ASYMMETRIC_ALGORITHMS.keys())
    if refused:
        raise ValueError(f"not an asymmetric JWS algorithm the kit accepts: {refused}")
    if not chosen:
        raise ValueError("at least one algorithm is needed")
    return chosen


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One usable verification key from the issuer's JWKS."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Key

    def fits(self, alg: str) -> bool:
        """Whether this key may verify a signature made with ``alg``."""
        needed = ASYMMETRIC_ALGORITHMS.get(alg)
        return (needed is not None and (self.kty, self.crv) == needed
                and self.alg in (None, alg))


def _rsa_bits(jwk: Mapping[str, Any]) -> int:
    n = jwk.get("n")
    if not isinstance(n, str):
        return 0
    return len(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)).lstrip(b"\0")) * 8


def read_public_key(jwk: Any) -> PublicKey | None:
    """One usable public verification key from a JWK object, or None (symmetric, private
    members, not for signatures, an RSA key under 2048 bits, or unparsable)."""
    if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
        return None
    kty, crv, kid, alg = (jwk.get(n) for n in ("kty", "crv", "kid", "alg"))
    if (kty not in ("EC", "RSA", "OKP") or jwk.get("use", "sig") != "sig"
            or not all(isinstance(v, str | None) for v in (crv, kid, alg))):
        return None
    try:
        if kty == "RSA" and _rsa_bits(jwk) < _MIN_RSA_BITS:
            return None
        key = JWKRegistry.import_key(dict(jwk))
    except (JoseError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(key, ECKey | RSAKey | OKPKey):
        return None
    return PublicKey(kid, kty, crv, alg, key)


def read_key_set(document: Mapping[str, Any]) -> tuple[PublicKey, ...]:
    """The usable keys of a JWKS document (RFC 7517 §5); at most ``MAX_KEYS`` are read."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        return ()
    keys = (read_public_key(jwk) for jwk in entries[:MAX_KEYS])
    return tuple(key for key in keys if key is not None)
