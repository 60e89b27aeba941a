"""Device authorization grant helpers (RFC 8628): user codes people can read and type.

RFC 8628 §6.1: user codes are short, case-insensitive, drawn from a reduced character set that
avoids look-alikes, and the server rate-limits their entry. Eight characters from the 20
consonants below give 20^8 ≈ 2^34.6 codes; with a 10-minute lifetime and entry throttling that
leaves an attacker a negligible chance (§5.1).
"""

from __future__ import annotations

import secrets

__all__ = ["DEVICE_GRANT_TYPE", "USER_CODE_ALPHABET", "format_user_code", "new_user_code",
           "normalize_user_code"]

DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 8628 §6.1 example charset: base-20 consonants, no vowels (no words), no look-alikes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_LENGTH = 8


def new_user_code() -> str:
    """Eight random characters, stored and compared without the display dash."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(_LENGTH))


def format_user_code(code: str) -> str:
    """``BCDFGHJK`` → ``BCDF-GHJK`` for display."""
    return f"{code[:4]}-{code[4:]}"


def normalize_user_code(typed: str) -> str | None:
    """What a person typed → the stored form, or None if it cannot be a user code.

    Case-insensitive; dashes and spaces are ignored (RFC 8628 §6.1)."""
    cleaned = "".join(c for c in typed.upper() if c not in "- ")
    if len(cleaned) != _LENGTH or any(c not in USER_CODE_ALPHABET for c in cleaned):
        return None
    return cleaned
