"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document §3, §4, §6):
which ``client_id`` values name a document, which addresses may be fetched, how long a
fetched document is fresh (RFC 9111 §5.2, §5.3). Pure functions; the fetch is elsewhere.

Rule ids continue the registration rules' (PKL0xx), so every refusal names its rule:

* PKL070 the ``client_id`` URL breaks §3 (https, a path, no dot segments, no fragment, no
  user or password) or proofkey's bounds (no query, printable ASCII, at most 512 characters);
* PKL071 the document's ``client_id`` is not its URL (§4.1: simple string comparison);
* PKL072 a ``token_endpoint_auth_method`` other than ``none`` (§4.1 forbids shared secrets;
  ``private_key_jwt`` is allowed by the draft; proofkey accepts it from registered clients only);
* PKL073 the document carries ``client_secret`` or ``client_secret_expires_at`` (§4.1).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

from .registration import MetadataRefused

__all__ = [
    "MAX_CLIENT_ID_URL",
    "ClientIdUrl",
    "IPAddress",
    "address_allowed",
    "cache_lifetime",
    "check_client_id_url",
    "clamp_lifetime",
    "document_host",
    "is_metadata_document_id",
]

MAX_CLIENT_ID_URL = 512
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class ClientIdUrl:
    """A checked client identifier URL: the exact string, its host (lower case, IPv6 without
    brackets), port and the request target (path, as sent)."""

    url: str
    host: str
    port: int
    target: str


def is_metadata_document_id(client_id: str) -> bool:
    """True if ``client_id`` is meant as a document URL. Registered ids never are: they
    contain no ``:`` or ``/``. An ``http://`` id counts, so it is refused by name (PKL070)
    instead of being an unknown client."""
    head = client_id[:8].lower()
    return head.startswith(("https://", "http://"))


def document_host(client_id: str) -> str | None:
    """The host to show people for a metadata-document client (§6.4: "SHOULD display the
    hostname of the client_id"), or None for a registered client."""
    if not is_metadata_document_id(client_id):
        return None
    try:
        return urlsplit(client_id).hostname or None
    except ValueError:
        return None


def _refuse(message: str) -> MetadataRefused:
    return MetadataRefused("PKL070", "client_id", f"the client_id URL {message}")


def check_client_id_url(url: str) -> ClientIdUrl:
    """The parts of a client identifier URL; ``MetadataRefused`` (PKL070) naming what is
    wrong. §3: "MUST have an "https" scheme, MUST contain a path component, MUST NOT contain
    single-dot or double-dot path segments, MUST NOT contain a fragment component and MUST NOT
    contain a username or password"."""
    if len(url) > MAX_CLIENT_ID_URL:
        raise _refuse(f"is longer than {MAX_CLIENT_ID_URL} characters")
    if any(not 0x21 <= ord(c) <= 0x7E or c in '"\\<>`{}|^' for c in url):
        raise _refuse("must be printable ASCII without spaces, quotes or backslashes")
    if not url.startswith("https://"):
        raise _refuse("must use the https scheme (in lower case)")
    if "#" in url:
        raise _refuse("must not contain a fragment")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise _refuse("must not contain a username or password")
    if "?" in url:
        raise _refuse("must not contain a query (proofkey refuses what the draft discourages)")
    host = parts.hostname or ""
    try:
        port = 443 if parts.port is None else parts.port
    except ValueError:
        raise _refuse("has an invalid port") from None
    if not host or parts.netloc.endswith(":") or not 0 < port <= 65535:
        raise _refuse("needs a host (and a port from 1 to 65535, if any)")
    if parts.path in {"", "/"}:
        raise _refuse("must have a path, e.g. https://client.example/oauth/client.json")
    segments = parts.path.split("/")
    if any(unquote(s) in {".", ".."} for s in segments):
        raise _refuse("must not contain . or .. path segments")
    if host.startswith("[") or (":" not in host and not _is_host_name(host)):
        raise _refuse("has an invalid host")
    return ClientIdUrl(url=url, host=host, port=port, target=parts.path)


def _is_host_name(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(
        0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"
        and all(c.isalnum() or c in "-_" for c in label) for label in labels)


def address_allowed(address: IPAddress, *, allow_loopback: bool) -> bool:
    """May the server connect to ``address`` for a document? Only to public unicast addresses
    (§6.5: never to the special-use addresses of RFC 6890); loopback only when the operator
    allows it (development and tests). IPv4-mapped IPv6 addresses are judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None or address.teredo is not None:
            return False  # tunnels to an address judged elsewhere: never needed for a document
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_private
        or address.is_link_local or address.is_unspecified)


def cache_lifetime(cache_control: str | None, expires: str | None, date: str | None,
                   now: float) -> int | None:
    """Seconds a response is fresh by its headers (RFC 9111 §4.2.1): ``no-store`` or
    ``no-cache`` give 0, then ``max-age``, then ``Expires`` minus ``Date`` (or now); an invalid
    value is 0 (already stale, §5.2, §5.3); None when the headers say nothing."""
    if cache_control:
        directives = [d.strip().lower() for d in cache_control.split(",")]
        if any(d.split("=", 1)[0].strip() in {"no-store", "no-cache"} for d in directives):
            return 0
        for directive in directives:
            name, _, value = directive.partition("=")
            if name.strip() == "max-age":
                value = value.strip().strip('"')
                return int(value) if value.isascii() and value.isdigit() and len(value) < 12 \
                    else 0
    if expires is None:
        return None
    try:
        until = parsedate_to_datetime(expires).timestamp()
        base = parsedate_to_datetime(date).timestamp() if date else now
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0
    return max(0, int(until - base))


def clamp_lifetime(lifetime: int | None, low: int, high: int) -> int:
    """The lifetime bounded to [low, high]; ``low`` when the headers said nothing (§4.4 lets
    the server set its own bounds)."""
    return low if lifetime is None else max(low, min(high, lifetime))
