"""One SQLite database as the embedded store uses it: the connection, transactions, errors.

The connection opens on first use: the file created private (0600, directory 0700),
autocommit, WAL, ``synchronous=NORMAL`` (``durable`` writes sync with FULL), the busy timeout,
foreign keys, and for a file a ``checkpoint.Checkpointer`` in place of SQLite's automatic
checkpoint. Failures that make the database unusable (locked past the timeout, I/O, cannot
open, not a database) become ``StoreUnavailable``, duplicate keys ``AlreadyExists``; SQL and
programming errors surface unchanged.

Group commit (``group_commit=True``): the hot writes (``unit``: code issue and redemption,
refresh rotation, grant save) share one transaction per event-loop iteration. The first unit
runs ``BEGIN IMMEDIATE`` and schedules the COMMIT with ``loop.call_soon``, so every request the
loop has already started in this iteration can join; each unit runs inside its own
``SAVEPOINT`` (a failing unit, e.g. a duplicate key, is rolled back to it and undoes nobody
else's) and then awaits the COMMIT: its caller answers only once its write is committed. A
failed COMMIT rolls the whole group back and fails every unit in it (``StoreUnavailable``). A
group holds at most ``GROUP_MAX`` units (the one that fills it commits it at once), belongs to
the loop that opened it, and stays open across no await but its own COMMIT. It does hold the
write lock until the end of the iteration, while the loop runs the other requests' steps
(signing tokens, say): another process on the file (``workers`` > 1) waits that long in its
busy handler, and a second store on the same file in the same thread would wait for a COMMIT
its own thread cannot run until the busy timeout (so: one store per file and thread, as the
server opens it).

Everything else first commits the open group (``_flush``), so ordering and durability are
those of separate transactions: ``run``, ``tx`` (durable or not), ``migrate``, ``close``, and
any ``get``/``get_all`` whose statement is not a plain ``SELECT`` (``DELETE … RETURNING`` is a
single-use take: it must never ride on a COMMIT that can still fail). A plain ``SELECT`` does
not flush, so it can see a unit's uncommitted rows. That is safe: (1) the rows a unit adds
(grant, refresh token, code) are reachable only through secrets or ids that its own response,
sent after the COMMIT, carries (a listing, e.g. a user's grants in the console, may show one
whose COMMIT then fails: a row that never existed, which grants nothing); (2) a unit's
"used" mark (a redeemed code, a retired refresh token) read before the COMMIT makes the reader
refuse (invalid_grant, replay handling, whose writes flush the group first), so if the COMMIT
then fails the reader has failed closed, never granted twice. Single use itself stays one
guarded ``UPDATE … RETURNING`` per unit, on the one connection, inside the one write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from proofkey.store.base import AlreadyExists, StoreUnavailable
from proofkey.store.checkpoint import Checkpointer
from proofkey.store.schema import apply_migrations
from proofkey.store.sql import SQLITE

__all__ = ["GROUP_MAX", "SQLiteDatabase"]

GROUP_MAX = 64
"""Units one group commit holds at most."""

_T = TypeVar("_T")
_UNAVAILABLE = frozenset({
    sqlite3.SQLITE_PERM, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
})  # fmt: skip
_DUPLICATE = frozenset({sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE})


def _translation(exc: BaseException) -> Exception | None:
    """AlreadyExists for a duplicate key, StoreUnavailable for an unusable database, or None:
    the error surfaces unchanged."""
    if isinstance(exc, sqlite3.IntegrityError):
        if getattr(exc, "sqlite_errorcode", None) in _DUPLICATE:
            return AlreadyExists(str(exc))
        return None
    if isinstance(exc, sqlite3.DatabaseError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _UNAVAILABLE:
            return StoreUnavailable(f"SQLite database unusable: {exc}")
        return None
    if isinstance(exc, OSError):
        return StoreUnavailable(f"SQLite database file unusable: {exc}")
    return None


class _Translated:
    """``with _TRANSLATED:`` raises what ``_translation`` makes of an error. It wraps every
    store call: a class costs a microsecond less than a ``@contextmanager`` generator."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, trace: object) -> None:
        if exc is not None and (failure := _translation(exc)) is not None:
            raise failure from exc


