"""One PostgreSQL database as the production store uses it: an asyncpg pool, errors, migrations.

The pool is made on first use, never at import or construction, with a reset that does
nothing (``postgres.py`` says why that is safe and what it saves). Every call holds one pooled
connection. ``OSError``, timeouts, SQLSTATE classes 08, 28, 3D, 53, 57, 58 and an
``InterfaceError`` of a closed pool or connection become ``StoreUnavailable``; a connection
that died expires its siblings. Unique violations become ``AlreadyExists``; SQL mistakes
surface unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]

from proofkey.store.base import AlreadyExists, StoreUnavailable
from proofkey.store.schema import apply_migrations
from proofkey.store.sql import POSTGRES

__all__ = ["MAX_IDLE", "PostgresPool", "count_changed", "redacted"]

MAX_IDLE = 60.0  # seconds an idle pooled connection lives (fewer stale ones after a failover)

_MIGRATE_LOCK = 0x70726F6F666B6579  # "proofkey": one advisory lock key for all migrations
_MIGRATE_TIMEOUT = 600.0  # a migration may wait for another instance's, or rewrite a table
# SQLSTATE classes: connection, authorization, no such database, resources, shutdown, system.
_UNAVAILABLE = frozenset({"08", "28", "3D", "53", "57", "58"})

_T = TypeVar("_T")


def count_changed(status: str) -> int:
    """Rows changed, from a command tag such as ``UPDATE 1`` or ``INSERT 0 1``."""
    return int(status.rpartition(" ")[2] or 0)


async def _keep_session(connection: Any) -> None:
    """The pool's reset: nothing (``postgres.py``'s docstring says why that is safe)."""


def _is_closed(connection: Any) -> bool:
    """Whether a pooled connection died (asyncpg detaches the proxy of one that closed)."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:
        return True


class _Migrator:
    """``schema.Migrator`` on a connection inside the locked migration transaction."""

    def __init__(self, db: Any) -> None:
        self._db = db

    async def fetch(self, sql: str, /, *params: Any) -> Sequence[Sequence[Any]]:
        rows: list[Any] = await self._db.fetch(sql, *params)
        return rows

    async def execute(self, sql: str, /, *params: Any) -> None:
        await self._db.execute(sql, *params)

    async def run_script(self, script: str, /) -> None:
        await self._db.execute(script, timeout=_MIGRATE_TIMEOUT)  # several statements at once


def redacted(dsn: str) -> str:
    """The DSN without its password."""
    password = urlsplit(dsn).password
    return dsn if password is None else dsn.replace(f":{password}@", ":***@", 1)


class PostgresPool:
    """The pool of one database (schema: the DSN's ``search_path``), opened on first use."""

    def __init__(self, dsn: str, *, min_size: int, max_size: int, command_timeout: float,
                 connect_timeout: float) -> None:  # fmt: skip
        self._dsn = dsn
        self.min_size, self.max_size = min_size, max_size
        self.command_timeout, self.connect_timeout = command_timeout, connect_timeout
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _open(self) -> Any:
        async with self._opening:
            if self._pool is None:
                pool = asyncpg.create_pool(
                    self._dsn, min_size=self.min_size, max_size=self.max_size,
                    command_timeout=self.command_timeout, timeout=self.connect_timeout,
                    max_inactive_connection_lifetime=MAX_IDLE, reset=_keep_session,
                )  # fmt: skip
                try:
                    await pool
                except BaseException:
                    pool.terminate()
                    raise
                self._pool = pool
            return self._pool

    async def with_connection(self, operation: Callable[[Any], Awaitable[_T]]) -> _T:
        """Run ``operation`` on one pooled connection; translate driver failures."""
        broken = False
        try:
            async with asyncio.timeout(self.connect_timeout):  # a pool, a free or new connection
                pool = self._pool or await self._open()
                connection = await pool.acquire()
            try:
                return await operation(connection)
            except Exception:
                broken = _is_closed(connection)
                raise
            finally:
                await pool.release(connection)
        except Exception as exc:
            failure = await self._translate(exc, broken)
            if failure is None:
                raise
            raise failure from exc

    async def _translate(self, exc: Exception, broken: bool) -> Exception | None:
        """AlreadyExists, StoreUnavailable, or None: a SQL mistake surfaces unchanged."""
        if isinstance(exc, asyncpg.UniqueViolationError):
            return AlreadyExists(str(exc))
        pool = self._pool
        if isinstance(exc, asyncpg.PostgresError):
            lost = (exc.sqlstate or "")[:2] in _UNAVAILABLE
        elif isinstance(exc, asyncpg.InterfaceError):  # a closed pool or connection
            configured = not isinstance(exc, asyncpg.ClientConfigurationError)
            lost = configured and (broken or pool is None or pool.is_closing())
        else:
            lost = isinstance(exc, OSError | TimeoutError)
        if not lost:
            return None
        if broken and pool is not None and not pool.is_closing():
            await pool.expire_connections()  # its siblings may be dead too: reconnect them
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return StoreUnavailable(f"PostgreSQL unavailable: {detail}")

    async def get(self, make: Callable[[Any], _T], sql: str, *params: Any) -> _T | None:
        row = await self.with_connection(lambda db: db.fetchrow(sql, *params))
        return None if row is None else make(row)

    async def get_all(self, make: Callable[[Any], _T], sql: str, *params: Any) -> list[_T]:
        rows: list[Any] = await self.with_connection(lambda db: db.fetch(sql, *params))
        return [make(row) for row in rows]

    async def run(self, sql: str, *params: Any, durable: bool = False) -> int:
        """Execute one statement; return the rows it changed. ``durable`` syncs the commit."""

        async def run(db: Any) -> str:
            if not durable:
                return str(await db.execute(sql, *params))
            async with db.transaction():
                await db.execute("SET LOCAL synchronous_commit = on")
                return str(await db.execute(sql, *params))

        return count_changed(await self.with_connection(run))

    async def migrate(self) -> list[str]:
        async def apply(db: Any) -> list[str]:
            async with db.transaction():  # the lock makes check-and-apply safe across instances
                await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK,
                                 timeout=_MIGRATE_TIMEOUT)  # fmt: skip
                return await apply_migrations(_Migrator(db), POSTGRES)

        return await self.with_connection(apply)

    async def run_each(self, calls: Sequence[tuple[str, tuple[Any, ...]]]) -> int:
        """Run (statement, parameters) pairs on one connection, each in its own transaction;
        return the rows they changed."""

        async def run(db: Any) -> int:
            return sum([count_changed(await db.execute(sql, *params)) for sql, params in calls])

        return await self.with_connection(run)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                with contextlib.suppress(Exception):  # unreachable or stuck: terminated below
                    async with asyncio.timeout(self.connect_timeout):
                        await pool.close()  # waits for connections in use to come back
            finally:
                pool.terminate()  # nothing left to do after a clean close
