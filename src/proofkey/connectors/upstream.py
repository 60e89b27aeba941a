"""The upstream leg, done by the SDK: one ``AsyncOAuthClient`` per connector.

Rules held here (the SDK enforces the rest):
- PKCE S256 always. An OpenID provider whose discovery metadata does not list S256 in
  ``code_challenge_methods_supported`` is refused unless the connector is marked ``legacy``
  (RFC 9700 §2.1.1: clients "MUST" use PKCE unless they know the server enforces it; we also
  want to know it verifies it). A plain OAuth 2.0 connector has no metadata: S256 is sent.
- PAR (RFC 9126) whenever the upstream advertises it; ``state`` always; ``nonce`` with openid.
- The callback: ``state``, then ``iss`` (RFC 9207 §2.4), then ``error``, then the code, with
  the attempt's verifier; the id_token's signature (JWKS), ``iss``, ``aud``, ``azp``, ``exp``
  and ``nonce`` (OIDC Core §3.1.3.7); userinfo only about the id_token's subject (§5.3.2).
Every failure becomes an ``UpstreamFailure`` whose ``error`` is what the downstream client is
told (``access_denied`` or ``temporarily_unavailable``) and whose ``outcome`` is a metric label
from a closed set; never an exception that would become a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import httpx

from proofkey.outcomes import UpstreamOutcome
from proofkey.sdk import AsyncOAuthClient, AuthorizationRequest, ProviderMetadata
from proofkey.sdk.core import CallbackError, OAuthClientError

from .config import ConnectorConfig

__all__ = ["Outcome", "UpstreamFailure", "begin", "callback_url", "finish", "mapped",
           "new_client"]

Outcome = UpstreamOutcome
_UNAVAILABLE = frozenset({"temporarily_unavailable", "server_error", "discovery_failed",
                          "jwks_failed", "par_failed"})
_MIX_UP = frozenset({"iss_missing", "iss_mismatch", "state_mismatch"})


class UpstreamFailure(Exception):
    """The upstream leg failed; ``detail`` is for the audit line only."""

    def __init__(self, error: Literal["access_denied", "temporarily_unavailable"],
                 outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.outcome = outcome
        self.detail = detail


def callback_url(issuer: str, name: str) -> str:
    """The exact redirect URI registered at the upstream for connector ``name``."""
    return f"{issuer}/connectors/{name}/callback"


def new_client(config: ConnectorConfig, issuer: str,
               transport: httpx.AsyncBaseTransport | None = None) -> AsyncOAuthClient:
    secret = config.client_secret.reveal() if config.client_secret else None
    client = AsyncOAuthClient(config.issuer, config.client_id,
                              callback_url(issuer, config.name), client_secret=secret,
                              scope=" ".join(config.scope), transport=transport, timeout=10.0,
                              # a new client per step (authorize, callback): no shared DPoP key
                              dpop="off")
    if config.kind == "oauth2":  # no discovery: the configured endpoints are the metadata
        client.ops.metadata = ProviderMetadata(
            issuer=config.issuer, authorization_endpoint=config.authorization_endpoint,
            token_endpoint=config.token_endpoint, userinfo_endpoint=config.userinfo_endpoint)
    return client


def _failure(exc: Exception) -> UpstreamFailure:
    if isinstance(exc, httpx.HTTPError):
        return UpstreamFailure("temporarily_unavailable", "unavailable",
                               f"upstream unreachable: {type(exc).__name__}")
    if isinstance(exc, CallbackError):
        if exc.error in _MIX_UP:
            return UpstreamFailure("access_denied", "mix_up", exc.error)
        if exc.error in _UNAVAILABLE:
            return UpstreamFailure("temporarily_unavailable", "unavailable", exc.error)
        return UpstreamFailure("access_denied", "denied", f"upstream said {exc.error[:40]}")
    if isinstance(exc, OAuthClientError):
        if exc.error in _UNAVAILABLE or (exc.status or 0) >= 500:
            return UpstreamFailure("temporarily_unavailable", "unavailable", exc.error[:40])
        if exc.error == "invalid_grant":  # the code or its verifier was refused
            return UpstreamFailure("access_denied", "verifier_mismatch", "invalid_grant")
        if exc.error in {"invalid_id_token", "invalid_userinfo"}:
            return UpstreamFailure("access_denied", "invalid_id_token", str(exc)[:120])
        return UpstreamFailure("access_denied", "invalid_response", exc.error[:40])
    raise exc


async def begin(client: AsyncOAuthClient, config: ConnectorConfig) -> AuthorizationRequest:
    """A fresh upstream attempt (pushed first when the upstream offers PAR)."""
    try:
        metadata = await client.discover()
        if (config.kind == "oidc" and "S256" not in metadata.code_challenge_methods
                and not config.legacy):
            raise UpstreamFailure("temporarily_unavailable", "no_pkce",
                                  "the upstream does not advertise PKCE S256")
        return await client.authorization_request()
    except (httpx.HTTPError, OAuthClientError) as exc:
        raise _failure(exc) from None


async def finish(client: AsyncOAuthClient, config: ConnectorConfig, url: str,
                 request: AuthorizationRequest) -> dict[str, Any]:
    """Check the callback ``url``, redeem its code with the verifier; the upstream's claims."""
    try:
        tokens = await client.complete(url, request)
        if config.kind == "oauth2":
            return await client.userinfo(tokens.access_token)
        claims = dict(tokens.id_claims or {})
        if config.userinfo_endpoint or (client.ops.metadata and
                                        client.ops.metadata.userinfo_endpoint):
            info = await client.userinfo(tokens.access_token, expected_subject=claims["sub"])
            claims = {**info, **claims}  # the signed claims win
        return claims
    except (httpx.HTTPError, OAuthClientError) as exc:
        raise _failure(exc) from None


def mapped(config: ConnectorConfig, claims: Mapping[str, Any]) -> dict[str, Any]:
    """The upstream claims under our names (``sub`` as a string; GitHub's ``id`` is a number)."""
    values = {ours: claims.get(config.claim(ours))
              for ours in ("sub", "name", "email", "email_verified", "username")}
    sub = values["sub"]
    if isinstance(sub, bool) or not isinstance(sub, str | int) or str(sub) == "":
        raise UpstreamFailure("access_denied", "invalid_response", "no subject claim")
    values["sub"] = str(sub)
    return values
