"""Mint the token response of a grant that acts for a user (RFC 6749 §5.1, OIDC Core §3.1.3.3).

The code, device and refresh grants end the same way: an access token for the grant, an ID
token when ``openid`` was granted and the grant issues one (OIDC Core §12.2: a refresh
response need not), the rotated or first refresh token if any, shaped by ``token_body``.
"""

from __future__ import annotations

from proofkey.models import Client
from proofkey.protocol.responses import token_body
from proofkey.protocol.scope import format_scope
from proofkey.tokens.mint import TokenMinter

__all__ = ["mint_token_response"]


def mint_token_response(
    minter: TokenMinter, client: Client, *, subject: str | None, scope: tuple[str, ...],
    grant_id: str, auth_time: int | None, now: int, refresh_token: str | None,
    id_token: bool = True, nonce: str | None = None,
    audience: str | tuple[str, ...] | None = None, jkt: str | None = None,
) -> dict[str, str | int]:
    """The §5.1 body: access token (for ``audience``, default the server's; bound to the DPoP
    key ``jkt`` when given, RFC 9449 §6.1), ID token (``id_token``, a user and ``openid`` in
    ``scope``), ``refresh_token`` when given."""
    scope_text = format_scope(scope)
    access = minter.access_token(client_id=client.client_id, subject=subject, scope=scope_text,
                                 grant_id=grant_id, auth_time=auth_time, now=now,
                                 audience=audience, jkt=jkt)
    signed_id = None
    if id_token and subject is not None and "openid" in scope:
        signed_id = minter.id_token(client_id=client.client_id, subject=subject, nonce=nonce,
                                    auth_time=auth_time, access_token=access.token,
                                    alg=client.id_token_signed_response_alg, now=now)
    return token_body(access_token=access.token, expires_in=access.expires_at - now,
                      scope=scope_text, refresh_token=refresh_token, id_token=signed_id,
                      token_type="Bearer" if jkt is None else "DPoP")