_TRANSLATED = _Translated()


def _create_private_file(path: Path) -> None:
    """Create the parent directory and, if new, an empty DB file only its owner can read."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # the umask can only narrow 0o600
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _enter_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL. On a new file opened by several processes at once the switch answers
    SQLITE_BUSY without calling the busy handler, so retry it until the busy timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def _nothing(db: sqlite3.Connection) -> None:
    """What a store without a checkpointer does after a write."""


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (a ``;`` in a string, comment or trigger is kept)."""
    pieces, buffer = script.split(";"), ""
    for piece in pieces[:-1]:
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    rest = buffer + pieces[-1]
    if any(line.strip() and not line.strip().startswith("--") for line in rest.splitlines()):
        raise ValueError(f"migration ends with an incomplete statement: {rest.strip()[:60]!r}")


class _Migrator:
    """``schema.Migrator`` on a connection inside ``BEGIN IMMEDIATE``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, /, *params: Any) -> Sequence[Sequence[Any]]:
        return self._db.execute(sql, params).fetchall()

    async def execute(self, sql: str, /, *params: Any) -> None:
        self._db.execute(sql, params)

    async def run_script(self, script: str, /) -> None:
        for statement in _statements(script):
            self._db.execute(statement)


class _Group:
    """The units sharing one open transaction, and the loop that will commit it."""

    __slots__ = ("loop", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[asyncio.Future[None]] = []


def _settle(waiting: list[asyncio.Future[None]], failure: Exception | None) -> None:
    """Resolve the units' futures (a future on a loop already closed is left alone)."""
    for future in waiting:
        if future.done():
            continue
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody awaits it
            if failure is None:
                future.set_result(None)
            else:
                mine = StoreUnavailable(str(failure))
                mine.__cause__ = failure.__cause__
                future.set_exception(mine)


_SELECTS: dict[str, bool] = {}  # statement -> whether it is a plain SELECT


def _is_select(sql: str) -> bool:
    """Whether ``sql`` only reads (a plain ``SELECT``; a CTE or RETURNING counts as a write)."""
    known = _SELECTS.get(sql)
    if known is None:
        known = _SELECTS[sql] = sql.lstrip()[:6].upper() == "SELECT"
    return known


