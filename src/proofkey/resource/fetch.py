"""Bounded JSON over HTTP for the kit: authorization server metadata, JWKS, introspection.

Every request has timeouts (each read, and the whole exchange), follows no redirect and
reads at most ``max_bytes`` of body (the ``Content-Length`` is checked first, then the bytes
as they stream in, uncompressed), so a slow or huge answer costs a bounded time and memory.
URLs must be https, or http on a loopback address (development and tests): keys fetched in
the clear could be swapped on the way. Metadata is looked up the RFC 8414 §3.1 way first,
then as OpenID Connect Discovery 1.0 §4 has it, and its ``issuer`` must be identical to the
configured one (RFC 8414 §3.3).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from proofkey.protocol.redirect_uri import is_loopback_host

__all__ = ["DEFAULT_TIMEOUT", "MAX_DOCUMENT_BYTES", "FetchError", "check_url", "configured_url",
           "discover", "endpoint", "metadata_urls", "read_json"]

MAX_DOCUMENT_BYTES = 64 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)  # per connect, read, write
TOTAL_SECONDS = 10.0  # a whole exchange, however slowly the bytes drip in


class FetchError(Exception):
    """The document could not be fetched or is not usable (the message names no secret)."""


def check_url(url: str) -> str:
    """``url`` if it is https, or http on loopback; ``FetchError`` otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http"
                                                   and is_loopback_host(host))):
        raise FetchError(f"{url!r} is neither https nor http on a loopback address")
    return url


def configured_url(url: str) -> str:
    """``check_url`` for configuration: a ``ValueError`` when the kit is set up."""
    try:
        return check_url(url)
    except FetchError as exc:
        raise ValueError(str(exc)) from None


async def read_json(http: httpx.AsyncClient, request: httpx.Request, *,
                    max_bytes: int = MAX_DOCUMENT_BYTES) -> tuple[int, Any]:
    """The status and the JSON body (``None`` if it is not JSON) of one bounded exchange. The
    body is asked for uncompressed and counted as it arrives: a compressed answer could
    inflate far beyond ``max_bytes`` in one chunk."""
    check_url(str(request.url))
    request.headers["Accept-Encoding"] = "identity"
    try:
        async with asyncio.timeout(TOTAL_SECONDS):
            status, body = await _exchange(http, request, max_bytes)
    except (httpx.HTTPError, TimeoutError) as exc:
        raise FetchError(f"{request.url} could not be fetched ({type(exc).__name__})") from None
    try:
        return status, json.loads(bytes(body))
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the stack
        return status, None


async def _exchange(http: httpx.AsyncClient, request: httpx.Request,
                    max_bytes: int) -> tuple[int, bytearray]:
    response = await http.send(request, stream=True, follow_redirects=False)
    try:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{request.url} answered more than {max_bytes} bytes")
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            raise FetchError(f"{request.url} answered a compressed body")
        body = bytearray()
        async for chunk in response.aiter_bytes():  # identity: the bytes as sent
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"{request.url} answered more than {max_bytes} bytes")
        return response.status_code, body
    finally:
        await response.aclose()


def metadata_urls(issuer: str) -> tuple[str, str]:
    """RFC 8414 §3.1 (well-known segment before the issuer's path), then OIDC Discovery §4."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return (f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}",
            f"{issuer.rstrip('/')}/.well-known/openid-configuration")


async def discover(http: httpx.AsyncClient, issuer: str, *,
                   max_bytes: int = MAX_DOCUMENT_BYTES) -> Mapping[str, Any]:
    """The issuer's metadata; its ``issuer`` must be the configured one (RFC 8414 §3.3)."""
    for url in metadata_urls(issuer):
        status, body = await read_json(http, httpx.Request("GET", url, headers={
            "Accept": "application/json"}), max_bytes=max_bytes)
        if status == 200 and isinstance(body, dict):
            if body.get("issuer") != issuer:
                raise FetchError(f"the metadata at {url} names another issuer")
            return body
        if status >= 500:
            raise FetchError(f"{url} answered {status}")
    raise FetchError(f"no authorization server metadata for {issuer}")


def endpoint(metadata: Mapping[str, Any], name: str) -> str:
    """A metadata member that must be a usable URL (``jwks_uri``, ``introspection_endpoint``)."""
    value = metadata.get(name)
    if not isinstance(value, str):
        raise FetchError(f"the authorization server metadata has no {name}")
    return check_url(value)
