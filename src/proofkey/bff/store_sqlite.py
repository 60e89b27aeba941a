"""The gateway's default session store: one stdlib ``sqlite3`` connection, statements inline.

As in the server's SQLite store, a statement costs far less than a hop to a worker thread, so
each runs on the event loop's thread; the connection opens on ``migrate()`` or first use.
Single use of a pending login is one ``DELETE … RETURNING``; a token refresh is a
compare-and-set on ``version``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlsplit

from proofkey.bff.sessions import Session

__all__ = ["SQLiteSessionStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS bff_sessions (
    digest TEXT PRIMARY KEY, sealed BLOB NOT NULL, version INTEGER NOT NULL,
    created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL, absolute_expires_at INTEGER NOT NULL,
    refresh_lease_until INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS bff_logins (
    digest TEXT PRIMARY KEY, sealed BLOB NOT NULL, expires_at INTEGER NOT NULL);
"""
_COLUMNS = ("digest, sealed, version, created_at, last_seen_at, idle_expires_at,"
            " absolute_expires_at")
_INSERT = f"INSERT INTO bff_sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_SELECT = f"SELECT {_COLUMNS} FROM bff_sessions WHERE digest = ?"  # noqa: S608
_DELETE = f"DELETE FROM bff_sessions WHERE digest = ? RETURNING {_COLUMNS}"  # noqa: S608


class SQLiteSessionStore:
    def __init__(self, url: str) -> None:
        self.path = unquote(urlsplit(url).path) if url.startswith("sqlite:") else url
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))  # owner only
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        return self._db

    async def migrate(self) -> None:
        self.db.executescript(SCHEMA)

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def create(self, session: Session) -> None:
        self.db.execute(_INSERT,
                        (session.digest, session.sealed, session.version, session.created_at,
                         session.last_seen_at, session.idle_expires_at,
                         session.absolute_expires_at))

    async def get(self, digest: str) -> Session | None:
        row = self.db.execute(_SELECT,
                              (digest,)).fetchone()
        return Session(*row) if row else None

    async def replace_tokens(self, digest: str, expected_version: int, sealed: bytes) -> bool:
        cursor = self.db.execute(
            "UPDATE bff_sessions SET sealed = ?, version = version + 1, refresh_lease_until = 0"
            " WHERE digest = ? AND version = ?", (sealed, digest, expected_version))
        return cursor.rowcount == 1

    async def claim_refresh(self, digest: str, version: int, now: int, until: int) -> bool:
        cursor = self.db.execute(
            "UPDATE bff_sessions SET refresh_lease_until = ? WHERE digest = ? AND version = ?"
            " AND refresh_lease_until <= ?", (until, digest, version, now))
        return cursor.rowcount == 1

    async def release_refresh(self, digest: str) -> None:
        self.db.execute("UPDATE bff_sessions SET refresh_lease_until = 0 WHERE digest = ?",
                        (digest,))

    async def touch(self, digest: str, now: int, idle_expires_at: int) -> None:
        self.db.execute("UPDATE bff_sessions SET last_seen_at = ?, idle_expires_at = ?"
                        " WHERE digest = ?", (now, idle_expires_at, digest))

    async def delete(self, digest: str) -> Session | None:
        row = self.db.execute(_DELETE,
                              (digest,)).fetchone()
        return Session(*row) if row else None

    async def put_login(self, digest: str, sealed: bytes, expires_at: int) -> None:
        self.db.execute("INSERT INTO bff_logins (digest, sealed, expires_at) VALUES (?, ?, ?)",
                        (digest, sealed, expires_at))

    async def take_login(self, digest: str, now: int) -> bytes | None:
        row = self.db.execute("DELETE FROM bff_logins WHERE digest = ? RETURNING sealed,"
                              " expires_at", (digest,)).fetchone()
        return bytes(row[0]) if row and row[1] > now else None

    async def purge(self, now: int) -> int:
        sessions = self.db.execute(
            "DELETE FROM bff_sessions WHERE idle_expires_at <= ?1 OR absolute_expires_at <= ?1",
            (now,)).rowcount
        logins = self.db.execute("DELETE FROM bff_logins WHERE expires_at <= ?", (now,)).rowcount
        return int(sessions + logins)
