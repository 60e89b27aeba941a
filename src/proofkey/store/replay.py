"""The replay role of the SQL stores: one-time ids seen (a DPoP proof's ``jti``, a client
assertion's ``jti``), kept as SHA-256 digests until they could no longer be accepted anyway.

``first_use`` is one upsert that returns a row only when it recorded the id: a new id is
inserted; an id whose record has expired is taken over (its ``expires_at`` moved on); an id
with a live record conflicts and updates nothing. On PostgreSQL concurrent inserts of one key
wait for each other's transaction, so of N concurrent callers exactly one gets its row back;
on SQLite the single write lock does the same. Shared by every instance on one database, so a
proof replayed at another instance is refused too. Expired rows are purged with the rest
(``_rows.PURGED``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from proofkey.store.sql import POSTGRES, SQLITE

if TYPE_CHECKING:  # the drivers load only with their backend
    from proofkey.store.postgres_db import PostgresPool
    from proofkey.store.sqlite_db import SQLiteDatabase

__all__ = ["PostgresReplays", "SQLiteReplays"]


@dataclass(frozen=True, slots=True)
class _Replays:
    first_use: str = (
        "INSERT INTO replay_ids (kind, id_digest, expires_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (kind, id_digest) DO UPDATE SET expires_at = excluded.expires_at"
        " WHERE replay_ids.expires_at <= $4 RETURNING 1")


_LITE, _PG = SQLITE.render(_Replays()), POSTGRES.render(_Replays())


def _one(_: object) -> bool:
    return True


class SQLiteReplays:
    """The replay role on ``self._db``."""

    _db: SQLiteDatabase

    async def first_use(self, kind: str, id_digest: str, expires_at: int, now: int) -> bool:
        return bool(self._db.get(_one, _LITE.first_use, kind, id_digest, expires_at, now))


class PostgresReplays:
    """The replay role on ``self._db``."""

    _db: PostgresPool

    async def first_use(self, kind: str, id_digest: str, expires_at: int, now: int) -> bool:
        return bool(await self._db.get(_one, _PG.first_use, kind, id_digest, expires_at, now))
