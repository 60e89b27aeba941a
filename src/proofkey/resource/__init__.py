"""proofkey's resource-server kit: accept proofkey's (or any RFC 9068 issuer's) access tokens.

An API process imports this without the server: it depends on ``protocol/`` (the bounded JWS
parse) and on httpx and joserfc, never on ``flows/``, ``store/``, ``web/`` or the CLI. The MCP
adapter lives in ``proofkey.resource.mcp`` (it needs the ``mcp`` package). DPoP-bound tokens
(RFC 9449) are accepted with their proofs, as ``DpopPolicy`` says. See docs/apis.md.
"""

from __future__ import annotations

from .binding import DpopPolicy, Presentation
from .claims import AccessTokenClaims
from .errors import (
    BearerTokenError,
    InsufficientScopeError,
    InvalidDpopProofError,
    InvalidRequestError,
    InvalidTokenError,
    UseDpopNonceError,
    VerifierUnavailable,
)
from .introspection import IntrospectionVerifier
from .middleware import CLAIMS_KEY, ProtectedResource, access_token_claims
from .nonces import NonceSource, RotatingNonces
from .replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from .verifier import TokenVerifier, Verifier

__all__ = [
    "CLAIMS_KEY",
    "AccessTokenClaims",
    "BearerTokenError",
    "DpopPolicy",
    "InsufficientScopeError",
    "IntrospectionVerifier",
    "InvalidDpopProofError",
    "InvalidRequestError",
    "InvalidTokenError",
    "MemoryReplayCache",
    "NonceSource",
    "Presentation",
    "ProtectedResource",
    "RedisReplayCache",
    "ReplayCache",
    "RotatingNonces",
    "TokenVerifier",
    "UseDpopNonceError",
    "Verifier",
    "VerifierUnavailable",
    "access_token_claims",
]
