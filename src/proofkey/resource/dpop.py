"""Verify a DPoP proof (RFC 9449 §4.3): the one place the signature of a proof is checked, for
the authorization server (token and userinfo endpoints) and for APIs using the kit alike.

Steps, in order, each refusing with a ``protocol.dpop.DpopError``:
1. one bounded parse of the compact JWS (``protocol.compact``; the header may carry an RSA-4096
   key, so it gets a larger bound than an access token's);
2. ``typ`` exactly ``dpop+jwt``; ``alg`` on the allow-list, which holds asymmetric algorithms
   only (``none`` and the HMAC family can never verify: the key confusion of RFC 8725 §2.1);
3. ``jwk`` present, public (private members refused, not "dropped"), its type and curve the
   ones ``alg`` needs, RSA at least 2048 bits;
4. the signature, by joserfc, with that key and that one algorithm;
5. the claims (``protocol.dpop.check_claims``): htm, htu, iat window, jti, ath.
Nonces and the single use of ``jti`` are the caller's: they need shared state.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jws import JWSRegistry

from proofkey.errors import InvalidToken
from proofkey.protocol.compact import parse_compact
from proofkey.protocol.dpop import (
    DPOP_ALGORITHMS,
    DPOP_TYP,
    FUTURE_LEEWAY,
    MAX_AGE,
    DpopError,
    DpopProof,
    check_claims,
    jwk_thumbprint,
)

from .keys import ASYMMETRIC_ALGORITHMS, read_public_key

__all__ = ["MAX_PROOF_HEADER_CHARS", "verify_proof"]

MAX_PROOF_HEADER_CHARS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class _ProofRegistry(JWSRegistry):
    """joserfc's registry with room for a key in the header (its default stops at 512 bytes,
    less than an RSA-2048 ``jwk``); one per algorithm, allowing only that one."""

    max_header_length = MAX_PROOF_HEADER_CHARS


_REGISTRIES = {alg: _ProofRegistry(algorithms=[alg]) for alg in ASYMMETRIC_ALGORITHMS}


def _key(members: Mapping[str, Any], alg: str) -> tuple[Any, str]:
    jwk = members.get("jwk")
    if not isinstance(jwk, dict):
        raise DpopError("jwk", "the DPoP proof's header needs a jwk")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise DpopError("jwk", "the DPoP proof's jwk must be a public key")
    key = read_public_key(jwk)
    if key is None or not key.fits(alg):
        raise DpopError("jwk", "the DPoP proof's jwk does not fit its alg")
    try:
        return key.key, jwk_thumbprint(jwk)
    except ValueError:
        raise DpopError("jwk", "the DPoP proof's jwk does not fit its alg") from None


def verify_proof(proof: str, *, method: str, url: str, now: int,
                 algorithms: Collection[str] = DPOP_ALGORITHMS,
                 access_token: str | None = None, max_age: int = MAX_AGE,
                 future_leeway: int = FUTURE_LEEWAY) -> DpopProof:
    """The checked proof; ``DpopError`` says why not. ``url`` is the endpoint's URL as the
    server is configured to know it; ``access_token`` is given where the proof must carry its
    ``ath`` (resource requests)."""
    try:
        parsed = parse_compact(proof, max_header_chars=MAX_PROOF_HEADER_CHARS)
    except InvalidToken:
        raise DpopError("malformed", "the DPoP proof is not a compact JWS") from None
    header = parsed.header
    if header.typ != DPOP_TYP:
        raise DpopError("typ", "the DPoP proof's typ must be dpop+jwt")
    if header.alg not in algorithms or header.alg not in ASYMMETRIC_ALGORITHMS:
        raise DpopError("alg", "the DPoP proof's alg is not accepted")
    key, jkt = _key(parsed.members, header.alg)
    try:
        with warnings.catch_warnings():
            # joserfc warns that RFC 9864 deprecates "EdDSA"; it is still on the list.
            warnings.simplefilter("ignore", SecurityWarning)
            jws.deserialize_compact(proof, key, registry=_REGISTRIES[header.alg])
    except (JoseError, ValueError, TypeError):
        raise DpopError("signature", "the DPoP proof's signature is invalid") from None
    return check_claims(parsed.claims, jkt=jkt, method=method, url=url, now=now,
                        max_age=max_age, future_leeway=future_leeway,
                        access_token=access_token)
