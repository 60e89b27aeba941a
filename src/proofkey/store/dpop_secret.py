"""The DPoP nonce secret of the SQL stores (RFC 9449 §8, ``protocol/dpop_nonce``).

One row, created by whichever instance asks first: ``INSERT … ON CONFLICT DO NOTHING`` with
its random candidate, then every instance reads the row that won, so all derive the same
nonces. Kept apart like ``accounts.py``: one pair of statements, a mixin per backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the drivers load only with their backend
    from proofkey.store.postgres_db import PostgresPool
    from proofkey.store.sqlite_db import SQLiteDatabase

__all__ = ["PostgresDpopSecret", "SQLiteDpopSecret"]

_CREATE = ("INSERT INTO dpop_nonce_secret (id, secret, created_at) VALUES (1, {mark}1, {mark}2)"
           " ON CONFLICT (id) DO NOTHING")
_READ = "SELECT secret FROM dpop_nonce_secret WHERE id = 1"


def _text(row: object) -> str:
    return str(row[0])  # type: ignore[index]


class SQLiteDpopSecret:
    """``DpopSecretStore`` on ``self._db``."""

    _db: SQLiteDatabase

    async def dpop_nonce_secret(self, candidate: str, now: int) -> str:
        self._db.run(_CREATE.format(mark="?"), candidate, now)
        secret = self._db.get(_text, _READ)
        assert secret is not None
        return secret


class PostgresDpopSecret:
    """``DpopSecretStore`` on ``self._db``."""

    _db: PostgresPool

    async def dpop_nonce_secret(self, candidate: str, now: int) -> str:
        await self._db.run(_CREATE.format(mark="$"), candidate, now)
        secret = await self._db.get(_text, _READ)
        assert secret is not None
        return secret
