"""The session store for several gateway instances: PostgreSQL through an asyncpg pool.

Every instance reads and writes the same rows, so a browser may land on any of them. Single
use of a pending login is one ``DELETE … RETURNING``; a token refresh is a compare-and-set on
``version``, so of two instances refreshing one session only one stores its tokens.
"""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]

from proofkey.bff.sessions import Session

__all__ = ["PostgresSessionStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS bff_sessions (
    digest TEXT PRIMARY KEY, sealed BYTEA NOT NULL, version BIGINT NOT NULL,
    created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL, absolute_expires_at BIGINT NOT NULL,
    refresh_lease_until BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS bff_logins (
    digest TEXT PRIMARY KEY, sealed BYTEA NOT NULL, expires_at BIGINT NOT NULL);
"""
_COLUMNS = ("digest, sealed, version, created_at, last_seen_at, idle_expires_at,"
            " absolute_expires_at")
_INSERT = f"INSERT INTO bff_sessions ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"  # noqa: S608
_SELECT = f"SELECT {_COLUMNS} FROM bff_sessions WHERE digest = $1"  # noqa: S608
_DELETE = f"DELETE FROM bff_sessions WHERE digest = $1 RETURNING {_COLUMNS}"  # noqa: S608
_LOCK = 0x6B66F001  # advisory lock: two instances migrating at once take turns


def _session(row: Any) -> Session | None:
    return Session(row[0], bytes(row[1]), *(int(v) for v in row[2:])) if row else None


class PostgresSessionStore:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self._sizes = (min_size, max_size)
        self._pool: Any = None

    async def pool(self) -> Any:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.url, min_size=self._sizes[0],
                                                   max_size=self._sizes[1])
        return self._pool

    async def migrate(self) -> None:
        async with (await self.pool()).acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            await conn.execute(SCHEMA)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def create(self, session: Session) -> None:
        await (await self.pool()).execute(
            _INSERT,
            session.digest, session.sealed, session.version, session.created_at,
            session.last_seen_at, session.idle_expires_at, session.absolute_expires_at)

    async def get(self, digest: str) -> Session | None:
        return _session(await (await self.pool()).fetchrow(
            _SELECT, digest))

    async def replace_tokens(self, digest: str, expected_version: int, sealed: bytes) -> bool:
        status = await (await self.pool()).execute(
            "UPDATE bff_sessions SET sealed = $1, version = version + 1, refresh_lease_until = 0"
            " WHERE digest = $2 AND version = $3", sealed, digest, expected_version)
        return str(status).endswith(" 1")

    async def claim_refresh(self, digest: str, version: int, now: int, until: int) -> bool:
        status = await (await self.pool()).execute(
            "UPDATE bff_sessions SET refresh_lease_until = $1 WHERE digest = $2"
            " AND version = $3 AND refresh_lease_until <= $4", until, digest, version, now)
        return str(status).endswith(" 1")

    async def release_refresh(self, digest: str) -> None:
        await (await self.pool()).execute(
            "UPDATE bff_sessions SET refresh_lease_until = 0 WHERE digest = $1", digest)

    async def touch(self, digest: str, now: int, idle_expires_at: int) -> None:
        await (await self.pool()).execute(
            "UPDATE bff_sessions SET last_seen_at = $1, idle_expires_at = $2 WHERE digest = $3",
            now, idle_expires_at, digest)

    async def delete(self, digest: str) -> Session | None:
        return _session(await (await self.pool()).fetchrow(
            _DELETE, digest))

    async def put_login(self, digest: str, sealed: bytes, expires_at: int) -> None:
        await (await self.pool()).execute(
            "INSERT INTO bff_logins (digest, sealed, expires_at) VALUES ($1, $2, $3)",
            digest, sealed, expires_at)

    async def take_login(self, digest: str, now: int) -> bytes | None:
        row = await (await self.pool()).fetchrow(
            "DELETE FROM bff_logins WHERE digest = $1 RETURNING sealed, expires_at", digest)
        return bytes(row[0]) if row and int(row[1]) > now else None

    async def purge(self, now: int) -> int:
        pool = await self.pool()
        sessions = await pool.execute(
            "DELETE FROM bff_sessions WHERE idle_expires_at <= $1 OR absolute_expires_at <= $1",
            now)
        logins = await pool.execute("DELETE FROM bff_logins WHERE expires_at <= $1", now)
        return int(str(sessions).split()[-1]) + int(str(logins).split()[-1])
