"""A client SDK for public clients (native, CLI, SPA back ends): PKCE S256, state, iss, nonce.

It speaks HTTP only and works against any standards-compliant provider. It shares two pure
modules with the server: ``proofkey.protocol.pkce`` and, for DPoP (RFC 9449: on by default
when the provider offers it), ``proofkey.protocol.dpop``.
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
from proofkey.sdk.dpop import DpopKey

__all__ = [
    "AsyncOAuthClient",
    "AuthorizationRequest",
    "CallbackError",
    "DeviceAuthorizationResponse",
    "DpopKey",
    "OAuthClient",
    "OAuthClientError",
    "ProviderMetadata",
    "TokenSet",
]