class SQLiteDatabase:
    """One connection to a database file (or ``":memory:"``); it belongs to one thread."""

    def __init__(self, path: str, timeout: float, *, group_commit: bool = False) -> None:
        self.path = path
        self._timeout = timeout
        self.group_commit = group_commit
        self._group: _Group | None = None
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._wrote: Callable[[sqlite3.Connection], None] = _nothing  # for the checkpointer

    def connection(self) -> sqlite3.Connection:
        """The open connection (opened on first use)."""
        if self._conn is None:
            if self.path != ":memory:":
                _create_private_file(Path(self.path))
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            try:
                _enter_wal(conn, self._timeout)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                if self.path != ":memory:":
                    conn.execute("PRAGMA wal_autocheckpoint=0")  # Checkpointer's thread does
                    self._checkpointer = Checkpointer(self.path)
                    self._wrote = self._checkpointer.wrote
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def get(self, make: Callable[[Any], _T], sql: str, *params: Any) -> _T | None:
        if self._group is not None:
            if _is_select(sql):
                with _TRANSLATED:
                    rows = self.connection().execute(sql, params).fetchall()
                return make(rows[0]) if rows else None
            self._flush()
        with _TRANSLATED:
            db = self.connection()
            rows = db.execute(sql, params).fetchall()
        self._wrote(db)  # some are DELETE or UPDATE … RETURNING
        return make(rows[0]) if rows else None

    def get_all(self, make: Callable[[Any], _T], sql: str, *params: Any) -> list[_T]:
        if self._group is not None and not _is_select(sql):
            self._flush()
        with _TRANSLATED:
            return [make(row) for row in self.connection().execute(sql, params)]

    async def unit_run(self, sql: str, *params: Any) -> int:
        """``run`` as a unit: one statement, which SQLite undoes alone if it fails (so it
        needs no savepoint)."""
        if not self.group_commit:
            return self.run(sql, *params)
        return await self.unit(lambda db: db.execute(sql, params).rowcount, savepoint=False)

    async def unit(self, body: Callable[[sqlite3.Connection], _T], *,
                   savepoint: bool = True) -> _T:
        """``body(db)`` as one atomic write; returns once it is committed. Without group
        commit, its own ``BEGIN IMMEDIATE`` … ``COMMIT``; with it, a ``SAVEPOINT`` in the
        loop iteration's shared transaction, and the shared COMMIT awaited. ``savepoint=False``
        only for a body of one statement."""
        if not self.group_commit:
            with self.tx() as db:
                return body(db)
        loop = asyncio.get_running_loop()
        group = self._group
        with _TRANSLATED:
            db = self.connection()
            if group is not None and group.loop is not loop:
                self._flush()
                group = None
            if group is None:
                db.execute("BEGIN IMMEDIATE")
                group = self._group = _Group(loop)
                loop.call_soon(self._commit, group)
            if savepoint:
                db.execute("SAVEPOINT unit")
            try:
                result = body(db)
                if savepoint:
                    db.execute("RELEASE unit")
            except BaseException as exc:
                if savepoint and db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK TO unit")
                        db.execute("RELEASE unit")
                if not db.in_transaction:  # SQLite rolled the whole group back (I/O, full)
                    self._group = None
                    _settle(group.waiting, _translation(exc) or StoreUnavailable(str(exc)))
                raise
        done: asyncio.Future[None] = loop.create_future()
        group.waiting.append(done)
        if len(group.waiting) >= GROUP_MAX:
            self._commit(group)
        await done
        return result

    def _commit(self, group: _Group) -> None:
        """COMMIT ``group`` (if still open) and settle its units."""
        if self._group is not group:
            return
        self._group = None
        db = self._conn
        assert db is not None
        try:
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            failure = _translation(exc)
            if not isinstance(failure, StoreUnavailable):
                failure = StoreUnavailable(f"SQLite group commit failed: {exc}")
            failure.__cause__ = exc
            _settle(group.waiting, failure)
            if not isinstance(exc, Exception):
                raise
            return
        self._wrote(db)
        _settle(group.waiting, None)

    def _flush(self) -> None:
        """Commit the open group, if any, before a write outside it."""
        if self._group is not None:
            self._commit(self._group)

    def run(self, sql: str, *params: Any, durable: bool = False) -> int:
        """Execute one statement; return the rows it changed. ``durable`` syncs the commit."""
        if self._group is not None:
            self._flush()
        with _TRANSLATED:
            db = self.connection()
            if not durable:
                changed: int = db.execute(sql, params).rowcount
            else:
                db.execute("PRAGMA synchronous=FULL")
                try:
                    changed = db.execute(sql, params).rowcount
                finally:
                    db.execute("PRAGMA synchronous=NORMAL")
        self._wrote(db)
        return changed

    @contextlib.contextmanager
    def tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back if the body raises. ``durable`` syncs
        the commit."""
        if self._group is not None:
            self._flush()
        with _TRANSLATED:
            db = self.connection()
            if durable:
                db.execute("PRAGMA synchronous=FULL")
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                    self._wrote(db)
                except BaseException:
                    if db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
                    raise
            finally:
                if durable:
                    db.execute("PRAGMA synchronous=NORMAL")

    async def migrate(self) -> list[str]:
        with self.tx() as db:  # the write lock makes check-and-apply safe across processes
            return await apply_migrations(_Migrator(db), SQLITE)

    def close(self) -> None:
        self._flush()
        checkpointer, self._checkpointer, self._wrote = self._checkpointer, None, _nothing
        if checkpointer is not None:
            checkpointer.stop()
        conn, self._conn = self._conn, None
        if conn is not None:
            with _TRANSLATED:
                conn.close()
