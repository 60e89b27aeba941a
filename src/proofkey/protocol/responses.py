"""Shapes of token-endpoint and authorization responses (RFC 6749 §4.1.2, §5.1, §5.2; RFC 9207)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

__all__ = ["NO_STORE_HEADERS", "redirect_with", "token_body"]

# RFC 6749 §5.1: "The authorization server MUST include the HTTP "Cache-Control" response
# header field with a value of "no-store" in any response containing tokens, credentials, or
# other sensitive information".
NO_STORE_HEADERS: Mapping[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_body(
    *,
    access_token: str,
    expires_in: int,
    scope: str,
    refresh_token: str | None = None,
    id_token: str | None = None,
    token_type: str = "Bearer",  # noqa: S107 - "DPoP" for a DPoP-bound token (RFC 9449 §5)
) -> dict[str, str | int]:
    body: dict[str, str | int] = {
        "access_token": access_token,
        "token_type": token_type,
        "expires_in": expires_in,
    }
    if scope:
        body["scope"] = scope
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if id_token is not None:
        body["id_token"] = id_token
    return body


def redirect_with(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """Add response parameters to the redirect URI's query, keeping its own query
    (RFC 6749 §3.1.2: the endpoint URI's query component MUST be retained)."""
    # Append to the string itself: urlunsplit would rewrite e.g. "com.example.app:///cb" to
    # "com.example.app:/cb", and the client must get back exactly the URI it registered.
    base = redirect_uri.partition("#")[0]
    added = urlencode([(k, v) for k, v in params.items() if v is not None])
    if not added:
        return base
    if "?" not in base:
        return f"{base}?{added}"
    if base.endswith(("?", "&")):
        return f"{base}{added}"
    return f"{base}&{added}"
