"""Minting and verifying JWTs: RFC 9068 access tokens and OIDC Core §2 ID tokens.

Signing goes through ``jws.JwsSigner`` (OpenSSL, headers encoded once per key). Verification
parses the token once, bounded and typed (``compact``), checks the signature with joserfc
against the one key its ``kid`` names, and returns typed ``AccessClaims``: a claim of the
wrong type makes the token invalid, whoever signed it.

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

from joserfc import jws
from joserfc.errors import JoseError

from proofkey.crypto import new_id
from proofkey.errors import InvalidToken
from proofkey.protocol.compact import parse_compact

from .keys import KeyRing

__all__ = ["AccessClaims", "IdTokenHint", "IssuedAccessToken", "TokenMinter"]

_HASH = {"ES256": hashlib.sha256, "RS256": hashlib.sha256}


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_at: int


_MAX_NUMERIC_DATE = 2**53  # I-JSON (RFC 7493 §2.2) integers; also fits every store's BIGINT


def _invalid(name: str) -> InvalidToken:
    return InvalidToken(f"the access token's {name} claim is invalid")


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid(name)
    return value


def _audience(value: Any) -> str | tuple[str, ...]:
    """RFC 7519 §4.1.3: a string, or an array of strings (one, or several different ones)."""
    if isinstance(value, list):
        items = tuple(_text(item, "aud") for item in value)
        if not items or len(set(items)) != len(items):
            raise _invalid("aud")
        return items[0] if len(items) == 1 else items
    return _text(value, "aud")


def _date(value: Any, name: str) -> int:
    """RFC 7519 §2 NumericDate; proofkey issues whole seconds."""
    if isinstance(value, bool) or not isinstance(value, int) or not (
            0 <= value < _MAX_NUMERIC_DATE):
        raise _invalid(name)
    return value


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The claims of an RFC 9068 access token (§2.2), each of the type it must have."""

    iss: str
    sub: str
    aud: str | tuple[str, ...]  # one audience, or several (RFC 8707 resources)
    exp: int
    iat: int
    jti: str
    client_id: str
    scope: str = ""
    auth_time: int | None = None
    gid: str | None = None

    @classmethod
    def parse(cls, claims: Mapping[str, Any]) -> AccessClaims:
        """Typed claims from a verified claim set; InvalidToken if one has the wrong type."""
        aud = _audience(claims.get("aud"))
        scope, auth_time, gid = (claims.get(n) for n in ("scope", "auth_time", "gid"))
        return cls(
            iss=_text(claims.get("iss"), "iss"), sub=_text(claims.get("sub"), "sub"),
            aud=aud, exp=_date(claims.get("exp"), "exp"),
            iat=_date(claims.get("iat"), "iat"), jti=_text(claims.get("jti"), "jti"),
            client_id=_text(claims.get("client_id"), "client_id"),
            scope="" if scope is None else _text(scope, "scope"),
            auth_time=None if auth_time is None else _date(auth_time, "auth_time"),
            gid=None if gid is None else _text(gid, "gid"),
        )

    @property
    def audiences(self) -> tuple[str, ...]:
        return self.aud if isinstance(self.aud, tuple) else (self.aud,)

    def as_dict(self) -> dict[str, str | int | list[str]]:
        """The claims as issued, without the absent optional ones."""
        aud = list(self.aud) if isinstance(self.aud, tuple) else self.aud
        body: dict[str, str | int | list[str]] = {
            "iss": self.iss, "sub": self.sub, "aud": aud, "exp": self.exp, "iat": self.iat,
            "jti": self.jti, "client_id": self.client_id}
        if self.scope:
            body["scope"] = self.scope
        if self.auth_time is not None:
            body["auth_time"] = self.auth_time
        if self.gid is not None:
            body["gid"] = self.gid
        return body


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
        audience: str | tuple[str, ...] | None = None,
        jkt: str | None = None,
    ) -> IssuedAccessToken:
        """An RFC 9068 access token; ``audience``: its resource(s) (default: ``self.audience``);
        ``jkt``: the thumbprint of the DPoP key it is bound to (RFC 9449 §6.1, ``cnf.jkt``)."""
        signer = self.keys.signer("ES256")
        jti = new_id()
        exp = now + self.access_ttl
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject or client_id,
            "aud": self.audience if audience is None else (
                list(audience) if isinstance(audience, tuple) else audience),
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
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
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

    def verify_access_token(self, token: str, now: int, *,
                            any_audience: bool = False) -> AccessClaims:
        """Signature, ``typ``, issuer, audience and expiry; raise InvalidToken otherwise. The
        audience must include this server's (``self.audience``) unless ``any_audience``
        (introspection and revocation, which also take tokens for registered resources: the
        caller checks those audiences)."""
        parsed = parse_compact(token)
        # RFC 9068 §4: the resource server MUST verify that the "typ" header is at+jwt.
        if parsed.header.typ != "at+jwt":
            raise InvalidToken("the token is not an access token")
        key = self.keys.verification_key(parsed.header.kid, parsed.header.alg)
        if key is None:
            raise InvalidToken("the access token was not signed by this server")
        try:
            jws.deserialize_compact(token, key, algorithms=[parsed.header.alg])
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidToken("the access token is invalid") from None
        claims = AccessClaims.parse(parsed.claims)
        if claims.iss != self.issuer or not (any_audience or self.audience in claims.audiences):
            raise InvalidToken("the access token was not issued for this server")
        if claims.exp <= now:
            raise InvalidToken("the access token has expired")
        return claims

    def verify_id_token_hint(self, token: str) -> IdTokenHint:
        """Signature (one of this server's keys), ``typ`` and issuer of an ID token sent back
        as a logout hint; raise InvalidToken otherwise. Expiry is NOT checked: RP-Initiated
        Logout 1.0 §4 lets the OP accept an expired ID token as the hint."""
        return _verify_id_token_hint(self, token)


@dataclass(frozen=True, slots=True)
class IdTokenHint:
    """What logout reads from an ``id_token_hint`` this server signed: the user and the
    client (OIDC RP-Initiated Logout 1.0 §2)."""

    sub: str
    aud: tuple[str, ...]


def _verify_id_token_hint(minter: TokenMinter, token: str) -> IdTokenHint:
    parsed = parse_compact(token)
    if parsed.header.typ not in (None, "JWT"):
        raise InvalidToken("the id_token_hint is not an ID token")
    key = minter.keys.verification_key(parsed.header.kid, parsed.header.alg)
    if key is None:
        raise InvalidToken("the id_token_hint was not signed by this server")
    try:
        jws.deserialize_compact(token, key, algorithms=[parsed.header.alg])
    except (JoseError, ValueError, TypeError, KeyError):
        raise InvalidToken("the id_token_hint's signature is invalid") from None
    claims = parsed.claims
    if claims.get("iss") != minter.issuer:
        raise InvalidToken("the id_token_hint was issued by another issuer")
    aud = claims.get("aud")
    audiences = (aud,) if isinstance(aud, str) else tuple(aud) if isinstance(aud, list) else ()
    sub = claims.get("sub")
    if not isinstance(sub, str) or not audiences or not all(isinstance(a, str)
                                                            for a in audiences):
        raise InvalidToken("the id_token_hint lacks sub or aud")
    return IdTokenHint(sub, audiences)


def _half_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash: base64url of the left half of the hash of the token."""
    raw = _HASH[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw[: len(raw) // 2]).rstrip(b"=").decode("ascii")
