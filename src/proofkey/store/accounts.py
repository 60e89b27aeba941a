"""The account roles of the SQL stores: a user's sessions and grants, as /account and logout
need them (OIDC RP-Initiated Logout 1.0).

Kept apart from ``sqlite.py`` and ``postgres.py`` like ``federation.py``: one set of statements
rendered per dialect, a mixin per backend. A grant does not name the session it came from; it
carries the session's ``auth_time`` (from the code or device approval), so the grants "issued in
a session" are the user's grants with that ``auth_time``. Two sessions of one user started in
the same second share it; logout then revokes the other's grants too (more, never fewer).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proofkey.models import Grant, Session
from proofkey.store._rows import Codec
from proofkey.store.sql import POSTGRES, SQLITE

if TYPE_CHECKING:  # the drivers load only with their backend
    from proofkey.store.postgres_db import PostgresPool
    from proofkey.store.sqlite_db import SQLiteDatabase

__all__ = ["PostgresAccounts", "SQLiteAccounts"]


@dataclass(frozen=True, slots=True)
class _Accounts:
    sessions: str = ("SELECT {session} FROM sessions WHERE user_id = $1 AND expires_at > $2"
                     " ORDER BY auth_time DESC, session_digest")  # fmt: skip
    grants: str = ("SELECT {grant} FROM grants WHERE user_id = $1 AND revoked_at IS NULL"
                   " AND expires_at > $2 ORDER BY created_at DESC, grant_id")  # fmt: skip
    end_session: str = "DELETE FROM sessions WHERE session_digest = $1 AND user_id = $2"
    revoke_session: str = ("UPDATE grants SET revoked_at = $4 WHERE user_id = $1"
                           " AND auth_time = $2 AND client_id = $3 AND revoked_at IS NULL")
    revoke_client: str = ("UPDATE grants SET revoked_at = $3 WHERE user_id = $1"
                          " AND client_id = $2 AND revoked_at IS NULL")  # fmt: skip
    forget_consent: str = "DELETE FROM consents WHERE user_id = $1 AND client_id = $2"


_LITE, _PG = SQLITE.render(_Accounts()), POSTGRES.render(_Accounts())
_PLAIN = Codec({}, {})
_session = _PLAIN.reader(Session)
# A grant's lists as each backend stores them: space-separated TEXT (SQLite), TEXT[] (PostgreSQL).
_grant_lite = Codec({}, {"scope": lambda text: tuple(text.split()),
                         "resources": lambda text: tuple(text.split())}).reader(Grant)
_grant_pg = Codec({}, {"scope": tuple, "resources": tuple}).reader(Grant)


def _changed(tag: Any) -> int:
    """Rows changed, from an asyncpg command tag such as ``UPDATE 2``."""
    return int(str(tag).rsplit(" ", 1)[-1])


class SQLiteAccounts:
    """The account roles on ``self._db``."""

    _db: SQLiteDatabase

    async def list_sessions(self, user_id: str, now: int) -> list[Session]:
        return self._db.get_all(_session, _LITE.sessions, user_id, now)

    async def list_grants(self, user_id: str, now: int) -> list[Grant]:
        return self._db.get_all(_grant_lite, _LITE.grants, user_id, now)

    async def end_session(self, session_digest: str, user_id: str) -> bool:
        return self._db.run(_LITE.end_session, session_digest, user_id) > 0

    async def revoke_session_grants(self, user_id: str, auth_time: int,
                                    client_ids: Collection[str], now: int) -> int:
        with self._db.tx() as db:
            return sum(db.execute(_LITE.revoke_session, (user_id, auth_time, client_id, now)
                                  ).rowcount for client_id in sorted(client_ids))

    async def disconnect_client(self, user_id: str, client_id: str, now: int) -> int:
        with self._db.tx(durable=True) as db:
            db.execute(_LITE.forget_consent, (user_id, client_id))
            return int(db.execute(_LITE.revoke_client, (user_id, client_id, now)).rowcount)


class PostgresAccounts:
    """The account roles on ``self._db``."""

    _db: PostgresPool

    async def list_sessions(self, user_id: str, now: int) -> list[Session]:
        return await self._db.get_all(_session, _PG.sessions, user_id, now)

    async def list_grants(self, user_id: str, now: int) -> list[Grant]:
        return await self._db.get_all(_grant_pg, _PG.grants, user_id, now)

    async def end_session(self, session_digest: str, user_id: str) -> bool:
        return await self._db.run(_PG.end_session, session_digest, user_id) > 0

    async def revoke_session_grants(self, user_id: str, auth_time: int,
                                    client_ids: Collection[str], now: int) -> int:
        async def revoke(db: Any) -> int:
            async with db.transaction():
                return sum([_changed(await db.execute(_PG.revoke_session, user_id, auth_time,
                                                      client_id, now))
                            for client_id in sorted(client_ids)])

        return await self._db.with_connection(revoke)

    async def disconnect_client(self, user_id: str, client_id: str, now: int) -> int:
        async def disconnect(db: Any) -> int:
            async with db.transaction():
                await db.execute(_PG.forget_consent, user_id, client_id)
                return _changed(await db.execute(_PG.revoke_client, user_id, client_id, now))

        return await self._db.with_connection(disconnect)
