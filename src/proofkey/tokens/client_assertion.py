"""The signature of a private_key_jwt client assertion (RFC 7523 §2.2, RFC 7515), checked with
one of the client's registered public keys.

In order: the bounded compact parse (``protocol/compact``: sizes, JSON depth, duplicate
members, ``crit``); ``alg`` on the allow-list (asymmetric only, or the client's registered
``token_endpoint_auth_signing_alg``); the key: the one whose ``kid`` the header names, or, with
no ``kid``, the client's only key that fits — and a key fits only when its ``kty``/``crv`` are
what ``alg`` needs (RFC 8725 §3.1: an RSA or EC public key can never be read as an HMAC
secret, and ``none`` never verifies); then joserfc verifies with that one key and that one
algorithm. The claims are checked afterwards (``protocol/client_assertion``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning

from proofkey.errors import InvalidToken
from proofkey.protocol.client_assertion import AssertionRefused
from proofkey.protocol.compact import parse_compact
from proofkey.resource.keys import PublicKey, read_key_set

__all__ = ["PublicKey", "read_client_keys", "verify_assertion_signature"]


def read_client_keys(jwks: str | bytes | Mapping[str, Any]) -> tuple[PublicKey, ...]:
    """The usable public signature keys of a JWK Set (JSON text or parsed); private, symmetric
    and unparsable entries are dropped (registration refuses them already)."""
    if not isinstance(jwks, Mapping):
        try:
            jwks = json.loads(jwks)
        except (UnicodeDecodeError, ValueError):
            return ()
        if not isinstance(jwks, Mapping):
            return ()
    return read_key_set(jwks)


def verify_assertion_signature(assertion: str, keys: Sequence[PublicKey], *,
                               algorithms: Collection[str]) -> Mapping[str, Any]:
    """The assertion's claims once its signature is verified; ``AssertionRefused`` with reason
    ``malformed``, ``alg``, ``key`` (no fitting key: the caller may refetch the keys) or
    ``signature``."""
    try:
        parsed = parse_compact(assertion)
    except InvalidToken:
        raise AssertionRefused("malformed", "the client assertion is malformed") from None
    alg, kid = parsed.header.alg, parsed.header.kid
    if alg not in algorithms:
        raise AssertionRefused("alg", "the client assertion's alg is not accepted (asymmetric "
                               "algorithms only)")
    fitting = [key for key in keys if key.fits(alg)]
    if kid is not None:
        key = next((k for k in fitting if k.kid == kid), None)
    else:
        key = fitting[0] if len(fitting) == 1 else None
    if key is None:
        raise AssertionRefused("key", "no registered key of the client fits the client "
                               "assertion (kid and alg)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA" is deprecated, not unsafe
            jws.deserialize_compact(assertion, key.key, algorithms=[alg])
    except (JoseError, ValueError, TypeError):
        raise AssertionRefused("signature", "the client assertion's signature is invalid") \
            from None
    return parsed.claims
