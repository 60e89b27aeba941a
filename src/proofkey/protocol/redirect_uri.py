"""Redirect URI rules: registration checks and exact matching (RFC 6749 §3.1.2, RFC 8252 §7.3).

OAuth 2.1 §2.3.1 / RFC 9700 §4.1.3: the authorization server MUST compare redirect URIs with
exact string matching, with one exception: for a loopback IP literal redirect URI of a native
(public) client, the port is ignored (RFC 8252 §7.3: "The authorization server MUST allow any
port to be specified at the time of the request for loopback IP redirect URIs").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = [
    "is_loopback_host",
    "is_loopback_ip_uri",
    "match_redirect_uri",
    "redirect_assures_client",
    "validate_registration",
]

_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|\[::1\])(?::([0-9]{1,5}))?(/[^#]*)?")


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP literal (a development host, never a public one)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_ip_uri(uri: str) -> bool:
    return _LOOPBACK.fullmatch(uri) is not None


def _split_loopback(uri: str) -> tuple[str, str] | None:
    m = _LOOPBACK.fullmatch(uri)
    if m is None:
        return None
    port = m.group(2)
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return m.group(1), m.group(3) or "/"


def match_redirect_uri(
    registered: Iterable[str], requested: str, *, loopback_any_port: bool
) -> bool:
    """True if ``requested`` is one of ``registered`` (exact; loopback IPs any port)."""
    candidates = tuple(registered)
    if requested in candidates:
        return True
    if not loopback_any_port:
        return False
    wanted = _split_loopback(requested)
    if wanted is None:
        return False
    return any(_split_loopback(uri) == wanted for uri in candidates)


def redirect_assures_client(uri: str, *, public: bool) -> bool:
    """True if only the registered client can receive a code sent to ``uri``: any confidential
    client (it must authenticate to redeem the code), or a public client's web redirect on a
    real host. A public client's loopback or private-use redirect can be claimed by any app on
    the device, so RFC 8252 §8.6 applies: "unless the identity of the client can be proven, the
    request SHOULD be processed as if no previous request had been approved"."""
    if not public:
        return True
    parts = urlsplit(uri)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return False
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a DNS name other than localhost


def validate_registration(uri: str, *, public: bool) -> None:
    """Raise ValueError if ``uri`` may not be registered as a redirect URI."""
    if len(uri) > 2000:
        raise ValueError("redirect URI is longer than 2000 characters")
    if any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        raise ValueError("redirect URI must not contain spaces or control characters")
    parts = urlsplit(uri)
    if not parts.scheme:
        raise ValueError("redirect URI must be absolute (RFC 6749 §3.1.2)")
    if parts.fragment or "#" in uri:
        raise ValueError("redirect URI must not contain a fragment (RFC 6749 §3.1.2)")
    try:
        port = parts.port  # raises ValueError if not a number in 0-65535
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("redirect URI has an invalid port (1 to 65535)")
    if parts.scheme == "https":
        if not parts.hostname:
            raise ValueError("https redirect URI needs a host")
        return
    if parts.scheme == "http":
        if is_loopback_ip_uri(uri):
            return
        if parts.hostname == "localhost":
            raise ValueError("use http://127.0.0.1 or http://[::1] instead of localhost "
                             "(RFC 8252 §8.3)")
        raise ValueError("http redirect URIs are allowed only on loopback IPs (RFC 8252 §7.3)")
    # RFC 8252 §7.1: private-use URI schemes for native apps use reverse domain names.
    if not public:
        raise ValueError("private-use URI schemes are for public native clients only")
    if "." not in parts.scheme:
        raise ValueError("a private-use URI scheme must be a reverse domain name "
                         "(RFC 8252 §7.1), e.g. com.example.app:/callback")
