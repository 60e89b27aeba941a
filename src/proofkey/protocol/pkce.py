"""Proof Key for Code Exchange (RFC 7636), S256 only: the one module server, SDK and checker share.

OAuth 2.1 §4.1.1 and RFC 9700 §2.1.1 make PKCE mandatory and S256 the only method proofkey
accepts; ``plain`` (and a missing method, which RFC 7636 §4.3 defines to mean plain) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from proofkey.errors import InvalidGrant, InvalidRequest

__all__ = [
    "S256",
    "challenge_s256",
    "check_challenge",
    "check_verifier_syntax",
    "is_valid_challenge",
    "is_valid_verifier",
    "new_verifier",
    "verify",
]

S256 = "S256"
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
# RFC 7636 §4.1: code-verifier = 43*128unreserved
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# RFC 7636 §4.2: S256 challenge = BASE64URL(SHA256(verifier)), 32 bytes -> 43 chars, no padding.
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{42}[AEIMQUYcgkosw048]")


def new_verifier(length: int = 64) -> str:
    """A fresh verifier of ``length`` unreserved characters (43–128), ~5.95 bits each."""
    if not 43 <= length <= 128:
        raise ValueError("a code_verifier is 43 to 128 characters (RFC 7636 §4.1)")
    return "".join(secrets.choice(_UNRESERVED) for _ in range(length))


def challenge_s256(verifier: str) -> str:
    """code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2)."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def is_valid_verifier(verifier: str) -> bool:
    return _VERIFIER.fullmatch(verifier) is not None


def is_valid_challenge(challenge: str) -> bool:
    """43 base64url characters that are the canonical encoding of 32 bytes."""
    return _CHALLENGE.fullmatch(challenge) is not None


def check_challenge(challenge: str | None, method: str | None) -> str:
    """Validate the authorization request's PKCE pair; return the challenge or raise."""
    if challenge is None:
        # OAuth 2.1 §4.1.1: clients MUST use code_challenge; we require it of every client.
        raise InvalidRequest("code_challenge is required (PKCE, RFC 7636)")
    if method is None:
        # RFC 7636 §4.3: a missing method means "plain", which proofkey does not support.
        raise InvalidRequest("code_challenge_method is required and must be S256")
    if method != S256:
        raise InvalidRequest("code_challenge_method must be S256")
    if not is_valid_challenge(challenge):
        raise InvalidRequest("code_challenge must be 43 characters of base64url (S256)")
    return challenge


def check_verifier_syntax(verifier: str | None) -> str:
    """The token request's verifier must be present and well-formed (RFC 7636 §4.1)."""
    if verifier is None:
        raise InvalidRequest("code_verifier is required")
    if not is_valid_verifier(verifier):
        raise InvalidRequest("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
    return verifier


def verify(verifier: str, challenge: str) -> None:
    """RFC 7636 §4.6: compare BASE64URL(SHA256(verifier)) with the stored challenge, in
    constant time; raise ``invalid_grant`` when they differ (§4.6: "MUST NOT" issue a token)."""
    # A non-ASCII verifier can never match (ASCII(code_verifier), §4.2): refuse, don't crash.
    if not (verifier.isascii() and challenge.isascii()) or not hmac.compare_digest(
        challenge_s256(verifier).encode("ascii"), challenge.encode("ascii")
    ):
        raise InvalidGrant("code_verifier does not match the code_challenge",
                           detail="verifier_mismatch")
