"""Client authentication input at the token endpoint (RFC 6749 §2.3; OAuth 2.1 §2.4).

Reads the client's identity and secret from an HTTP Basic header or the form body, or its
signed assertion (``client_assertion_type`` jwt-bearer and ``client_assertion``, RFC 7523 §2.2,
OIDC Core §9 ``private_key_jwt``), and decides which method was used. RFC 6749 §2.3: "The client
MUST NOT use more than one authentication method in each request" — a Basic header together
with ``client_secret`` or an assertion in the body is refused.

Without ``client_id`` in the body, an assertion names its client in ``sub`` (RFC 7521 §4.2:
``client_id`` is optional there); it is read from the bounded parse (``protocol/compact``) and
trusted only after the signature and claims are checked (``flows/client_assertion``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_plus

from proofkey.errors import InvalidClient, InvalidRequest, InvalidToken
from proofkey.models import Secret, TokenAuthMethod

from .client_assertion import ASSERTION_TYPE
from .compact import parse_compact
from .params import Params

__all__ = ["ClientCredentials", "read_client_credentials"]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    secret: Secret | None
    method: TokenAuthMethod
    assertion: Secret | None = None  # private_key_jwt: the compact JWS, not yet verified


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


def _assertion(form: Params, body_id: str | None) -> ClientCredentials:
    """RFC 7523 §2.2: a client authenticating with a JWT it signed."""
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient("client_assertion_type must be " + ASSERTION_TYPE)
    assertion = form.get("client_assertion")
    if not assertion:
        raise InvalidClient("client_assertion is missing")
    try:
        subject = parse_compact(assertion).claims.get("sub")
    except InvalidToken:
        raise InvalidClient("the client assertion is malformed or too large") from None
    client_id = body_id if body_id is not None else subject
    if not isinstance(client_id, str) or not client_id or len(client_id) > 512:
        raise InvalidClient("the client assertion names no client (sub)")
    return ClientCredentials(client_id, None, "private_key_jwt", Secret(assertion))


def read_client_credentials(authorization: str | None, form: Params) -> ClientCredentials:
    """Return who the client says it is and how it authenticates (not yet verified)."""
    body_id = form.get("client_id")
    body_secret = form.get("client_secret")
    if "client_assertion" in form or "client_assertion_type" in form:
        if authorization or body_secret is not None:
            raise InvalidRequest("use only one client authentication method")
        return _assertion(form, body_id)
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
