"""Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata (OIDC Discovery §3)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .client_assertion import CLIENT_ASSERTION_ALGORITHMS
from .device import DEVICE_GRANT_TYPE
from .dpop import DPOP_ALGORITHMS

__all__ = ["server_metadata"]


def server_metadata(
    issuer: str, *, scopes: Iterable[str], signing_algs: Iterable[str],
    registration: bool = False,
    client_id_metadata_documents: bool = False,
) -> dict[str, Any]:
    algs = sorted(set(signing_algs))
    body: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "revocation_endpoint": f"{issuer}/revoke",
        "end_session_endpoint": f"{issuer}/logout",  # OIDC RP-Initiated Logout 1.0 §2.1
        "introspection_endpoint": f"{issuer}/introspect",
        "device_authorization_endpoint": f"{issuer}/device_authorization",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": False,
        "scopes_supported": list(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                  DEVICE_GRANT_TYPE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": [
            "none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": [
            "none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt"],
        # RFC 8414 §2: the JWS algorithms of private_key_jwt assertions (never none or HMAC).
        "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(
            CLIENT_ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_signing_alg_values_supported": list(
            CLIENT_ASSERTION_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        # RFC 9449 §5.1: the JWS algorithms accepted in DPoP proofs (asymmetric only).
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "authorization_response_iss_parameter_supported": True,
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
            "name", "preferred_username", "email"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,  # only /par's request_uri values
    }
    if registration:  # RFC 8414 §2: only when dynamic registration (RFC 7591) is on
        body["registration_endpoint"] = f"{issuer}/register"
    if client_id_metadata_documents:
        # draft-ietf-oauth-client-id-metadata-document §5: servers that support it MUST say so.
        body["client_id_metadata_document_supported"] = True
    return body
