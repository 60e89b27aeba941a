"""The console roles of the SQL stores: a user's role and the operator console's sessions.

Kept apart from ``sqlite.py`` and ``postgres.py`` like ``accounts.py``: one set of statements
rendered per dialect, a mixin per backend. Console sessions live in their own table, never in
``sessions``: signing in to the console gives no login session to the OAuth flows, and ending
a user's login sessions leaves the console alone (a changed password, a removed user or a lost
role still end console access: ``flows.console_auth.current_admin`` checks them on every page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from proofkey.models import AdminSession, UserRole
from proofkey.store._rows import Codec
from proofkey.store.sql import POSTGRES, SQLITE

if TYPE_CHECKING:  # the drivers load only with their backend
    from proofkey.store.postgres_db import PostgresPool
    from proofkey.store.sqlite_db import SQLiteDatabase

__all__ = ["PostgresConsole", "SQLiteConsole"]


@dataclass(frozen=True, slots=True)
class _Console:
    set_role: str = "UPDATE users SET role = $2 WHERE username = $1"
    save: str = ("INSERT INTO admin_sessions ({admin_session}) VALUES ($1, $2, $3, $4, $5)")
    get: str = ("SELECT {admin_session} FROM admin_sessions"
                " WHERE session_digest = $1 AND expires_at > $2")  # fmt: skip
    delete: str = "DELETE FROM admin_sessions WHERE session_digest = $1"


_LITE, _PG = SQLITE.render(_Console()), POSTGRES.render(_Console())
_CODEC = Codec({}, {})
_session = _CODEC.reader(AdminSession)


class SQLiteConsole:
    """The console roles on ``self._db``."""

    _db: SQLiteDatabase

    async def set_role(self, username: str, role: UserRole) -> bool:
        return self._db.run(_LITE.set_role, username, role) > 0

    async def save_admin_session(self, session: AdminSession) -> None:
        self._db.run(_LITE.save, *_CODEC.row(session))

    async def get_admin_session(self, session_digest: str, now: int) -> AdminSession | None:
        return self._db.get(_session, _LITE.get, session_digest, now)

    async def delete_admin_session(self, session_digest: str) -> None:
        self._db.run(_LITE.delete, session_digest)


class PostgresConsole:
    """The console roles on ``self._db``."""

    _db: PostgresPool

    async def set_role(self, username: str, role: UserRole) -> bool:
        return await self._db.run(_PG.set_role, username, role) > 0

    async def save_admin_session(self, session: AdminSession) -> None:
        await self._db.run(_PG.save, *_CODEC.row(session))

    async def get_admin_session(self, session_digest: str, now: int) -> AdminSession | None:
        return await self._db.get(_session, _PG.get, session_digest, now)

    async def delete_admin_session(self, session_digest: str) -> None:
        await self._db.run(_PG.delete, session_digest)
