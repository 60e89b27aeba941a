"""Who may call the admin REST API: admin tokens (``proofkey admin token create|list|revoke``)
and proofkey access tokens carrying admin scopes; the scopes themselves.

An admin token is ``pka_`` and 256 random bits, shown once; the store keeps its SHA-256
digest and a short public id (what lists, revocations and audit lines name). Its scopes are
the resource-and-verb names below (``clients:read``). A client gets the same rights as an
access token from ``client_credentials`` with the scope prefixed ``admin:``
(``admin:clients:read``): the operator registers the admin API as a resource declaring those
scopes (``{issuer}/admin/api``) and gives the client those scopes. The token is verified with
the server's own keys: issuer, expiry, not revoked, and an audience that is the server's own or
the admin API's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from proofkey.crypto import digest, new_handle, new_id
from proofkey.errors import InvalidToken
from proofkey.models import AdminToken, Secret
from proofkey.store.base import AdminTokenStore, GrantStore
from proofkey.tokens.mint import TokenMinter

from .access import active_access_token
from .admin import AdminError

__all__ = [
    "ACCESS_SCOPE_PREFIX",
    "ADMIN_SCOPES",
    "MAX_LIFETIME",
    "TOKEN_PREFIX",
    "Caller",
    "NewAdminToken",
    "admin_audience",
    "caller_of",
    "create_admin_token",
    "revoke_admin_token",
]

# Resource and verb: read lists and gets, write creates, changes and deletes.
ADMIN_SCOPES = tuple(f"{resource}:{verb}" for resource in (
    "clients", "resources", "registration-tokens", "users", "keys", "grants", "sessions",
    "audit") for verb in ("read", "write"))
ACCESS_SCOPE_PREFIX = "admin:"
TOKEN_PREFIX = "pka_"  # noqa: S105 - a prefix, not a secret
MAX_LIFETIME = 3 * 366 * 86400
_TOKEN = re.compile(r"pka_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class NewAdminToken:
    token: Secret  # shown once
    record: AdminToken


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: ``actor`` names it in audit lines (never the token)."""

    actor: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def admin_audience(issuer: str) -> str:
    """The admin API's resource identifier (RFC 8707) for access tokens."""
    return issuer.rstrip("/") + "/admin/api"


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(scopes))
    if not wanted:
        raise AdminError("an admin token needs at least one scope")
    unknown = [s for s in wanted if s not in ADMIN_SCOPES]
    if unknown:
        raise AdminError("unknown admin scopes: " + " ".join(sorted(unknown)[:5])[:200]
                         + "; known: " + " ".join(ADMIN_SCOPES))
    return wanted


async def create_admin_token(store: AdminTokenStore, *, scopes: Iterable[str],
                             lifetime: int | None, description: str = "",
                             now: int) -> NewAdminToken:
    """Store a new admin token for ``scopes``, valid ``lifetime`` seconds (None: until
    revoked); the token itself is returned once."""
    granted = _check_scopes(scopes)
    if lifetime is not None and not 1 <= lifetime <= MAX_LIFETIME:
        raise AdminError(f"the lifetime must be between 1 second and {MAX_LIFETIME // 86400} "
                         "days")
    if len(description) > 200:
        raise AdminError("the description must be at most 200 characters")
    token = Secret(TOKEN_PREFIX + new_handle())
    record = AdminToken(new_id()[:16], digest(token.reveal()), granted, now,
                        None if lifetime is None else now + lifetime, None, description)
    await store.add_admin_token(record)
    return NewAdminToken(token, record)


async def revoke_admin_token(store: AdminTokenStore, token_id: str, now: int) -> bool:
    return await store.revoke_admin_token(token_id, now)


async def caller_of(token: str, *, tokens: AdminTokenStore, grants: GrantStore,
                    minter: TokenMinter, now: int) -> Caller | None:
    """The caller a bearer token stands for; None if it is no valid admin credential."""
    if _TOKEN.fullmatch(token):
        record = await tokens.find_admin_token(digest(token))
        if record is None or record.revoked_at is not None or (
                record.expires_at is not None and record.expires_at <= now):
            return None
        return Caller(f"admin-token:{record.token_id}", frozenset(record.scopes))
    if token.count(".") != 2 or len(token) > 8192:
        return None
    try:
        claims = await active_access_token(token, minter=minter, grants=grants, now=now,
                                           any_audience=True)
    except InvalidToken:
        return None
    if not {minter.audience, admin_audience(minter.issuer)} & set(claims.audiences):
        return None
    scopes = frozenset(s.removeprefix(ACCESS_SCOPE_PREFIX) for s in claims.scope.split()
                       if s.startswith(ACCESS_SCOPE_PREFIX))
    return Caller(f"client:{claims.client_id}", scopes & frozenset(ADMIN_SCOPES))
