"""The user lifecycle (docs/admin.md): the use cases behind ``proofkey user`` and the admin
API's users resource.

A user is created without a password: the operator hands the person a single-use link to
``/account/password/set`` (its token is kept as a SHA-256 digest and taken atomically, so it
works once, until it expires). A disabled user cannot sign in, and what they held — sessions,
logins in flight, codes, approved device requests, grants and so refresh tokens — is taken
back at once. Removal leaves nothing of the user that could still become a token
(``UserStore.remove_user``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from proofkey.crypto import digest, hash_password_async, new_handle, new_id
from proofkey.flows.admin import USERNAME_RULE, AdminError, validate_password
from proofkey.models import Secret, User
from proofkey.store.base import LifecycleStore, UserStore

__all__ = [
    "DEFAULT_LINK_TTL",
    "PASSWORD_SET_PATH",
    "UNSET_PASSWORD",
    "PasswordLink",
    "UserAccessEnded",
    "UserAdminStore",
    "check_password_link",
    "create_user",
    "disable_user",
    "enable_user",
    "find_user",
    "issue_password_link",
    "remove_user",
    "set_password_with_link",
    "update_profile",
]

DEFAULT_LINK_TTL = 72 * 3600
MAX_LINK_TTL = 30 * 24 * 3600
PASSWORD_SET_PATH = "/account/password/set"  # noqa: S105 - a path
# A password hash no password matches (argon2 hashes start with "$"): a user created with a
# link signs in only after using it.
UNSET_PASSWORD = "!unset"  # noqa: S105 - a marker, not a secret


class UserAdminStore(UserStore, LifecycleStore, Protocol):
    """The roles the user lifecycle needs."""


@dataclass(frozen=True, slots=True)
class PasswordLink:
    """A single-use password-set link: shown once, to be handed to the person."""

    user: User
    url: Secret
    expires_at: int


@dataclass(frozen=True, slots=True)
class UserAccessEnded:
    """A user disabled, with what it took back."""

    user: User
    sessions_ended: int
    grants_revoked: int


async def find_user(users: UserStore, name: str) -> User | None:
    """The user with this username, else with this user id."""
    return await users.get_user_by_username(name) or await users.get_user(name)


async def issue_password_link(store: UserAdminStore, user: User, *, issuer: str, now: int,
                              ttl: int = DEFAULT_LINK_TTL) -> PasswordLink:
    """A new link for ``user`` (their earlier links stop working)."""
    if not 60 <= ttl <= MAX_LINK_TTL:
        raise AdminError(f"a password-set link lives 60 to {MAX_LINK_TTL} seconds")
    token = new_handle()
    await store.add_password_link(digest(token), user.user_id, now, now + ttl)
    url = f"{issuer.rstrip('/')}{PASSWORD_SET_PATH}?token={quote(token)}"
    return PasswordLink(user, Secret(url), now + ttl)


async def create_user(store: UserAdminStore, username: str, *, issuer: str, now: int,
                      name: str = "", email: str = "",
                      ttl: int = DEFAULT_LINK_TTL) -> PasswordLink:
    """A user without a password, and the link with which they choose one. AlreadyExists
    (from the store) if the username is taken."""
    if not USERNAME_RULE.fullmatch(username):
        raise AdminError("usernames are 1-128 characters of A-Z a-z 0-9 . _ @ + -")
    if len(name) > 200 or len(email) > 254:
        raise AdminError("name and email are at most 200 and 254 characters")
    user = User(user_id=new_id(), username=username, password_hash=UNSET_PASSWORD, name=name,
                email=email, created_at=now)
    await store.add_user(user)
    return await issue_password_link(store, user, issuer=issuer, now=now, ttl=ttl)


async def check_password_link(store: UserAdminStore, token: str, now: int) -> User | None:
    """The enabled user an unused, unexpired link is for (nothing is used up)."""
    if not token or len(token) > 128:
        return None
    user_id = await store.peek_password_link(digest(token), now)
    user = await store.get_user(user_id) if user_id else None
    return user if user is not None and user.disabled_at is None else None


async def set_password_with_link(store: UserAdminStore, token: str, password: str,
                                 now: int) -> User | None:
    """Use the link once: set the password and end whatever the user's earlier credentials
    gave (as ``flows.admin.change_password`` does). None if the link is unknown, used,
    expired, or its user is disabled; AdminError for a password the policy refuses (the link
    is not used up then)."""
    validate_password(password)
    if await check_password_link(store, token, now) is None:
        return None
    user_id = await store.take_password_link(digest(token), now)  # exactly one caller wins
    user = await store.get_user(user_id) if user_id else None
    if user is None or user.disabled_at is not None:
        return None
    if not await store.set_password(user.username, await hash_password_async(password)):
        return None
    await store.end_user_access(user.user_id, now)
    return user


async def disable_user(store: UserAdminStore, name: str, now: int) -> UserAccessEnded | None:
    """Disable the user first (no new login starts), then take back what they hold. None if
    there is no such user; disabling a disabled user ends access again."""
    user = await find_user(store, name)
    if user is None:
        return None
    if user.disabled_at is None:
        await store.set_user_disabled(user.user_id, now)
    ended, revoked = await store.end_user_access(user.user_id, now)
    return UserAccessEnded(await store.get_user(user.user_id) or user, ended, revoked)


async def update_profile(store: UserAdminStore, user: User, *, name: str | None = None,
                         email: str | None = None) -> User | None:
    """Change the user's display name and/or e-mail (None: keep); None if the user is gone."""
    new_name = user.name if name is None else name
    new_email = user.email if email is None else email
    if len(new_name) > 200 or len(new_email) > 254:
        raise AdminError("name and email are at most 200 and 254 characters")
    if not await store.set_user_profile(user.user_id, new_name, new_email):
        return None
    return await store.get_user(user.user_id)


async def enable_user(store: UserAdminStore, name: str) -> User | None:
    user = await find_user(store, name)
    if user is None:
        return None
    await store.set_user_disabled(user.user_id, None)
    return await store.get_user(user.user_id)


async def remove_user(store: UserAdminStore, name: str, now: int) -> User | None:
    """Remove the user and everything of theirs; the removed user, or None."""
    user = await find_user(store, name)
    if user is None or not await store.remove_user(user.username, now=now):
        return None
    return user
