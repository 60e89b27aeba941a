"""private_key_jwt client authentication (RFC 7523 §2.2, §3; OIDC Core §9), the pure parts:
which algorithms an assertion may use, what its claims must say, and what a client's
registered JWK Set (RFC 7517 §5) and ``jwks_uri`` must look like.

An assertion is refused unless (RFC 7523 §3, OIDC Core §9):

* ``iss`` and ``sub`` are both the client's id ("MUST contain the client_id");
* ``aud`` is the issuer identifier, as a string or a one-member array. The token endpoint URL
  is NOT accepted: an audience a client takes from metadata another server published could
  name our token endpoint, while the issuer identifier is what the client checked
  (draft-ietf-oauth-rfc7523bis §4);
* ``exp`` is present ("MUST contain an "exp" (expiration time) claim"), not past, and at most
  ``max_lifetime`` seconds ahead (so replay records live briefly); ``nbf`` and ``iat``, when
  present, are not in the future; all with ``leeway`` seconds of clock skew;
* ``jti`` is present: the caller makes it single use (OIDC Core §9: "the JWT MUST NOT be
  reused"), for as long as the assertion could still be accepted (``replay_until``).

``ClientKeyRefused`` is raised by the JWK Set rules, which ``client_policy`` turns into
findings: a set with a private or symmetric key, or a key proofkey cannot verify with, is
refused; a ``jwks_uri`` must be an https URL.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "ASSERTION_TYPE",
    "CLIENT_ASSERTION_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "MAX_CLIENT_KEYS",
    "MAX_JWKS_CHARS",
    "AssertionClaims",
    "AssertionRefusal",
    "AssertionRefused",
    "ClientKeyRefused",
    "check_assertion_claims",
    "check_jwks",
    "check_jwks_uri",
    "key_fits",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2
# alg -> (kty, crv) its key must have (RFC 7518 §3.1, RFC 8037 §3.1): asymmetric only, so
# "none" and the HMAC family (a public key used as a MAC secret: RFC 8725 §2.1) never verify.
_KEY_TYPES: Mapping[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
    "PS256": ("RSA", None), "PS384": ("RSA", None), "PS512": ("RSA", None),
    "RS256": ("RSA", None), "RS384": ("RSA", None), "RS512": ("RSA", None),
    "EdDSA": ("OKP", "Ed25519"),
}
CLIENT_ASSERTION_ALGORITHMS: tuple[str, ...] = tuple(_KEY_TYPES)
DEFAULT_LEEWAY = 30  # seconds of clock skew between client and server
MAX_CLIENT_KEYS = 10
MAX_JWKS_CHARS = 20000
MAX_JTI_CHARS = 256
_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_PUBLIC_MEMBERS = {"EC": ("crv", "x", "y"), "RSA": ("n", "e"), "OKP": ("crv", "x")}
_CURVES = {"EC": frozenset({"P-256", "P-384", "P-521"}), "OKP": frozenset({"Ed25519"})}

AssertionRefusal = Literal["malformed", "alg", "key", "signature", "iss", "sub", "aud", "exp",
                           "lifetime", "nbf", "iat", "jti", "replay", "keys_unavailable"]


class AssertionRefused(Exception):
    """An assertion that does not authenticate the client: ``reason`` is a closed value (for
    audit and metrics), ``description`` a text safe to return (never a claim's value)."""

    def __init__(self, reason: AssertionRefusal, description: str) -> None:
        super().__init__(description)
        self.reason: AssertionRefusal = reason
        self.description = description


@dataclass(frozen=True, slots=True)
class AssertionClaims:
    jti: str
    exp: int
    replay_until: int  # keep the jti this long: the assertion is accepted until then


def key_fits(alg: str, kty: object, crv: object) -> bool:
    """Whether a key of type ``kty`` (and curve ``crv``) may verify ``alg``."""
    needed = _KEY_TYPES.get(alg)
    return needed is not None and needed == (kty, crv if needed[1] is not None else None)


def _time(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssertionRefused("malformed", f"the client assertion's {name} is not a number")
    return int(value)


def check_assertion_claims(claims: Mapping[str, Any], *, client_id: str, issuer: str,
                           now: int, max_lifetime: int = 300,
                           leeway: int = DEFAULT_LEEWAY) -> AssertionClaims:
    """The claims of an assertion whose signature was verified; ``AssertionRefused``."""
    if claims.get("iss") != client_id:
        raise AssertionRefused("iss", "the client assertion's iss must be the client_id")
    if claims.get("sub") != client_id:
        raise AssertionRefused("sub", "the client assertion's sub must be the client_id")
    aud = claims.get("aud")
    if not (aud == issuer or aud == [issuer]):
        raise AssertionRefused("aud", "the client assertion's aud must be the issuer "
                               "identifier")
    exp = _time(claims, "exp")
    if exp is None:
        raise AssertionRefused("exp", "the client assertion has no exp")
    if exp + leeway <= now:
        raise AssertionRefused("exp", "the client assertion has expired")
    if exp - now > max_lifetime + leeway:
        raise AssertionRefused("lifetime", f"the client assertion's exp is more than "
                               f"{max_lifetime} seconds ahead")
    nbf, iat = _time(claims, "nbf"), _time(claims, "iat")
    if nbf is not None and nbf > now + leeway:
        raise AssertionRefused("nbf", "the client assertion is not valid yet (nbf)")
    if iat is not None and iat > now + leeway:
        raise AssertionRefused("iat", "the client assertion was issued in the future (iat)")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
        raise AssertionRefused("jti", "the client assertion needs a jti (a string of at most "
                               f"{MAX_JTI_CHARS} characters)")
    return AssertionClaims(jti=jti, exp=exp, replay_until=exp + leeway)


# -- the registered keys ------------------------------------------------------------------------

class ClientKeyRefused(ValueError):
    """A JWK Set or ``jwks_uri`` the server refuses; ``rule`` is its policy rule id."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _b64_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError from None


def _check_key(jwk: object, index: int) -> str | None:
    """The key's kid, after the rules: public, asymmetric, complete, usable for signing."""
    where = f"key {index + 1} of jwks"
    if not isinstance(jwk, Mapping):
        raise ClientKeyRefused("PKL066", f"{where} is not a JSON object")
    kty = jwk.get("kty")
    if kty == "oct":
        raise ClientKeyRefused("PKL062", f"{where} is a symmetric (oct) key: private_key_jwt "
                               "needs asymmetric keys (an HMAC key would be a shared secret)")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise ClientKeyRefused("PKL061", f"{where} contains private key members: register "
                               "only the public key (the private key never leaves the client)")
    if kty not in _PUBLIC_MEMBERS:
        raise ClientKeyRefused("PKL066", f"{where} has kty {kty!r}; use EC, RSA or OKP")
    try:
        for member in _PUBLIC_MEMBERS[kty]:
            if member != "crv":
                _b64_bytes(jwk.get(member))
    except ValueError:
        raise ClientKeyRefused("PKL066", f"{where} lacks a valid "
                               + "/".join(_PUBLIC_MEMBERS[kty]) + " member") from None
    crv = jwk.get("crv")
    if kty in _CURVES and crv not in _CURVES[kty]:
        raise ClientKeyRefused("PKL066", f"{where} has curve {crv!r}; use "
                               + ", ".join(sorted(_CURVES[kty])))
    if kty == "RSA" and len(_b64_bytes(jwk["n"]).lstrip(b"\0")) * 8 < _MIN_RSA_BITS:
        raise ClientKeyRefused("PKL066", f"{where} is an RSA key under {_MIN_RSA_BITS} bits "
                               "(RFC 7518 §3.3)")
    if jwk.get("use", "sig") != "sig":
        raise ClientKeyRefused("PKL066", f"{where} has use {jwk.get('use')!r}, not sig")
    alg = jwk.get("alg")
    if alg is not None and not key_fits(str(alg), kty, crv):
        raise ClientKeyRefused("PKL066", f"{where} names alg {alg!r}, which is not an "
                               "asymmetric signature algorithm for its key type")
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= 128):
        raise ClientKeyRefused("PKL066", f"{where} has a kid that is not a string of 1-128 "
                               "characters")
    return kid


def check_jwks(jwks: object) -> None:
    """A client's JWK Set: an object whose ``keys`` hold 1-``MAX_CLIENT_KEYS`` public
    signature keys with distinct kids; ``ClientKeyRefused`` names the rule broken."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise ClientKeyRefused("PKL066", "jwks must be a JWK Set: an object with a keys array "
                               "(RFC 7517 §5)")
    keys = jwks["keys"]
    if not 0 < len(keys) <= MAX_CLIENT_KEYS:
        raise ClientKeyRefused("PKL066", f"jwks must hold 1 to {MAX_CLIENT_KEYS} keys")
    if len(json.dumps(jwks)) > MAX_JWKS_CHARS:
        raise ClientKeyRefused("PKL066", f"jwks is longer than {MAX_JWKS_CHARS} characters")
    kids = [_check_key(jwk, i) for i, jwk in enumerate(keys)]
    named = [kid for kid in kids if kid is not None]
    if len(set(named)) != len(named):
        raise ClientKeyRefused("PKL066", "two keys of jwks share a kid: the kid must say "
                               "which key signed")


def check_jwks_uri(uri: str) -> None:
    """RFC 7591 §2: where the client's JWK Set is fetched: an https URL with a host, without
    credentials or fragment (the fetch itself applies the address rules)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise ClientKeyRefused("PKL063", "jwks_uri is not a valid URL") from None
    if (not uri.startswith("https://") or not parts.hostname or parts.username is not None
            or parts.password is not None or "#" in uri or (port is not None and port == 0)
            or any(not 0x21 <= ord(c) <= 0x7E for c in uri) or len(uri) > 512):
        raise ClientKeyRefused("PKL063", "jwks_uri must be an https URL with a host, without "
                               "credentials, fragment or spaces, of at most 512 characters")
