"""The browser-facing checks: CSRF on state-changing calls and local-only return paths.

CSRF (draft-ietf-oauth-browser-based-apps §6.1.3.2): a state-changing call must carry the
custom header ``X-CSRF: 1`` (a cross-site page cannot send it without a CORS preflight the
gateway never answers) and come from the gateway's own origin by ``Origin`` or, when a browser
sends no Origin, ``Sec-Fetch-Site: same-origin``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["SAFE_METHODS", "csrf_problem", "local_return_path"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_problem(method: str, headers: Mapping[str, str], origin: str) -> str | None:
    """Why this call is refused as a possible cross-site request, or None to let it through."""
    if method.upper() in SAFE_METHODS:
        return None
    if headers.get("x-csrf") != "1":
        return "the X-CSRF: 1 header is required"
    sent_origin = headers.get("origin")
    fetch_site = headers.get("sec-fetch-site")
    if sent_origin is None and fetch_site is None:
        return "Origin or Sec-Fetch-Site is required"
    if sent_origin is not None and sent_origin != origin:
        return "the Origin is not this gateway's"
    if fetch_site is not None and fetch_site != "same-origin":
        return "the request is not same-origin"
    return None


def local_return_path(value: str | None) -> str | None:
    """``returnUrl`` as a path on this origin, or None if it could lead elsewhere."""
    if not value:
        return "/"
    if (not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value
