"""proofkey's resource-server kit: accept proofkey's (or any RFC 9068 issuer's) access tokens.

An API process imports this without the server: it depends on ``protocol/`` (the bounded JWS
parse) and on httpx and joserfc, never on ``flows/``, ``store/``, ``web/`` or the CLI. The MCP
adapter lives in ``proofkey.resource.mcp`` (it needs the ``mcp`` package). See docs/apis.md.
"""

from __future__ import annotations

from .claims import AccessTokenClaims
from .errors import (
    BearerTokenError,
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    VerifierUnavailable,
)
from .introspection import IntrospectionVerifier
from .middleware import CLAIMS_KEY, ProtectedResource, access_token_claims
from .verifier import TokenVerifier, Verifier

__all__ = [
    "CLAIMS_KEY",
    "AccessTokenClaims",
    "BearerTokenError",
    "InsufficientScopeError",
    "IntrospectionVerifier",
    "InvalidRequestError",
    "InvalidTokenError",
    "ProtectedResource",
    "TokenVerifier",
    "Verifier",
    "VerifierUnavailable",
    "access_token_claims",
]
