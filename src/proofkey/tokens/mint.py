"""Minting and verifying JWTs: RFC 9068 access tokens and OIDC Core §2 ID tokens.

Signing goes through ``jws.JwsSigner`` (OpenSSL, headers encoded once per key); verification
through joserfc.

Access tokens carry ``gid``, the grant (token family) they belong to, so that revoking a grant
(code replay, refresh-token reuse, revocation of a refresh token) invalidates them at
introspection and userinfo, alongside per-token revocation by ``jti``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from proofkey.crypto import new_id
from proofkey.errors import InvalidToken

from .keys import KeyRing

__all__ = ["IssuedAccessToken", "TokenMinter"]

_HASH = {"ES256": hashlib.sha256, "RS256": hashlib.sha256}


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_at: int


class TokenMinter:
    """Signs tokens for one issuer with the keys of a KeyRing."""

    def __init__(self, keys: KeyRing, *, issuer: str, audience: str, access_ttl: int,
                 id_ttl: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.id_ttl = id_ttl

    def access_token(
        self,
        *,
        client_id: str,
        subject: str | None,
        scope: str,
        grant_id: str | None,
        auth_time: int | None,
        now: int,
    ) -> IssuedAccessToken:
        signer = self.keys.signer("ES256")
        jti = new_id()
        exp = now + self.access_ttl
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject or client_id,
            "aud": self.audience,
            "exp": exp,
            "iat": now,
            "jti": jti,
            "client_id": client_id,
        }
        if scope:
            claims["scope"] = scope
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if grant_id is not None:
            claims["gid"] = grant_id
        # RFC 9068 §2.1: the "typ" header MUST be "at+jwt".
        return IssuedAccessToken(signer.sign(claims, typ="at+jwt"), jti, exp)

    def id_token(
        self,
        *,
        client_id: str,
        subject: str,
        nonce: str | None,
        auth_time: int | None,
        access_token: str | None,
        alg: str,
        now: int,
    ) -> str:
        signer = self.keys.signer(alg)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "exp": now + self.id_ttl,
            "iat": now,
        }
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if nonce is not None:
            # OIDC Core §2: if present in the request, nonce MUST be passed through unmodified.
            claims["nonce"] = nonce
        if access_token is not None:
            claims["at_hash"] = _half_hash(access_token, alg)
        return signer.sign(claims, typ="JWT")

    def verify_access_token(self, token: str, now: int) -> Mapping[str, Any]:
        """Signature, ``typ``, issuer, audience and expiry; raise InvalidToken otherwise."""
        if token.count(".") != 2 or len(token) > 4096:
            raise InvalidToken("the access token is malformed")
        try:
            decoded = jwt.decode(token, self.keys.verify_set, algorithms=["ES256", "RS256"])
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidToken("the access token is invalid") from None
        claims = decoded.claims
        if decoded.header.get("typ") != "at+jwt":
            raise InvalidToken("the token is not an access token")
        exp = claims.get("exp")
        if claims.get("iss") != self.issuer or claims.get("aud") != self.audience:
            raise InvalidToken("the access token was not issued for this server")
        if not isinstance(exp, int) or exp <= now:
            raise InvalidToken("the access token has expired")
        return claims


def _half_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash: base64url of the left half of the hash of the token."""
    raw = _HASH[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw[: len(raw) // 2]).rstrip(b"=").decode("ascii")
