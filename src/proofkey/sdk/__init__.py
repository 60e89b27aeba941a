"""A client SDK for public clients (native, CLI, SPA back ends): PKCE S256, state, iss, nonce.

It speaks HTTP only and works against any standards-compliant provider. It shares exactly one
module with the server: ``proofkey.protocol.pkce``.
"""

from proofkey.sdk.client import AsyncOAuthClient, OAuthClient
from proofkey.sdk.core import (
    AuthorizationRequest,
    CallbackError,
    DeviceAuthorizationResponse,
    OAuthClientError,
    ProviderMetadata,
    TokenSet,
)

__all__ = [
    "AsyncOAuthClient",
    "AuthorizationRequest",
    "CallbackError",
    "DeviceAuthorizationResponse",
    "OAuthClient",
    "OAuthClientError",
    "ProviderMetadata",
    "TokenSet",
]
