"""Resource indicators (RFC 8707): which URIs may be a ``resource``, and what a token for them is.

A ``resource`` names the protected resource an access token is meant for. proofkey issues
tokens only for registered resources (``Catalog``): the access token's ``aud`` is the resource
(a string) or the resources (an array), and its scopes are cut down to those the resources
declare plus the server's own (``SERVER_SCOPES``: they concern the authorization server, not
the resource). ``openid`` also keeps the server's default audience in ``aud``, so that the same
token still works at the UserInfo endpoint.

A grant remembers the resources authorized at the authorization endpoint. A token request
(code redemption or refresh) may ask for any subset of them (``narrow``), never for more: a
refresh can get a token for one resource of the grant, and the next refresh one for another.

The server's default audience (``PROOFKEY_ACCESS_TOKEN_AUDIENCE``, else the issuer) is always a
valid resource, without registration and without a scope limit: asking for it explicitly is
asking for what a request without ``resource`` gets (clients such as the MCP SDK always send a
``resource``), and a grant without resources is a grant for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from proofkey.errors import InvalidTarget
from proofkey.models import Resource
from proofkey.protocol.redirect_uri import is_loopback_host

__all__ = [
    "MAX_RESOURCES",
    "MAX_URI_LENGTH",
    "SERVER_SCOPES",
    "Catalog",
    "Target",
    "check_resource_uri",
    "narrow",
    "parse_resources",
    "require_registered",
    "token_target",
]

MAX_RESOURCES = 8  # per request: a bound on input, far above any real need
MAX_URI_LENGTH = 2048
SERVER_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# No whitespace, controls, quotes or the characters RFC 3986 never allows unescaped.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+")


def check_resource_uri(uri: str) -> str:
    """The URI if it can be a resource, else ValueError saying why. RFC 8707 §2: "an absolute
    URI" that "MUST NOT include a fragment component"; proofkey also wants https (http on a
    loopback host, for development), a host, and no user information."""
    if "#" in uri:
        raise ValueError("must not have a fragment (RFC 8707 section 2)")
    if not uri or len(uri) > MAX_URI_LENGTH or _URI_CHARS.fullmatch(uri) is None:
        raise ValueError(f"must be an absolute URI of at most {MAX_URI_LENGTH} URI characters")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError("must be an absolute URI") from None
    if parts.scheme not in {"https", "http"} or not host:
        raise ValueError("must be an absolute https URI with a host")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError("must use https (http only on a loopback host)")
    if "@" in parts.netloc:
        raise ValueError("must not carry user information")
    return uri


@dataclass(frozen=True, slots=True)
class Catalog:
    """The registered resources, by URI, and every scope they declare."""

    resources: Mapping[str, Resource] = field(default_factory=lambda: MappingProxyType({}))
    scopes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> Catalog:
        """A catalog of ``resources``; a later one with the same URI replaces an earlier one."""
        by_uri = {r.uri: r for r in resources}
        scopes = frozenset(s for r in by_uri.values() for s in r.scopes)
        return cls(MappingProxyType(by_uri), scopes)

    def get(self, uri: str) -> Resource | None:
        return self.resources.get(uri)

    def known_scopes(self, base: Iterable[str]) -> tuple[str, ...]:
        """``base`` (the server's scopes, in order), then the resources' other scopes, sorted."""
        first = tuple(base)
        return first + tuple(sorted(self.scopes - set(first)))


def parse_resources(values: Iterable[str]) -> tuple[str, ...]:
    """The ``resource`` values of a request, each once, in order; InvalidTarget if one cannot
    be a resource. The description never repeats the value."""
    out: list[str] = []
    for value in values:
        try:
            check_resource_uri(value)
        except ValueError as exc:
            raise InvalidTarget(f"a resource {exc}") from None
        if value not in out:
            out.append(value)
    if len(out) > MAX_RESOURCES:
        raise InvalidTarget(f"at most {MAX_RESOURCES} resources may be requested at once")
    return tuple(out)


def require_registered(resources: Iterable[str], catalog: Catalog,
                       default_audience: str) -> None:
    """InvalidTarget unless every resource is registered (or the default audience)."""
    for uri in resources:
        if uri != default_audience and catalog.get(uri) is None:
            raise InvalidTarget("a requested resource is unknown to this server")


def narrow(requested: tuple[str, ...], granted: tuple[str, ...],
           default_audience: str) -> tuple[str, ...]:
    """The resources a token request gets from a grant: all of the grant's when it names
    none, else those it names, which must all be in the grant (a subset, never a widening);
    a grant of no resources is one for the default audience."""
    if not requested:
        return granted
    if not set(requested) <= set(granted or (default_audience,)):
        raise InvalidTarget("the requested resource was not authorized for this grant")
    return requested


@dataclass(frozen=True, slots=True)
class Target:
    """What one access token is for: its ``aud`` (a string, or an array of several) and the
    scopes it carries."""

    audience: str | tuple[str, ...]
    scope: tuple[str, ...]


def token_target(scope: tuple[str, ...], resources: tuple[str, ...], catalog: Catalog,
                 default_audience: str) -> Target:
    """The audience and scopes of a token for ``resources`` out of a grant of ``scope``.

    Without resources (or with the default audience alone): the default audience and the
    whole scope. With them: the resources as ``aud`` and only the scopes they declare (plus
    ``SERVER_SCOPES``; every scope when the default audience is among them); with ``openid``
    among those, the default audience joins ``aud`` (the UserInfo endpoint accepts the
    token)."""
    if not resources or resources == (default_audience,):
        return Target(default_audience, scope)
    allowed = set(SERVER_SCOPES)
    for uri in resources:
        resource = catalog.get(uri)
        if uri == default_audience:
            allowed |= set(scope)
        elif resource is None:
            raise InvalidTarget("a requested resource is no longer registered")
        else:
            allowed |= resource.scopes
    kept = tuple(s for s in scope if s in allowed)
    audience = resources
    if "openid" in kept and default_audience not in audience:
        audience = (*audience, default_audience)
    return Target(audience[0] if len(audience) == 1 else audience, kept)
