"""The claims of a verified access token and the checks a resource server makes on them.

RFC 9068 §4 (JWT access tokens) and RFC 7662 §2.2 (introspection responses) as pure functions:
``iss`` exactly the configured issuer (RFC 8414 §3.3 comparison), ``aud`` naming this resource
(RFC 9068 §4: the resource server "MUST validate that the aud claim contains a resource
indicator value corresponding to an identifier the resource server expects for itself"),
``exp``/``nbf``/``iat`` against the clock with a small leeway, scopes, and the key a
DPoP-bound token is bound to (``cnf.jkt``, RFC 9449 §6; ``binding`` checks the proof against
it). Every claim read has the type RFC 7519 §4.1 gives it, whoever signed the token; a wrong
type is ``invalid_token``. Time is passed in, so tests move it instead of sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import InsufficientScopeError, InvalidTokenError

__all__ = ["AccessTokenClaims", "check_claims", "check_scopes"]

_MAX_DATE = 2**53  # I-JSON integers (RFC 7493 §2.2)


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    """A verified access token: who (``sub``), for which client, for which audiences, with
    which scopes, until when. ``claims`` is the whole (read-only) claim set."""

    iss: str
    sub: str | None
    aud: tuple[str, ...]
    client_id: str | None
    scopes: tuple[str, ...]
    exp: int | None
    iat: int | None = None
    nbf: int | None = None
    jti: str | None = None
    auth_time: int | None = None
    jkt: str | None = None  # RFC 9449 §6: cnf.jkt, the key a DPoP-bound token is bound to
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def scope(self) -> str:
        """The scopes as the space-delimited ``scope`` claim (RFC 9068 §2.2.3.1)."""
        return " ".join(self.scopes)

    def has_scopes(self, *required: str) -> bool:
        """Whether every one of ``required`` was granted."""
        return set(required) <= set(self.scopes)


def _invalid(name: str) -> InvalidTokenError:
    return InvalidTokenError(f"the access token's {name} claim is missing or invalid")


def _text(raw: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = raw.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(name)
    return value


def _date(raw: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    """RFC 7519 §2 NumericDate: seconds, fractions allowed (and dropped)."""
    value = raw.get(name)
    if value is None and not required:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 <= value < _MAX_DATE):
        raise _invalid(name)
    return int(value)


def _audiences(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """RFC 7519 §4.1.3: ``aud`` is a string or an array of strings."""
    aud = raw.get("aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(
            isinstance(v, str) and v for v in values):
        raise _invalid("aud")
    return tuple(values)


def _scopes(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """RFC 9068 §2.2.3.1: ``scope`` is one space-delimited string (RFC 6749 §3.3)."""
    scope = raw.get("scope")
    if scope is None:
        return ()
    if not isinstance(scope, str):
        raise _invalid("scope")
    return tuple(dict.fromkeys(s for s in scope.split(" ") if s))


def _jkt(raw: Mapping[str, Any]) -> str | None:
    """RFC 7800 §3.1 ``cnf`` is an object; RFC 9449 §6.1 its ``jkt`` a base64url SHA-256
    thumbprint. A token with some other confirmation method (``x5t#S256``, RFC 8705) binds to
    something this kit cannot check, so it is refused rather than taken as a bearer token."""
    cnf = raw.get("cnf")
    if cnf is None:
        return None
    if not isinstance(cnf, dict):
        raise _invalid("cnf")
    jkt = cnf.get("jkt")
    if not isinstance(jkt, str) or not 0 < len(jkt) <= 128:
        raise _invalid("cnf")
    return jkt


def check_claims(raw: Mapping[str, Any], *, issuer: str, audience: str, now: float,
                 leeway: int, jwt: bool) -> AccessTokenClaims:
    """Typed, checked claims; ``jwt`` requires what RFC 9068 §2.2 makes mandatory (an
    introspection answer, RFC 7662 §2.2, may omit all but ``active``; ``iss`` and ``aud`` are
    still required here, or a token for another API would pass)."""
    claims = AccessTokenClaims(
        iss=_text(raw, "iss", required=True) or "",
        sub=_text(raw, "sub", required=jwt),
        aud=_audiences(raw),
        client_id=_text(raw, "client_id", required=jwt),
        scopes=_scopes(raw),
        exp=_date(raw, "exp", required=jwt),
        iat=_date(raw, "iat", required=jwt),
        nbf=_date(raw, "nbf", required=False),
        jti=_text(raw, "jti", required=jwt),
        auth_time=_date(raw, "auth_time", required=False),
        jkt=_jkt(raw),
        claims=MappingProxyType(dict(raw)),
    )
    if claims.iss != issuer:
        raise InvalidTokenError("the access token was issued by another server")
    if audience not in claims.aud:
        raise InvalidTokenError("the access token was issued for another resource")
    # RFC 7519 §4.1.4: the current time MUST be before exp; §4.1.5: not before nbf.
    if claims.exp is not None and now >= claims.exp + leeway:
        raise InvalidTokenError("the access token has expired")
    if claims.nbf is not None and now + leeway < claims.nbf:
        raise InvalidTokenError("the access token is not valid yet")
    if claims.iat is not None and now + leeway < claims.iat:
        raise InvalidTokenError("the access token was issued in the future")
    return claims


def check_scopes(claims: AccessTokenClaims, required: Collection[str]) -> None:
    """``insufficient_scope`` naming the scope to ask for (RFC 6750 §3.1) if one is missing."""
    if not claims.has_scopes(*required):
        raise InsufficientScopeError("the access token lacks a required scope",
                                     scope=dict.fromkeys(required))
