"""Dynamic client registration (RFC 7591 §3) and its management (RFC 7592 §2).

``register`` is an ordered list of checks: the mode (``PROOFKEY_REGISTRATION``), the per-address
limit, a present initial access token (mode ``token``), the metadata's shape
(``protocol.registration``), the policy ``proofkey lint`` applies (``flows.admin.build_client``:
one rule set), then ONE atomic use of the initial access token, then the store. Refusals are
RFC 7591 §3.2.2 errors whose description ends with the rule's id.

The server makes the client id (128 random bits in hex: safe on a command line) and a
registration access token (RFC 7592 §1), stored as a digest on the client and compared in
constant time; it is answered once at registration and echoed back to the caller who presents
it (RFC 7592 §3 requires it in every client information response; only its digest is kept, so
it is never rotated). A wrong token, a client that does not exist and one that was not
registered this way all get the same 401 (RFC 7592 §2: do not reveal whether a client exists).

Omitted ``scope``: ``registration_default_scopes`` (by default openid, profile and
offline_access: not every scope the server knows); a scope the server does not know is refused
(PKL058). What is stored of the metadata: redirect URIs, grant types, the authentication
method, scopes, client_name, client_uri, logo_uri, the id_token alg and, for private_key_jwt,
``jwks`` or ``jwks_uri`` and ``token_endpoint_auth_signing_alg``; other members are
accepted, bounded and not kept (RFC 7591 §3.2.1 returns only what was registered).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from proofkey.crypto import constant_time_equal, digest, fingerprint, new_handle, new_id
from proofkey.errors import (
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidToken,
    OAuthError,
    RateLimited,
    TemporarilyUnavailable,
)
from proofkey.flows.admin import AdminError, build_client, check_policy
from proofkey.flows.context import Context
from proofkey.flows.throttle import Limit, Refused, release, reserve
from proofkey.models import Client, Secret, TokenAuthMethod
from proofkey.observability.events import ClientRegistration
from proofkey.protocol.registration import (
    ClientMetadata,
    MetadataRefused,
    error_for_rule,
    parse_client_metadata,
)
from proofkey.store.base import ClientStore, RateLimiter, RegistrationStore, ResourceDirectory

__all__ = ["NotEnabled", "Registered", "client_information", "delete", "read", "register",
           "update"]

Mode = Literal["off", "token", "open"]
WINDOW = 3600  # registrations_per_address counts per hour
# RFC 7592 §2.2: the client MUST NOT send these; they are server-provisioned, so ignored.
_SERVER_FIELDS = ("registration_access_token", "registration_client_uri",
                  "client_secret_expires_at", "client_id_issued_at")
_DUMMY = digest("no such client")


class NotEnabled(Exception):
    """Registration is ``off``: the endpoint does not exist (HTTP 404)."""


@dataclass(frozen=True, slots=True)
class Registered:
    """A stored client; its secret (new confidential clients only) and registration access
    token (at registration; the presented one on management) for the response."""

    client: Client
    secret: Secret | None
    registration_token: Secret
    warnings: tuple[str, ...] = ()


def _refusal(rule: str, description: str) -> OAuthError:
    error = InvalidRedirectUri if error_for_rule(rule) == "invalid_redirect_uri" else (
        InvalidClientMetadata)
    return error(description, detail=rule or None)


def _parse(doc: object) -> ClientMetadata:
    try:
        return parse_client_metadata(doc)
    except MetadataRefused as refused:
        raise _refusal(refused.rule, refused.description) from None


async def _known_scopes(ctx: Context, resources: ResourceDirectory | None) -> tuple[str, ...]:
    """The server's scopes and those its registered resources declare (RFC 8707)."""
    if resources is None:
        return ctx.settings.scopes_supported
    return (await resources.catalog()).known_scopes(ctx.settings.scopes_supported)


