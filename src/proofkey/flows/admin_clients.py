"""The client use cases of the admin API beyond registration: change a client through the
registration policy, rotate a confidential client's secret, remove one.

Registration itself is ``flows.admin.register_client``; a change is validated the same way
(``build_client``: grant types, redirect URIs, scopes, then the ``proofkey lint`` rule set), so
a client the API changed is one that could have been registered so. Identity, type,
authentication method, secret and registration history stay as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from proofkey.crypto import digest, new_handle
from proofkey.models import Client, Secret
from proofkey.store.base import ClientStore, RegistrationStore

from .admin import AdminError, NewClient, build_client

__all__ = ["CHANGEABLE", "change_client", "remove_client", "rotate_secret"]

# What a change may name, with the ``build_client`` argument each one sets.
CHANGEABLE: Mapping[str, str] = {
    "name": "name", "redirect_uris": "redirect_uris", "scopes": "scopes",
    "grant_types": "grant_types", "id_token_signed_response_alg": "id_token_alg",
    "require_pushed_authorization_requests": "require_par",
    "resource_server": "resource_server", "reject_reused_challenge": "reject_reused_challenge",
    "post_logout_redirect_uris": "post_logout_redirect_uris",
    "revoke_on_logout": "revoke_on_logout", "jwks": "jwks", "jwks_uri": "jwks_uri",
    "token_endpoint_auth_signing_alg": "auth_signing_alg", "require_dpop": "require_dpop",
    "profile": "profile",
}


class _Store(ClientStore, RegistrationStore, Protocol):
    """What a change reads and writes."""


@dataclass(frozen=True, slots=True)
class _Current:
    client: Client

    def arguments(self) -> dict[str, Any]:
        c = self.client
        return {"name": c.name, "redirect_uris": c.redirect_uris, "scopes": c.scopes,
                "grant_types": c.grant_types, "id_token_alg": c.id_token_signed_response_alg,
                "require_par": c.require_pushed_authorization_requests,
                "resource_server": c.resource_server,
                "reject_reused_challenge": c.reject_reused_challenge,
                "post_logout_redirect_uris": c.post_logout_redirect_uris,
                "revoke_on_logout": c.revoke_on_logout, "jwks": c.jwks,
                "jwks_uri": c.jwks_uri, "auth_signing_alg": c.token_endpoint_auth_signing_alg,
                "require_dpop": c.require_dpop, "profile": c.profile}


async def change_client(store: _Store, client: Client, changes: Mapping[str, Any], *,
                        supported_scopes: Iterable[str], now: int,
                        conditional: bool = False) -> NewClient | None:
    """``client`` with ``changes`` (keys of ``CHANGEABLE``) applied after the registration
    policy accepted the result (``AdminError`` naming the rule otherwise); None if the client
    is gone, or, ``conditional``, if it is no longer at ``client.version`` (the stored client
    changed since ``client`` was read: a compare-and-swap). ``warnings`` are the policy's, as
    at registration; the client returned is at its new version.

    A client registered for a profile stays in it: a change may not remove the profile (a
    client that needs weaker rules is registered anew), and whatever else it changes must
    still meet the profile's rules (PKL100-PKL107, through the policy). ``jwks`` is JSON text
    ("" for none), like ``Client.jwks``."""
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise AdminError("cannot change " + ", ".join(sorted(unknown)))
    if client.profile and changes.get("profile", client.profile) != client.profile:
        raise AdminError(f"the client is registered for the {client.profile} profile and stays "
                         "in it; register a new client for other rules")
    arguments = _Current(client).arguments()
    for name, value in changes.items():
        arguments[CHANGEABLE[name]] = value
    checked = build_client(client.client_id, client_type=client.client_type,
                           supported_scopes=supported_scopes,
                           auth_method=client.token_endpoint_auth_method, now=now, **arguments)
    changed = replace(checked.client, secret_digest=client.secret_digest,
                      created_at=client.created_at, client_uri=client.client_uri,
                      logo_uri=client.logo_uri, registered_by=client.registered_by,
                      registration_token_digest=client.registration_token_digest,
                      last_used_at=client.last_used_at)
    if not await store.update_client(changed, client.version if conditional else None):
        return None
    return NewClient(replace(changed, version=client.version + 1), None, checked.warnings)


async def rotate_secret(store: RegistrationStore, client: Client, *,
                        conditional: bool = False) -> tuple[Client, Secret] | None:
    """A new 256-bit secret for a confidential client (the old one stops working at once;
    running servers' client caches follow within PROOFKEY_CLIENT_CACHE_MS). None if the
    client is gone or, ``conditional``, no longer at ``client.version``."""
    if client.is_public:
        raise AdminError("a public client has no secret to rotate [PKL031]", rule="PKL031")
    secret = Secret(new_handle())
    changed = replace(client, secret_digest=digest(secret.reveal()))
    if not await store.update_client(changed, client.version if conditional else None):
        return None
    return replace(changed, version=client.version + 1), secret


async def remove_client(store: ClientStore, client_id: str, *, now: int) -> bool:
    """Remove a client and revoke its grants."""
    return await store.remove_client(client_id, now=now)
