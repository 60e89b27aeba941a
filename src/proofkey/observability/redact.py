"""Mask anything shaped like a proofkey secret before it reaches a log, and say what was caught.

The redactor does not trust callers: it scans the final text of every log record (message,
traceback, stack) in one pass and replaces

* JWTs (``eyJ….eyJ….sig``: access and id tokens),
* ``Authorization: Basic|Bearer …`` credentials, a bare ``Bearer <20+ chars>``, and a bare
  ``Basic <base64>`` that decodes to ``user:secret``,
* the value after ``password=`` / ``client_secret=`` / ``code_verifier=`` / ``*_token=`` /
  ``secret=`` (also ``"password": "…"`` and ``password: …``), whatever its shape,
* any run of 43 or more ``[A-Za-z0-9-._~]`` characters: 43 base64url characters are a code,
  refresh token, session or interaction handle or client secret (``secrets.token_bytes(32)``);
  43–128 unreserved characters a PKCE verifier; longer runs opaque blobs. Qualified Python
  names are left alone (``asyncpg.exceptions.ConnectionDoesNotExistError``): two or more
  lower-case package segments of three or more characters, then one or two segments of
  letters and underscores. Of 1.5 million random 43–46 character verifiers none had that
  shape; the earlier rule (letters and underscores around a dot) let 1 in 100,000 through.

Each catch is reported to ``on_detect`` with a kind from the closed set ``KINDS`` (the M6
metric's label). High-entropy values are replaced by a marker carrying their fingerprint
(``crypto.fingerprint``, the same one the audit log uses), so a leaked code can be matched to
its audit line and revoked; passwords and secrets get no fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from proofkey.crypto import fingerprint

__all__ = ["KINDS", "Redactor"]

KINDS: tuple[str, ...] = (
    "jwt",
    "authorization",
    "password",
    "client_secret",
    "code_verifier",
    "token",
    "handle",
    "verifier",
    "opaque",
)

_UNRESERVED = r"A-Za-z0-9\-._~"
_PATTERN = re.compile(
    # A JWS in compact form: header and payload are base64url JSON objects ("eyJ" = '{"').
    r"(?P<jwt>eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)"
    # An Authorization header (or a field named so) with its scheme.
    r"|(?P<auth_pre>(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?i:basic|bearer)\s+)"
    r"(?P<auth_val>[A-Za-z0-9+/\-._~]+=*)"
    # A bare bearer credential (tokens are long; "Bearer token required" is not one).
    r"|(?P<bearer_pre>\b(?i:bearer)\s+)(?P<bearer_val>[A-Za-z0-9+/\-._~]{20,}=*)"
    # A bare Basic credential; kept only if it decodes to "user:secret" (see _basic).
    r"|(?P<basic_pre>\b(?i:basic)\s+)(?P<basic_val>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"
    # A named secret parameter, in a query string, a form, a repr or JSON.
    r"|(?P<param_pre>(?<![A-Za-z0-9_])(?P<param_name>(?i:password|passwd|client_secret|"
    r"code_verifier|refresh_token|access_token|id_token|admin_token|secret))"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<param_val>(?!\[REDACTED)[^\s\"'&,;}\]\)]+)"
    # Anything 43+ characters long from the unreserved set: codes, handles, verifiers.
    rf"|(?<![{_UNRESERVED}])(?P<run>[{_UNRESERVED}]{{43,}})(?![{_UNRESERVED}])"
)
_HANDLE = re.compile(r"[A-Za-z0-9_\-]{43}")
_DOTTED_NAME = re.compile(
    r"[a-z_][a-z0-9_]{2,}(?:\.[a-z_][a-z0-9_]{2,})+(?:\.[A-Za-z_]{2,}){1,2}")
_PARAM_KIND = {
    "password": "password",
    "passwd": "password",
    "client_secret": "client_secret",
    "secret": "client_secret",
    "admin_token": "client_secret",
    "code_verifier": "code_verifier",
    "refresh_token": "token",
    "access_token": "token",
    "id_token": "token",
}
_WITH_FINGERPRINT = frozenset({"jwt", "token", "code_verifier", "handle", "verifier", "opaque"})


def _marker(kind: str, value: str) -> str:
    if kind in _WITH_FINGERPRINT:
        return f"[REDACTED:{kind} fp={fingerprint(value)}]"
    return f"[REDACTED:{kind}]"


def _is_basic_credential(value: str) -> bool:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return ":" in text and text.isprintable()


class Redactor:
    """``redact(text)`` masks secret-shaped values and calls ``on_detect(kind)`` per catch."""

    def __init__(self, on_detect: Callable[[str], None] | None = None) -> None:
        self.on_detect = on_detect

    def redact(self, text: str) -> str:
        if len(text) < 8:
            return text
        return _PATTERN.sub(self._replace, text)

    def _caught(self, kind: str) -> None:
        if self.on_detect is not None:
            self.on_detect(kind)

    def _replace(self, match: re.Match[str]) -> str:
        group = match.lastgroup
        if group == "jwt":
            value = match.group("jwt")
            self._caught("jwt")
            return _marker("jwt", value)
        if group == "auth_val":
            self._caught("authorization")
            return match.group("auth_pre") + _marker("authorization", match.group("auth_val"))
        if group == "bearer_val":
            self._caught("authorization")
            return match.group("bearer_pre") + _marker("authorization",
                                                       match.group("bearer_val"))
        if group == "basic_val":
            if not _is_basic_credential(match.group("basic_val")):
                return match.group(0)
            self._caught("authorization")
            return match.group("basic_pre") + _marker("authorization", match.group("basic_val"))
        if group == "param_val":
            kind = _PARAM_KIND[match.group("param_name").lower()]
            self._caught(kind)
            return match.group("param_pre") + _marker(kind, match.group("param_val"))
        value = match.group(0)
        if _DOTTED_NAME.fullmatch(value):
            return value
        kind = "handle" if _HANDLE.fullmatch(value) else "verifier" if len(
            value) <= 128 else "opaque"
        self._caught(kind)
        return _marker(kind, value)
