"""The console's users and their login sessions: list and search users, list one user's
sessions, end one of them (as a logout: the clients' ``revoke_on_logout`` applies, through
``flows.logout.end_other_session``, and the ``AdminChange`` is audited).

Search filters the user list in memory (username, name or e-mail containing the words, case
folded) and returns at most ``limit`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from proofkey.models import Session, User
from proofkey.observability.events import AdminChange
from proofkey.store.base import AccountStore, ClientStore, UserStore

from .context import Context
from .logout import end_other_session

__all__ = ["USER_PAGE", "UserList", "UserSessions", "end_user_session", "find_users",
           "user_sessions"]

USER_PAGE = 200


@dataclass(frozen=True, slots=True)
class UserList:
    users: tuple[User, ...]
    matched: int  # before the limit
    total: int


@dataclass(frozen=True, slots=True)
class UserSessions:
    user: User
    sessions: tuple[Session, ...]


def _matches(user: User, words: list[str]) -> bool:
    text = f"{user.username}\n{user.name}\n{user.email}".casefold()
    return all(word in text for word in words)


async def find_users(query: str, *, users: UserStore, limit: int = USER_PAGE) -> UserList:
    """Users whose username, name or e-mail contain every word of ``query`` (all when empty),
    by username."""
    everyone = await users.list_users()
    words = query.casefold().split()[:10]
    found = [u for u in everyone if _matches(u, words)] if words else everyone
    return UserList(tuple(found[:limit]), len(found), len(everyone))


async def user_sessions(username: str, *, users: UserStore, accounts: AccountStore,
                        ctx: Context) -> UserSessions | None:
    """The user's live login sessions, newest first; None if there is no such user."""
    user = await users.get_user_by_username(username) if len(username) <= 200 else None
    if user is None:
        return None
    return UserSessions(user, tuple(await accounts.list_sessions(user.user_id, ctx.now())))


async def end_user_session(user_id: str, session_digest: str, *, admin: User,
                           accounts: AccountStore, clients: ClientStore, ctx: Context) -> bool:
    """End one login session of a user; False if it had ended already."""
    if len(session_digest) > 64 or len(user_id) > 128:
        return False
    ended = await end_other_session(user_id, session_digest, accounts=accounts,
                                    clients=clients, ctx=ctx)
    if ended:
        ctx.bus.emit(AdminChange("session_ended", f"{user_id} by {admin.user_id}"))
    return ended