def _build(meta: ClientMetadata, client_id: str, ctx: Context,
           known: tuple[str, ...]) -> tuple[Client, Secret | None, tuple[str, ...]]:
    settings = ctx.settings
    try:
        new = build_client(
            client_id, client_type="public" if meta.public else "confidential",
            redirect_uris=meta.redirect_uris,
            scopes=settings.registration_scopes if meta.scope is None else meta.scope,
            supported_scopes=known, grant_types=meta.grant_types,
            auth_method=cast(TokenAuthMethod, meta.token_endpoint_auth_method),  # AUTH_METHODS
            id_token_alg=meta.id_token_signed_response_alg, name=meta.client_name,
            post_logout_redirect_uris=meta.post_logout_redirect_uris, jwks=meta.jwks,
            jwks_uri=meta.jwks_uri, auth_signing_alg=meta.token_endpoint_auth_signing_alg,
            require_dpop=meta.dpop_bound_access_tokens, now=ctx.now())
    except AdminError as refused:
        raise _refusal(refused.rule, str(refused)) from None
    client = replace(new.client, client_uri=meta.client_uri, logo_uri=meta.logo_uri,
                     registered_by="dynamic")
    return client, new.secret, new.warnings


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def register(doc: object, *, authorization: str | None, address: str,
                   clients: ClientStore, registry: RegistrationStore, limiter: RateLimiter,
                   ctx: Context, resources: ResourceDirectory | None = None) -> Registered:
    """RFC 7591 §3.1: register a client from its metadata ``doc`` (parsed JSON)."""
    settings = ctx.settings
    mode = cast(Mode, settings.registration)  # settings._check allows these three only
    if mode == "off":
        raise NotEnabled
    held = await reserve(limiter, [Limit("registration", f"register:ip:{address}",
                                         settings.registrations_per_address, WINDOW)], ctx.now())
    if isinstance(held, Refused):
        raise RateLimited("too many registrations from this address; retry later",
                          retry_after=held.retry_after, detail="registration")
    initial = _bearer(authorization)
    if mode == "token" and initial is None:
        raise InvalidToken("an initial access token is required (Authorization: Bearer)")
    try:
        client, secret, warnings = _build(_parse(doc), new_id(), ctx,
                                          await _known_scopes(ctx, resources))
    except OAuthError:
        await release(limiter, held)  # refused metadata creates nothing: not counted
        raise
    initial_id = ""
    if mode == "token":
        used = await registry.use_initial_token(digest(initial or ""), ctx.now())
        if used is None:
            raise InvalidToken("the initial access token is invalid, expired or used up")
        initial_id = used.token_id
    token = Secret(new_handle())
    client = replace(client, registration_token_digest=digest(token.reveal()))
    await clients.add_client(client)
    ctx.bus.emit(ClientRegistration("registered", client.client_id, client.client_type, mode,
                                    fingerprint(token.reveal()), initial_id))
    return Registered(client, secret, token, warnings)


async def _managed(client_id: str, authorization: str | None, clients: ClientStore) -> tuple[
        Client, Secret]:
    """RFC 7592 §2: the dynamic client the presented registration access token belongs to."""
    token = _bearer(authorization)
    if token is None:
        raise InvalidToken("a registration access token is required (Authorization: Bearer)")
    client = await clients.get_client(client_id)
    stored = client.registration_token_digest if client else None
    match = constant_time_equal(digest(token), stored or _DUMMY)
    if client is None or stored is None or client.registered_by != "dynamic" or not match:
        raise InvalidToken("the registration access token is invalid")
    return client, Secret(token)


async def read(client_id: str, *, authorization: str | None, clients: ClientStore) -> Registered:
    """RFC 7592 §2.1: the client's current registration."""
    client, token = await _managed(client_id, authorization, clients)
    return Registered(client, None, token)


_UPDATE_TRIES = 3


async def update(client_id: str, doc: object, *, authorization: str | None,
                 clients: ClientStore, registry: RegistrationStore, ctx: Context,
                 resources: ResourceDirectory | None = None) -> Registered:
    """RFC 7592 §2.2: replace the client's metadata (omitted fields take their defaults), under
    the same policy; the client id, its registration access token, the operator's
    ``reject_reused_challenge`` and ``revoke_on_logout``, its ``profile`` (which still holds:
    a fapi2 client cannot update itself out of it) and, if it stays confidential, its
    secret are kept.

    The write is a compare-and-swap on the version read (``update_client(client,
    expected_version)``): an operator's change made meanwhile (``proofkey client set``, the
    admin API, on any instance) is not overwritten with the values read before it; the update
    is made again from the new read, and after a few lost races answered with
    ``temporarily_unavailable``. ``clients`` must read the store, not a cache."""
    for _ in range(_UPDATE_TRIES):
        done = await _update_once(client_id, doc, authorization=authorization, clients=clients,
                                  registry=registry, ctx=ctx, resources=resources)
        if done is not None:
            return done
    raise TemporarilyUnavailable("the client was being changed by other requests; retry")


