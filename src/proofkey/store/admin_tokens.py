"""The admin-token role of the SQL stores: bearer tokens for the admin REST API, by digest.

Kept apart from ``sqlite.py`` and ``postgres.py`` like ``accounts.py``: one set of statements
rendered per dialect, a mixin per backend. Scopes are stored space-separated in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proofkey.models import AdminToken
from proofkey.store.sql import POSTGRES, SQLITE

if TYPE_CHECKING:  # the drivers load only with their backend
    from proofkey.store.postgres_db import PostgresPool
    from proofkey.store.sqlite_db import SQLiteDatabase

__all__ = ["PostgresAdminTokens", "SQLiteAdminTokens"]

_COLUMNS = "token_id, token_digest, scopes, created_at, expires_at, revoked_at, description"


@dataclass(frozen=True, slots=True)
class _AdminTokens:
    add: str = (f"INSERT INTO admin_tokens ({_COLUMNS})"  # noqa: S608 - constants
                " VALUES ($1, $2, $3, $4, $5, $6, $7)")
    by_digest: str = f"SELECT {_COLUMNS} FROM admin_tokens WHERE token_digest = $1"  # noqa: S608
    every: str = (f"SELECT {_COLUMNS} FROM admin_tokens"  # noqa: S608 - constants
                  " ORDER BY created_at, token_id{bytewise}")
    revoke: str = ("UPDATE admin_tokens SET revoked_at = $2 WHERE token_id = $1"
                   " AND revoked_at IS NULL")


_LITE, _PG = SQLITE.render(_AdminTokens()), POSTGRES.render(_AdminTokens())


def _read(row: Any) -> AdminToken:
    values = tuple(row)
    return AdminToken(str(values[0]), str(values[1]), tuple(str(values[2]).split()),
                      int(values[3]), values[4], values[5], str(values[6]))


def _row(token: AdminToken) -> tuple[Any, ...]:
    return (token.token_id, token.token_digest, " ".join(token.scopes), token.created_at,
            token.expires_at, token.revoked_at, token.description)


class SQLiteAdminTokens:
    """The admin-token role on ``self._db``."""

    _db: SQLiteDatabase

    async def add_admin_token(self, token: AdminToken) -> None:
        self._db.run(_LITE.add, *_row(token), durable=True)

    async def find_admin_token(self, token_digest: str) -> AdminToken | None:
        return self._db.get(_read, _LITE.by_digest, token_digest)

    async def list_admin_tokens(self) -> list[AdminToken]:
        return self._db.get_all(_read, _LITE.every)

    async def revoke_admin_token(self, token_id: str, now: int) -> bool:
        return self._db.run(_LITE.revoke, token_id, now, durable=True) > 0


class PostgresAdminTokens:
    """The admin-token role on ``self._db``."""

    _db: PostgresPool

    async def add_admin_token(self, token: AdminToken) -> None:
        await self._db.run(_PG.add, *_row(token), durable=True)

    async def find_admin_token(self, token_digest: str) -> AdminToken | None:
        return await self._db.get(_read, _PG.by_digest, token_digest)

    async def list_admin_tokens(self) -> list[AdminToken]:
        return await self._db.get_all(_read, _PG.every)

    async def revoke_admin_token(self, token_id: str, now: int) -> bool:
        return await self._db.run(_PG.revoke, token_id, now, durable=True) > 0
