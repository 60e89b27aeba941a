"""Who may enter the operator console: an admin's password login, the console session, roles.

The console has its own sessions (``ConsoleStore``), apart from the login sessions of the OAuth
flows: signing in here is the throttled password check of every login
(``interaction.authenticate``), then a user without the ``admin`` role is refused. Each page
checks the session again (``current_admin``): the user must still exist, still be an admin and
still have the password the session was opened with, so removing a user, taking the role away
or changing the password ends their console access at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from proofkey.crypto import digest, new_handle
from proofkey.models import AdminSession, User, UserRole
from proofkey.observability.events import AdminChange
from proofkey.store.base import ConsoleStore, RateLimiter, UserStore

from .context import Context
from .interaction import authenticate

__all__ = [
    "ADMIN",
    "CONSOLE_SESSION_SECONDS",
    "ROLES",
    "ConsoleSignIn",
    "NotAdmin",
    "console_login",
    "console_logout",
    "current_admin",
    "may_enter",
    "set_role",
]

ADMIN: UserRole = "admin"
ROLES: tuple[UserRole, ...] = ("user", "admin")
CONSOLE_SESSION_SECONDS = 8 * 3600


class NotAdmin(Exception):
    """The password was right, but the user does not hold the admin role."""


@dataclass(frozen=True, slots=True)
class ConsoleSignIn:
    """A console session just opened: the handle (for the cookie only) and its record."""

    handle: str
    session: AdminSession
    user: User


def may_enter(user: User | None) -> bool:
    """The console's one admission rule. (A disabled user is refused here as well once users
    can be disabled.)"""
    return user is not None and user.role == ADMIN


def _credential(user: User) -> str:
    return digest(f"console|{user.user_id}|{user.password_hash}")


async def console_login(username: str, password: str, *, users: UserStore,
                        sessions: ConsoleStore, limiter: RateLimiter, client_ip: str,
                        previous: str | None, ctx: Context) -> ConsoleSignIn:
    """Check the password (BadCredentials, RateLimited), then the role (NotAdmin); a fresh
    console session replaces the browser's previous one (no fixation)."""
    user = await authenticate(username, password, users=users, limiter=limiter,
                              client_ip=client_ip, client_id=None, ctx=ctx)
    if not may_enter(user):
        raise NotAdmin
    if previous:
        await sessions.delete_admin_session(digest(previous))
    now = ctx.now()
    handle = new_handle()
    session = AdminSession(digest(handle), user.user_id, _credential(user), now,
                           now + min(CONSOLE_SESSION_SECONDS, ctx.settings.session_ttl_seconds))
    await sessions.save_admin_session(session)
    ctx.bus.emit(AdminChange("console_signed_in", user.user_id))
    return ConsoleSignIn(handle, session, user)


async def current_admin(handle: str | None, *, users: UserStore, sessions: ConsoleStore,
                        ctx: Context) -> tuple[AdminSession, User] | None:
    """The console session ``handle`` names and its admin, if both still hold."""
    if not handle or len(handle) > 128:
        return None
    session = await sessions.get_admin_session(digest(handle), ctx.now())
    if session is None:
        return None
    user = await users.get_user(session.user_id)
    if user is None or not may_enter(user) or session.credential_digest != _credential(user):
        await sessions.delete_admin_session(session.session_digest)
        return None
    return session, user


async def console_logout(admin: AdminSession, *, sessions: ConsoleStore, ctx: Context) -> None:
    await sessions.delete_admin_session(admin.session_digest)
    ctx.bus.emit(AdminChange("console_signed_out", admin.user_id))


async def set_role(username: str, role: str, *, roles: ConsoleStore) -> bool:
    """Give a user a role (``proofkey user set NAME --role``; the caller audits it); False if
    there is no such user. ValueError for a role that does not exist."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return await roles.set_role(username, ADMIN if role == ADMIN else "user")
