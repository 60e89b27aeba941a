"""Pushed authorization requests (RFC 9126): the parameters travel over a back channel.

The client authenticates and POSTs the authorization request to ``/par``; the request is
validated exactly as ``/authorize`` would (errors come back as JSON, §2.3), stored under a
one-time ``request_uri`` that expires within a minute (§2.2: "a short-lived" reference), and
the browser carries only ``client_id`` and ``request_uri``. Parameters a gateway could strip or
mangle in the front channel never pass through it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from proofkey.crypto import digest, fingerprint, new_handle
from proofkey.errors import InvalidDpopProof, InvalidRequest, OAuthError
from proofkey.models import Client
from proofkey.observability.events import DpopRefused
from proofkey.protocol.params import Params
from proofkey.protocol.redirect_uri import match_redirect_uri
from proofkey.store.base import ChallengeStore, PushedRequestStore, RateLimiter, ResourceDirectory

from .authorize import check_request
from .challenge_reuse import note_challenge
from .context import Context
from .resources import catalog_for
from .row_caps import pushed_cap

__all__ = ["PAR_TTL", "REQUEST_URI_PREFIX", "InvalidRequestUri", "push", "resolve"]

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PAR_TTL = 60
# Parameters that only authenticate the client at /par; never part of the stored request.
_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


class InvalidRequestUri(OAuthError):
    """The request_uri is unknown, used, expired or another client's (RFC 9126 §4, RFC 9101)."""

    error = "invalid_request_uri"
    default_redirectable = False


async def push(form: Params, client: Client, *, pushed: PushedRequestStore,
               challenges: ChallengeStore, ctx: Context, limiter: RateLimiter,
               address: str, resources: ResourceDirectory | None = None,
               dpop_jkt: str | None = None) -> dict[str, Any]:
    """RFC 9126 §2.1–2.2: validate the pushed request and store it for one use; a valid one
    notes its challenge (``challenge_reuse``: here, not again at /authorize) and counts
    against the caps of ``row_caps`` (``RateLimited`` beyond them), checked first."""
    if "request_uri" in form:
        # RFC 9126 §2.1: "The request_uri authorization request parameter is prohibited".
        raise InvalidRequest("request_uri must not be pushed")
    if form.get("client_id", client.client_id) != client.client_id:
        raise InvalidRequest("client_id differs from the authenticated client")
    redirect_uri = form.get("redirect_uri")
    if redirect_uri is None:
        raise InvalidRequest("redirect_uri is required")
    if not match_redirect_uri(client.redirect_uris, redirect_uri,
                              loopback_any_port=client.is_public):
        raise InvalidRequest("redirect_uri does not match a registered redirect URI")
    stored = {k: v for k, v in form.items() if k not in _AUTH_PARAMS}
    stored["client_id"] = client.client_id
    # RFC 9449 §10.1: a proof at PAR binds the code to its key, as dpop_jkt does; both given,
    # they MUST match.
    if dpop_jkt is not None and stored.setdefault("dpop_jkt", dpop_jkt) != dpop_jkt:
        ctx.bus.emit(DpopRefused(client.client_id, "key_mismatch", fingerprint(dpop_jkt)))
        raise InvalidDpopProof("dpop_jkt does not match the DPoP proof's key")
    params = MappingProxyType(stored)
    request = check_request(params, client, redirect_uri, ctx.settings, pushed=True,
                            catalog=await catalog_for(params, ctx.settings, resources))
    # The cap first: a push it refuses stores nothing, so retrying it is no reuse.
    await pushed_cap(ctx.settings, PAR_TTL).admit(limiter, client_id=client.client_id,
                                                  address=address, now=ctx.clock())
    await note_challenge(client, request.code_challenge, challenges=challenges, ctx=ctx,
                         endpoint="par")
    handle = new_handle()
    now = ctx.now()
    await pushed.save_pushed(digest(handle), client.client_id, stored, now + PAR_TTL)
    return {"request_uri": REQUEST_URI_PREFIX + handle, "expires_in": PAR_TTL}


async def resolve(params: Params, *, pushed: PushedRequestStore, ctx: Context) -> Params:
    """RFC 9126 §4: swap ``client_id`` + ``request_uri`` for the pushed parameters, once."""
    request_uri = params.get("request_uri", "")
    client_id = params.get("client_id")
    if client_id is None:
        raise InvalidRequest("client_id is required", redirectable=False)
    handle = request_uri.removeprefix(REQUEST_URI_PREFIX)
    if handle == request_uri or len(handle) > 64:
        raise InvalidRequestUri("request_uri is not one this server issued")
    found = await pushed.take_pushed(digest(handle), ctx.now())
    if found is None:
        raise InvalidRequestUri("request_uri is unknown, used or expired")
    owner, stored = found
    if owner != client_id:
        raise InvalidRequestUri("request_uri belongs to another client")
    return MappingProxyType(dict(stored))

