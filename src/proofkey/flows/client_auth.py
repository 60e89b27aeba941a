"""Authenticate the client at the token, revocation and introspection endpoints (RFC 6749 §2.3).

A client authenticates with exactly the method it registered: public clients with ``none``
(client_id only), confidential clients with their secret by Basic or by POST. Secrets are random
256-bit values, stored as SHA-256 digests and compared in constant time.
"""

from __future__ import annotations

from proofkey.crypto import constant_time_equal, digest
from proofkey.errors import InvalidClient
from proofkey.models import Client
from proofkey.protocol.credentials import ClientCredentials
from proofkey.store.base import ClientStore

__all__ = ["authenticate_client"]


async def authenticate_client(credentials: ClientCredentials, clients: ClientStore) -> Client:
    client = await clients.get_client(credentials.client_id)
    if client is None:
        raise InvalidClient("client authentication failed", detail="unknown_client")
    if credentials.method != client.token_endpoint_auth_method:
        raise InvalidClient("client authentication failed",
                            detail=f"method {credentials.method} not registered")
    if credentials.method == "none":
        return client
    if credentials.secret is None or client.secret_digest is None or not constant_time_equal(
        digest(credentials.secret.reveal()), client.secret_digest
    ):
        raise InvalidClient("client authentication failed", detail="bad_secret")
    return client
