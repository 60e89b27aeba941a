"""The kit behind the MCP Python SDK's own bearer-token check (``pip install mcp``).

``McpTokenVerifier`` is the SDK's ``TokenVerifier`` protocol over a proofkey ``Verifier``:
``MCPServer(token_verifier=..., auth=...)`` then refuses what the kit refuses, and serves the
SDK's protected resource metadata and challenges. ``auth_settings`` builds the matching
``AuthSettings`` from the verifier (issuer, resource), with ``validate_token_resource`` on:
the SDK compares ``AccessToken.resource``, which this adapter fills only when the token's
``aud`` names the resource (the kit has already refused it otherwise). A token the kit
refuses is ``None`` (the SDK answers 401); an unreachable issuer raises, so the SDK answers
500 rather than sending the client through a new authorization.

This is the only module of the kit that imports ``mcp``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from .errors import BearerTokenError, VerifierUnavailable
from .verifier import Verifier

__all__ = ["McpTokenVerifier"]


class McpTokenVerifier:
    """``mcp.server.auth.provider.TokenVerifier`` backed by ``verifier``."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims = await self.verifier.verify(token)
        except VerifierUnavailable:
            raise
        except BearerTokenError:
            return None
        resource = self.verifier.audience if self.verifier.audience in claims.aud else None
        return AccessToken(token=token, client_id=claims.client_id or "",
                           scopes=list(claims.scopes), expires_at=claims.exp,
                           resource=resource, subject=claims.sub, claims=dict(claims.claims))

    def auth_settings(self, *, required_scopes: Sequence[str] = (),
                      service_documentation_url: str | None = None) -> AuthSettings:
        """``AuthSettings`` for ``MCPServer(auth=...)``: this issuer, this resource, the scopes
        every request needs."""
        # Validated from strings: the model keeps a root issuer's empty path, where
        # ``AnyHttpUrl(issuer)`` would add a "/" and the SDK's client would then refuse
        # proofkey's metadata (RFC 8414 §3.3 compares issuers as strings).
        return AuthSettings.model_validate({
            "issuer_url": self.verifier.issuer, "resource_server_url": self.verifier.audience,
            "required_scopes": list(required_scopes) or None,
            "service_documentation_url": service_documentation_url,
            "validate_token_resource": True})
