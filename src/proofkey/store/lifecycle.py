"""The operator roles of the SQL stores (docs/admin.md): users disabled and given a
password-set link, grants and sessions listed and revoked by user or by client.

Kept apart from ``sqlite.py`` and ``postgres.py`` like ``accounts.py``: one set of statements
rendered per dialect, a mixin per backend. A session does not name the clients it served; the
sessions "of a client" are the sessions whose user and ``auth_time`` match an active grant the
client holds (how logout finds a session's grants, ``accounts.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proofkey.models import Grant, Session
from proofkey.store._rows import Codec
from proofkey.store.sql import POSTGRES, SQLITE

if TYPE_CHECKING:  # the drivers load only with their backend
    from proofkey.store.postgres_db import PostgresPool
    from proofkey.store.sqlite_db import SQLiteDatabase

__all__ = ["PostgresLifecycle", "SQLiteLifecycle"]

_ACTIVE = "revoked_at IS NULL AND expires_at > $2"


@dataclass(frozen=True, slots=True)
class _Lifecycle:
    set_disabled: str = "UPDATE users SET disabled_at = $2 WHERE user_id = $1"
    set_profile: str = "UPDATE users SET name = $2, email = $3 WHERE user_id = $1"
    forget_links: str = "DELETE FROM password_set_tokens WHERE user_id = $1"
    add_link: str = ("INSERT INTO password_set_tokens (token_digest, user_id, created_at,"
                     " expires_at) VALUES ($1, $2, $3, $4)")  # fmt: skip
    peek_link: str = ("SELECT user_id FROM password_set_tokens WHERE token_digest = $1"
                      " AND expires_at > $2")  # fmt: skip
    take_link: str = ("DELETE FROM password_set_tokens WHERE token_digest = $1"
                      " AND expires_at > $2 RETURNING user_id")  # fmt: skip
    client_grants: str = (f"SELECT {{grant}} FROM grants WHERE client_id = $1 AND {_ACTIVE}"  # noqa: S608
                          " ORDER BY created_at DESC, grant_id")  # fmt: skip
    revoke_user: str = ("UPDATE grants SET revoked_at = $2 WHERE user_id = $1"
                        " AND revoked_at IS NULL")  # fmt: skip
    revoke_client: str = ("UPDATE grants SET revoked_at = $2 WHERE client_id = $1"
                          " AND revoked_at IS NULL")  # fmt: skip
    end_user_sessions: str = "DELETE FROM sessions WHERE user_id = $1"
    end_session: str = "DELETE FROM sessions WHERE session_digest = $1 RETURNING {session}"
    client_sessions: str = (
        "SELECT {session} FROM sessions AS s WHERE s.expires_at > $2 AND EXISTS (SELECT 1"
        " FROM grants AS g WHERE g.client_id = $1 AND g.user_id = s.user_id"
        " AND g.auth_time = s.auth_time AND g.revoked_at IS NULL AND g.expires_at > $2)"
        " ORDER BY s.auth_time DESC, s.session_digest"
    )
    end_client_sessions: str = (
        "DELETE FROM sessions AS s WHERE EXISTS (SELECT 1 FROM grants AS g"
        " WHERE g.client_id = $1 AND g.user_id = s.user_id AND g.auth_time = s.auth_time"
        " AND g.revoked_at IS NULL AND g.expires_at > $2)"
    )


_LITE, _PG = SQLITE.render(_Lifecycle()), POSTGRES.render(_Lifecycle())
_session = Codec({}, {}).reader(Session)
_grant_lite = Codec({}, {"scope": lambda text: tuple(text.split()),
                         "resources": lambda text: tuple(text.split())}).reader(Grant)
_grant_pg = Codec({}, {"scope": tuple, "resources": tuple}).reader(Grant)


def _changed(tag: Any) -> int:
    return int(str(tag).rsplit(" ", 1)[-1])


class SQLiteLifecycle:
    """The operator roles on ``self._db``."""

    _db: SQLiteDatabase

    async def set_user_disabled(self, user_id: str, disabled_at: int | None) -> bool:
        return self._db.run(_LITE.set_disabled, user_id, disabled_at, durable=True) > 0

    async def set_user_profile(self, user_id: str, name: str, email: str) -> bool:
        return self._db.run(_LITE.set_profile, user_id, name, email, durable=True) > 0

    async def add_password_link(self, token_digest: str, user_id: str, now: int,
                                expires_at: int) -> None:
        with self._db.tx(durable=True) as db:
            db.execute(_LITE.forget_links, (user_id,))
            db.execute(_LITE.add_link, (token_digest, user_id, now, expires_at))

    async def peek_password_link(self, token_digest: str, now: int) -> str | None:
        return self._db.get(lambda row: str(row[0]), _LITE.peek_link, token_digest, now)

    async def take_password_link(self, token_digest: str, now: int) -> str | None:
        return self._db.get(lambda row: str(row[0]), _LITE.take_link, token_digest, now)

    async def list_client_grants(self, client_id: str, now: int) -> list[Grant]:
        return self._db.get_all(_grant_lite, _LITE.client_grants, client_id, now)

    async def revoke_user_grants(self, user_id: str, now: int) -> int:
        return self._db.run(_LITE.revoke_user, user_id, now, durable=True)

    async def revoke_client_grants(self, client_id: str, now: int) -> int:
        return self._db.run(_LITE.revoke_client, client_id, now, durable=True)

    async def end_user_sessions(self, user_id: str) -> int:
        return self._db.run(_LITE.end_user_sessions, user_id)

    async def end_session_by_digest(self, session_digest: str) -> Session | None:
        return self._db.get(_session, _LITE.end_session, session_digest)

    async def list_client_sessions(self, client_id: str, now: int) -> list[Session]:
        return self._db.get_all(_session, _LITE.client_sessions, client_id, now)

    async def end_client_sessions(self, client_id: str, now: int) -> int:
        return self._db.run(_LITE.end_client_sessions, client_id, now)


class PostgresLifecycle:
    """The operator roles on ``self._db``."""

    _db: PostgresPool

    async def set_user_disabled(self, user_id: str, disabled_at: int | None) -> bool:
        return await self._db.run(_PG.set_disabled, user_id, disabled_at, durable=True) > 0

    async def set_user_profile(self, user_id: str, name: str, email: str) -> bool:
        return await self._db.run(_PG.set_profile, user_id, name, email, durable=True) > 0

    async def add_password_link(self, token_digest: str, user_id: str, now: int,
                                expires_at: int) -> None:
        async def add(db: Any) -> None:
            async with db.transaction():
                await db.execute(_PG.forget_links, user_id)
                await db.execute(_PG.add_link, token_digest, user_id, now, expires_at)

        await self._db.with_connection(add)

    async def peek_password_link(self, token_digest: str, now: int) -> str | None:
        return await self._db.get(lambda row: str(row[0]), _PG.peek_link, token_digest, now)

    async def take_password_link(self, token_digest: str, now: int) -> str | None:
        return await self._db.get(lambda row: str(row[0]), _PG.take_link, token_digest, now)

    async def list_client_grants(self, client_id: str, now: int) -> list[Grant]:
        return await self._db.get_all(_grant_pg, _PG.client_grants, client_id, now)

    async def revoke_user_grants(self, user_id: str, now: int) -> int:
        return await self._db.run(_PG.revoke_user, user_id, now, durable=True)

    async def revoke_client_grants(self, client_id: str, now: int) -> int:
        return await self._db.run(_PG.revoke_client, client_id, now, durable=True)

    async def end_user_sessions(self, user_id: str) -> int:
        return await self._db.run(_PG.end_user_sessions, user_id)

    async def end_session_by_digest(self, session_digest: str) -> Session | None:
        return await self._db.get(_session, _PG.end_session, session_digest)

    async def list_client_sessions(self, client_id: str, now: int) -> list[Session]:
        return await self._db.get_all(_session, _PG.client_sessions, client_id, now)

    async def end_client_sessions(self, client_id: str, now: int) -> int:
        return await self._db.run(_PG.end_client_sessions, client_id, now)
