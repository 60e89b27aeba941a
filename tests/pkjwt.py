"""Test helpers for private_key_jwt (RFC 7523 §2.2): client keys and the assertions they sign."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from proofkey.protocol.client_assertion import ASSERTION_TYPE
from tests.helpers import ISSUER

__all__ = ["ASSERTION_TYPE", "assertion", "auth_form", "es_key", "jwks_of", "raw_jws",
           "rs_key"]

Key = ECKey | RSAKey


def es_key(kid: str = "es-1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


def rs_key(kid: str = "rs-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)


def jwks_of(*keys: Key) -> dict[str, Any]:
    """The public JWK Set of ``keys`` (what a client registers)."""
    return {"keys": [key.as_dict(private=False) for key in keys]}


def claims_for(client_id: str, *, now: float | None = None, exp_in: int = 60,
               aud: object = ISSUER, **overrides: Any) -> dict[str, Any]:
    at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": aud,
                              "iat": at, "exp": at + exp_in, "jti": secrets.token_urlsafe(16)}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def assertion(key: Key, client_id: str, *, alg: str | None = None, kid: str | None = "",
              now: float | None = None, **claims: Any) -> str:
    """A client assertion signed by ``key``; ``kid=""`` names the key's own kid, None none."""
    alg = alg or ("ES256" if isinstance(key, ECKey) else "RS256")
    header: dict[str, Any] = {"alg": alg}
    kid = key.kid if kid == "" else kid
    if kid is not None:
        header["kid"] = kid
    return jwt.encode(header, claims_for(client_id, now=now, **claims), key, algorithms=[alg])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jws(header: dict[str, Any], claims: dict[str, Any], *, hmac_key: bytes | None = None
            ) -> str:
    """A compact JWS built by hand: unsigned (``alg: none``) or HS256 with ``hmac_key``."""
    signing_input = (_b64(json.dumps(header).encode()) + "." +
                     _b64(json.dumps(claims).encode()))
    signature = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(),
                                                      hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def auth_form(signed: str, client_id: str | None = None) -> dict[str, str]:
    form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}
    if client_id is not None:
        form["client_id"] = client_id
    return form
