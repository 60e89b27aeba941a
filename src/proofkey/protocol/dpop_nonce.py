"""Server-provided DPoP nonces (RFC 9449 §8): stateless, rotating, valid on every instance.

A nonce is the HMAC-SHA256 of its time slot (``now // period``) under the server's nonce
secret (one row in the database, so every instance derives the same nonce). A proof's nonce is
accepted when it is the current or the previous slot's, so a nonce handed out just before a
rotation still works for at least ``period`` seconds; no per-nonce state is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["NONCE_SECRET_BYTES", "current_nonce", "nonce_is_valid"]

NONCE_SECRET_BYTES = 32
_LABEL = b"proofkey dpop nonce v1\x00"


def _nonce(secret: bytes, slot: int) -> str:
    mac = hmac.new(secret, _LABEL + str(slot).encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode("ascii")


def current_nonce(secret: bytes, now: int, period: int) -> str:
    """The nonce to hand out at ``now`` (RFC 9449 §8.1 ``DPoP-Nonce``)."""
    return _nonce(secret, now // period)


def nonce_is_valid(secret: bytes, nonce: str | None, now: int, period: int) -> bool:
    """Is ``nonce`` this slot's or the previous one's? (constant-time comparisons)"""
    if nonce is None or len(nonce) != 32:
        return False
    slot = now // period
    given = nonce.encode("ascii", "replace")
    return any(hmac.compare_digest(given, _nonce(secret, s).encode("ascii"))
               for s in (slot, slot - 1))
