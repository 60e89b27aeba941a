"""Client authentication input at the token endpoint (RFC 6749 §2.3; OAuth 2.1 §2.4).

Reads the client's identity and secret from an HTTP Basic header or the form body and decides
which method was used. RFC 6749 §2.3: "The client MUST NOT use more than one authentication
method in each request" — a Basic header together with ``client_secret`` in the body is refused.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_plus

from proofkey.errors import InvalidClient, InvalidRequest
from proofkey.models import Secret, TokenAuthMethod

from .params import Params

__all__ = ["ClientCredentials", "read_client_credentials"]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    secret: Secret | None
    method: TokenAuthMethod


def _basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported Authorization scheme at this endpoint")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        user, sep, password = decoded.partition(":")
        # RFC 6749 §2.3.1: client_id and secret are form-urlencoded (Appendix B: a space is
        # '+') before Basic encoding, so decode them as the form body is decoded.
        client_id = unquote_plus(user, errors="strict")
        secret = unquote_plus(password, errors="strict")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidClient("malformed Basic credentials") from None
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    if not client_id:
        raise InvalidClient("malformed Basic credentials")
    return client_id, secret


def read_client_credentials(authorization: str | None, form: Params) -> ClientCredentials:
    """Return who the client says it is and how it authenticates (not yet verified)."""
    body_id = form.get("client_id")
    body_secret = form.get("client_secret")
    if authorization:
        if body_secret is not None:
            raise InvalidRequest("use only one client authentication method")
        client_id, secret = _basic(authorization)
        if body_id is not None and body_id != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials")
        return ClientCredentials(client_id, Secret(secret), "client_secret_basic")
    if body_id is None:
        raise InvalidClient("client authentication is required (client_id is missing)")
    if body_secret is not None:
        return ClientCredentials(body_id, Secret(body_secret), "client_secret_post")
    return ClientCredentials(body_id, None, "none")