async def _update_once(client_id: str, doc: object, *, authorization: str | None,
                       clients: ClientStore, registry: RegistrationStore, ctx: Context,
                       resources: ResourceDirectory | None) -> Registered | None:
    """One try of ``update``: None if the client changed after it was read."""
    old, token = await _managed(client_id, authorization, clients)
    if not isinstance(doc, dict):
        raise _refusal("PKL050", "client metadata must be a JSON object [PKL050]")
    if doc.get("client_id") != client_id:
        raise InvalidClientMetadata("client_id must be present and match the client "
                                    "(RFC 7592 §2.2) [PKL050]", detail="PKL050")
    sent_secret = doc.get("client_secret")
    if sent_secret is not None and not (
            isinstance(sent_secret, str) and old.secret_digest is not None
            and constant_time_equal(digest(sent_secret), old.secret_digest)):
        raise InvalidClientMetadata("client_secret does not match the client's secret "
                                    "(RFC 7592 §2.2) [PKL050]", detail="PKL050")
    body = {k: v for k, v in doc.items() if k not in _SERVER_FIELDS}
    client, secret, warnings = _build(_parse(body), client_id, ctx,
                                      await _known_scopes(ctx, resources))
    keep_secret = old.secret_digest is not None and client.secret_digest is not None
    client = replace(client, created_at=old.created_at, last_used_at=old.last_used_at,
                     registration_token_digest=old.registration_token_digest,
                     reject_reused_challenge=old.reject_reused_challenge,  # operator policy
                     revoke_on_logout=old.revoke_on_logout,  # operator policy
                     # RFC 9449 §5.2; once on (by the client or the operator) it stays on
                     require_dpop=client.require_dpop or old.require_dpop,
                     secret_digest=old.secret_digest if keep_secret else client.secret_digest)
    if old.profile:  # operator policy: the profile (and what it turned on) stays, and holds
        client = replace(client, profile=old.profile, require_dpop=old.require_dpop,
                         require_pushed_authorization_requests=True)
        try:
            check_policy(client)
        except AdminError as refused:
            raise _refusal(refused.rule, str(refused)) from None
    if not await registry.update_client(client, old.version):
        if await clients.get_client(client_id) is None:
            raise InvalidToken("the registration access token is invalid")  # deleted meanwhile
        return None  # changed meanwhile: try again from the new version
    ctx.bus.emit(ClientRegistration("updated", client_id, client.client_type,
                                    ctx.settings.registration, fingerprint(token.reveal())))
    return Registered(client, None if keep_secret else secret, token, warnings)


async def delete(client_id: str, *, authorization: str | None, clients: ClientStore,
                 ctx: Context) -> None:
    """RFC 7592 §2.3: remove the client; its grants are revoked and consents forgotten."""
    client, token = await _managed(client_id, authorization, clients)
    if not await clients.remove_client(client_id, now=ctx.now()):
        raise InvalidToken("the registration access token is invalid")
    ctx.bus.emit(ClientRegistration("deleted", client_id, client.client_type,
                                    ctx.settings.registration, fingerprint(token.reveal())))


def client_information(registered: Registered, issuer: str) -> dict[str, Any]:
    """RFC 7591 §3.2.1 / RFC 7592 §3: the client's registered metadata and credentials."""
    client = registered.client
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "registration_access_token": registered.registration_token.reveal(),
        "registration_client_uri": f"{issuer}/register/{client.client_id}",
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": sorted(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": " ".join(sorted(client.scopes)),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
    }
    if client.require_dpop:
        body["dpop_bound_access_tokens"] = True  # RFC 9449 §5.2
    if registered.secret is not None:
        body["client_secret"] = registered.secret.reveal()
        body["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: 0 = does not expire
    for name, value in (("client_name", client.name), ("client_uri", client.client_uri),
                        ("logo_uri", client.logo_uri), ("jwks_uri", client.jwks_uri),
                        ("token_endpoint_auth_signing_alg",
                         client.token_endpoint_auth_signing_alg)):
        if value:
            body[name] = value
    if client.jwks:
        body["jwks"] = json.loads(client.jwks)
    return body
