"""Protected resource metadata (RFC 9728) and the bearer challenge that points to it.

RFC 9728 §3.1: the metadata of ``https://api.example/mcp`` is at
``https://api.example/.well-known/oauth-protected-resource/mcp`` (the well-known segment goes
between the host and the path). §3.2: its ``resource`` "MUST be identical to" the identifier
the client started from. §5.1: a 401 names the metadata in ``WWW-Authenticate: Bearer
resource_metadata="…"``; RFC 6750 §3 adds ``error``, ``error_description`` and, for
``insufficient_scope``, the ``scope`` needed (step-up). RFC 9449 §7.1 adds the ``DPoP``
challenge with ``algs``; §7.2: with both schemes on offer, the error goes in the challenge of
the scheme the client used, and none in either when it sent no credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .binding import DpopPolicy, Scheme
from .errors import BearerTokenError, InvalidDpopProofError, UseDpopNonceError
from .fetch import configured_url

__all__ = ["WELL_KNOWN", "challenge", "metadata_path", "resource_metadata"]

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def check_resource(resource: str) -> str:
    """RFC 9728 §1.2: an https URL (http on loopback for development) without a fragment."""
    configured_url(resource)
    if "#" in resource:
        raise ValueError("a resource identifier has no fragment")
    return resource


def metadata_path(resource: str) -> str:
    """The path the resource's metadata is served at (RFC 9728 §3.1)."""
    path = urlsplit(resource).path
    return WELL_KNOWN if path in ("", "/") else WELL_KNOWN + path


def metadata_url(resource: str) -> str:
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource)}"


def resource_metadata(resource: str, *, authorization_servers: Sequence[str],
                      scopes_supported: Sequence[str] = (), resource_name: str | None = None,
                      resource_documentation: str | None = None,
                      dpop: DpopPolicy | None = None) -> dict[str, Any]:
    """The RFC 9728 §2 document: tokens only in the Authorization header (§2
    ``bearer_methods_supported``; the query and form methods of RFC 6750 §2.2-2.3 are off),
    the DPoP proof algorithms accepted, and whether only DPoP-bound tokens are."""
    body: dict[str, Any] = {"resource": resource,
                            "authorization_servers": list(authorization_servers),
                            "bearer_methods_supported": ["header"]}
    if dpop is not None:
        body["dpop_signing_alg_values_supported"] = list(dpop.algorithms)
        if dpop.required:
            body["dpop_bound_access_tokens_required"] = True
    if scopes_supported:
        body["scopes_supported"] = list(scopes_supported)
    if resource_name:
        body["resource_name"] = resource_name
    if resource_documentation:
        body["resource_documentation"] = resource_documentation
    return body


def challenge(metadata: str, error: BearerTokenError | None = None, *,
              dpop: DpopPolicy | None = None, scheme: Scheme | None = None) -> str:
    """The ``WWW-Authenticate`` value: a ``Bearer`` challenge (unless ``dpop`` requires DPoP)
    and a ``DPoP`` one (when ``dpop`` is given). ``error`` goes in the challenge of ``scheme``,
    the one the client used (in both if it is unknown); DPoP's own errors in ``DPoP``. The
    descriptions' character set (RFC 6750 §3) needs no escaping inside the quotes."""
    schemes: list[Scheme] = ["Bearer"] if dpop is None else (
        ["DPoP"] if dpop.required else ["Bearer", "DPoP"])
    if isinstance(error, InvalidDpopProofError | UseDpopNonceError) or (
            scheme is not None and scheme not in schemes):
        scheme = "DPoP" if "DPoP" in schemes else "Bearer"
    challenges = []
    for name in schemes:
        params = [f'resource_metadata="{metadata}"']
        if error is not None and scheme in (None, name):
            params.append(f'error="{error.error}"')
            params.append(f'error_description="{error.description}"')
            if error.scope:
                params.append(f'scope="{error.scope}"')
        if name == "DPoP" and dpop is not None:
            params.append(f'algs="{dpop.algs}"')
        challenges.append(f"{name} " + ", ".join(params))
    return ", ".join(challenges)
