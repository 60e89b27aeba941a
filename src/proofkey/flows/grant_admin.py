"""Grants and login sessions seen and ended by an operator (docs/admin.md): the use cases
behind ``proofkey grant|session`` and the admin API's grants and sessions resources.

A selector names what to act on: one grant (or session), or all of a user's, or all of a
client's. A session's id is the SHA-256 digest of its cookie's handle (what the store keys it
by), never the handle. Revoking a grant stops every refresh token of its family at once and
its access tokens at introspection; ending a session signs its browser out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from proofkey.flows.admin import AdminError
from proofkey.flows.user_admin import find_user
from proofkey.models import Grant, Session
from proofkey.store.base import AccountStore, ClientStore, GrantStore, LifecycleStore, UserStore

__all__ = [
    "GrantAdminStore",
    "GrantView",
    "Selector",
    "SessionView",
    "end_sessions",
    "list_grants",
    "list_sessions",
    "revoke_grants",
]


class GrantAdminStore(UserStore, ClientStore, GrantStore, AccountStore, LifecycleStore,
                      Protocol):
    """The roles these use cases need."""


@dataclass(frozen=True, slots=True)
class Selector:
    """Exactly one of: one record by id, a user (username or id), a client id."""

    id: str | None = None
    user: str | None = None
    client: str | None = None

    def check(self) -> None:
        if sum(v is not None for v in (self.id, self.user, self.client)) != 1:
            raise AdminError("name exactly one of: an id, a user, a client")


@dataclass(frozen=True, slots=True)
class GrantView:
    grant_id: str
    client_id: str
    user_id: str | None
    scope: tuple[str, ...]
    auth_time: int | None
    created_at: int
    expires_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class SessionView:
    session_id: str  # the digest the store keys it by
    user_id: str
    auth_time: int
    expires_at: int


def _grant(g: Grant) -> GrantView:
    return GrantView(g.grant_id, g.client_id, g.user_id, g.scope, g.auth_time, g.created_at,
                     g.expires_at, g.revoked_at)


def _session(s: Session) -> SessionView:
    return SessionView(s.session_digest, s.user_id, s.auth_time, s.expires_at)


async def _user_id(store: GrantAdminStore, name: str) -> str:
    user = await find_user(store, name)
    if user is None:
        raise AdminError(f"no user {name!r}", rule="not_found")
    return user.user_id


async def _client_id(store: GrantAdminStore, client_id: str) -> str:
    if await store.get_client(client_id) is None:
        raise AdminError(f"no client {client_id!r}", rule="not_found")
    return client_id


async def list_grants(store: GrantAdminStore, selector: Selector, *,
                      now: int) -> list[GrantView]:
    """Active, unexpired grants of a user or a client (or the one grant, if it exists)."""
    selector.check()
    if selector.id is not None:
        grant = await store.get_grant(selector.id)
        return [] if grant is None else [_grant(grant)]
    if selector.user is not None:
        return [_grant(g) for g in await store.list_grants(await _user_id(store, selector.user),
                                                           now)]
    assert selector.client is not None
    return [_grant(g) for g in await store.list_client_grants(
        await _client_id(store, selector.client), now)]


async def revoke_grants(store: GrantAdminStore, selector: Selector, *, now: int) -> int:
    """Revoke the grant, or every active grant of the user or the client; how many."""
    selector.check()
    if selector.id is not None:
        if await store.get_grant(selector.id) is None:
            raise AdminError(f"no grant {selector.id!r}", rule="not_found")
        return int(await store.revoke_grant(selector.id, now))
    if selector.user is not None:
        return await store.revoke_user_grants(await _user_id(store, selector.user), now)
    assert selector.client is not None
    return await store.revoke_client_grants(await _client_id(store, selector.client), now)


async def list_sessions(store: GrantAdminStore, selector: Selector, *,
                        now: int) -> list[SessionView]:
    """Unexpired sessions of a user, or those in which a client got a live grant."""
    selector.check()
    if selector.id is not None:
        raise AdminError("list sessions by user or by client")
    if selector.user is not None:
        return [_session(s) for s in await store.list_sessions(
            await _user_id(store, selector.user), now)]
    assert selector.client is not None
    return [_session(s) for s in await store.list_client_sessions(
        await _client_id(store, selector.client), now)]


async def end_sessions(store: GrantAdminStore, selector: Selector, *, now: int) -> int:
    """End the session, or every session of the user, or those a client's live grants came
    from; how many. Grants stay (``revoke_grants`` takes them)."""
    selector.check()
    if selector.id is not None:
        if len(selector.id) != 64 or await store.end_session_by_digest(selector.id) is None:
            raise AdminError(f"no session {selector.id!r}", rule="not_found")
        return 1
    if selector.user is not None:
        return await store.end_user_sessions(await _user_id(store, selector.user))
    assert selector.client is not None
    return await store.end_client_sessions(await _client_id(store, selector.client), now)
