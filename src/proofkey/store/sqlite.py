"""The embedded SQLite backend: every store Protocol on one stdlib ``sqlite3`` connection.

Each method is ``async def`` but runs its statement(s) inline on the event loop's thread: a
statement costs about 40 µs of CPU (DEPENDENCIES.md §3), handing it to a worker thread costs
more. So a ``SQLiteStore`` belongs to one thread; other threads and processes open their own
store on the same file, and SQLite's single write lock serialises them.

The connection opens lazily on ``migrate()`` or first use, never at import or construction:
autocommit, WAL, ``synchronous=NORMAL`` (safe on a process crash, may lose the last commits on
power loss; client, user and key writes use ``synchronous=FULL``), 5 s busy timeout, foreign
keys. Single use is one statement guarded by "unused and unexpired": ``take_pending`` is
``DELETE … RETURNING``, ``decide_device`` and ``poll_device`` an ``UPDATE … RETURNING``;
``redeem_code``, ``rotate_refresh``, ``rotate_refresh_for_client`` and ``consume_device`` run
``BEGIN IMMEDIATE``, the ``UPDATE … RETURNING`` and, only if a row came back, their inserts
(grant and refresh token; successor), then ``COMMIT``: the winner writes everything or
nothing, a loser nothing. Failures that make the database unusable (locked past the timeout,
I/O, cannot open, not a database) become ``StoreUnavailable``; SQL and programming errors
surface unchanged. Needs SQLite >= 3.37.
It runs past 400 lines because one class serves all nine roles (~45 short methods); row
conversion and column lists live in ``_rows.py``, shared with the PostgreSQL backend.

Checkpoints run off the event loop. SQLite's automatic checkpoint (every 1,000 WAL pages, about
70 codes issued and redeemed) runs inside whichever COMMIT crosses the threshold, copying pages
back and syncing twice: 5-25 ms stalls, 1 % of redemptions, most of the p99. So a file store
turns it off on its connection (``wal_autocheckpoint=0``) and, while the connection is open,
keeps a thread with its own connection (``_Checkpointer``) that checkpoints soon after writes
and sleeps when there are none. Every process on the file runs one; SQLite lets one at a time
checkpoint and the others skip that round.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from proofkey.models import (
    AuthorizationCode,
    Client,
    DeviceAuthorization,
    Grant,
    PendingAuthorization,
    RefreshToken,
    Session,
    SigningKey,
    User,
)
from proofkey.store._rows import (
    CODE_REPLAY_WINDOW,
    PURGED,
    Codec,
    check_family,
    expand,
    inserts,
)
from proofkey.store.base import AlreadyExists, StoreUnavailable

__all__ = ["CODE_REPLAY_WINDOW", "SQLiteStore", "open_sqlite"]

_T = TypeVar("_T")
_log = logging.getLogger("proofkey.store")
_UNAVAILABLE = frozenset({
    sqlite3.SQLITE_PERM, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
})  # fmt: skip
_DUPLICATE = frozenset({sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE})

_INSERT = inserts(lambda count: ", ".join("?" * count))
# Up to ``batch`` rows per table and call.
_PURGES = tuple(
    (f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"  # noqa: S608 - constants
     " WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)", grace) for table, grace in PURGED
)  # fmt: skip
# The single-use UPDATEs whose winner writes more in the same transaction.
_REDEEM = expand(
    "UPDATE auth_codes SET redeemed_at = ?1, grant_id = ?2 WHERE code_digest = ?3"
    " AND redeemed_at IS NULL AND expires_at > ?1 RETURNING {code}"
)
_ROTATE = expand(
    "UPDATE refresh_tokens SET rotated_at = ?1, replaced_by = ?2 WHERE token_digest = ?3"
    " AND grant_id = ?4 AND rotated_at IS NULL AND expires_at > ?1"
    " AND EXISTS (SELECT 1 FROM grants AS g WHERE g.grant_id = refresh_tokens.grant_id"
    " AND g.revoked_at IS NULL AND g.expires_at > ?1) RETURNING {refresh}"
)
# The common refresh: the same conditions, plus "issued to this client", in place of "of this
# grant"; the grant id comes back for the successor.
_ROTATE_FOR_CLIENT = (
    "UPDATE refresh_tokens SET rotated_at = ?1, replaced_by = ?2 WHERE token_digest = ?3"
    " AND client_id = ?4 AND rotated_at IS NULL AND expires_at > ?1"
    " AND EXISTS (SELECT 1 FROM grants AS g WHERE g.grant_id = refresh_tokens.grant_id"
    " AND g.revoked_at IS NULL AND g.expires_at > ?1) RETURNING grant_id"
)
_GRANT = expand("SELECT {grant} FROM grants WHERE grant_id = ?")
_CONSUME_DEVICE = expand(
    "UPDATE device_authorizations SET consumed_at = ?1, grant_id = ?2 WHERE device_digest = ?3"
    " AND status = 'approved' AND consumed_at IS NULL AND expires_at > ?1 RETURNING {device}"
)


# -- row <-> model: scope lists are space-separated words (in order), sets are sorted words,
# redirect URIs a JSON array (order matters).


def _set(values: frozenset[str]) -> str:
    return " ".join(sorted(values))


def _unset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CODEC = Codec(
    encode={"scope": " ".join, "scopes": _set, "grant_types": _set, "prompt": _set,
            "redirect_uris": lambda uris: json.dumps(list(uris))},
    decode={"scope": lambda text: tuple(text.split()), "scopes": _unset, "grant_types": _unset,
            "prompt": _unset, "redirect_uris": lambda text: tuple(json.loads(text)),
            "require_pushed_authorization_requests": bool, "resource_server": bool},
)  # fmt: skip
_row, _read = _CODEC.row, _CODEC.reader
_client, _user, _pending = _read(Client), _read(User), _read(PendingAuthorization)
_session, _code, _grant = _read(Session), _read(AuthorizationCode), _read(Grant)
_refresh, _key, _device = _read(RefreshToken), _read(SigningKey), _read(DeviceAuthorization)


def _polled(row: Any) -> tuple[DeviceAuthorization, int | None]:
    """A ``RETURNING {device}, previous_poll_at`` row."""
    return _device(row[:-1]), row[-1]


# -- plumbing ----------------------------------------------------------------------------------


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


CHECKPOINT_DELAY = 0.1
"""Seconds of writes gathered into one background checkpoint (about 2,500 WAL pages, 10 MiB,
at a thousand token exchanges a second)."""
CATCH_UP_PASSES = 8
"""PASSIVE passes per checkpoint at most, each copying what came in during the one before."""
WAL_RESTART_PAGES = 16_384
"""A WAL longer than this (64 MiB of 4 KiB pages) is caught up by the store's own connection."""


class _Checkpointer:
    """Checkpoints one database file's WAL from a thread with its own connection.

    The thread sleeps on an Event until the store reports a commit (``wrote``: an attribute
    check once the Event is set), gathers writes for CHECKPOINT_DELAY, and runs PASSIVE
    checkpoints, which never block readers or writers: the page copying and syncs happen here,
    outside the GIL (sqlite3 releases it while SQLite works), and no COMMIT waits for them.

    A writer starts the WAL over from its beginning, reusing the file, only when it finds every
    page copied back. Commits go on during a pass, so a pass is followed by short ones that
    copy what came in meanwhile, until one finds nothing new (a few pages and two syncs, which
    mostly fit between two commits). Under writes that leave no such gap (a saturated core)
    the WAL would grow without bound, so past WAL_RESTART_PAGES the thread asks the store's
    connection (``catch_up``) to copy back, after its next commit, what came in since the
    thread's last pass; the commit after that starts the WAL over. That pass runs on the event
    loop (a few ms on a saturated core), but once per 64 MiB written, where the automatic
    checkpoint ran one every 4 MiB. A RESTART checkpoint from the thread would instead hold the
    write lock through its syncs, while a COMMIT waiting for a lock sleeps in steps of 1, 2, 5,
    10 ms: 20-30 ms stalls, measured. The file keeps the largest size it reached (about
    WAL_RESTART_PAGES pages; truncating 64 MiB took 65-90 ms); the last connection to close
    removes it.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._due = threading.Event()
        self._stopping = threading.Event()
        self.catch_up = False  # set by the thread, cleared by the store's connection
        self._thread = threading.Thread(target=self._run, name="proofkey-wal-checkpoint",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def wrote(self, db: sqlite3.Connection) -> None:
        """A write was committed on the store's connection ``db``: checkpoint soon."""
        if self.catch_up:
            self.catch_up = False
            with contextlib.suppress(sqlite3.Error):  # the thread asks again if it must
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if not self._due.is_set():
            self._due.set()

    def stop(self) -> None:
        """End the thread (after the checkpoint it may be running) and close its connection."""
        self._stopping.set()
        self._due.set()
        self._thread.join()

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        failing = False
        try:
            while not self._stopping.is_set():  # checked here too: a pass may clear ``_due``
                self._due.wait()  # after stop() set it
                if self._stopping.wait(CHECKPOINT_DELAY):
                    break
                self._due.clear()
                try:
                    # PASSIVE never waits for a lock; the timeout is for reading the schema.
                    db = db or sqlite3.connect(self._path, timeout=1.0, isolation_level=None)
                    self._checkpoint(db)
                    failing = False
                except (sqlite3.Error, OSError) as exc:  # retried after the next write
                    if not failing:
                        _log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
                    failing = True
                    if db is not None:
                        db.close()
                        db = None
        finally:
            if db is not None:
                db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        seen = -1
        for _ in range(CATCH_UP_PASSES):
            [(busy, wal_pages, copied)] = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if busy:  # another connection (process) is checkpointing
                return
            if copied == wal_pages == seen:  # all copied, nothing came in: the next commit
                return  # starts the WAL over
            if wal_pages > WAL_RESTART_PAGES:  # the passes have not kept up: the store's
                self.catch_up = True  # connection finishes after its next commit
                return
            seen = wal_pages


def _migrations() -> list[tuple[str, Traversable]]:
    folder = resources.files("proofkey.store") / "migrations" / "sqlite"
    found = [(t.name.removesuffix(".sql"), t) for t in folder.iterdir() if t.name.endswith(".sql")]
    return sorted(found, key=lambda item: item[0])


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


class SQLiteStore:
    """Every store role on one SQLite database file (or ``":memory:"``)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = str(path)
        self._timeout = busy_timeout_ms / 1000
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: _Checkpointer | None = None
        self._wrote: Callable[[sqlite3.Connection], None] = _nothing  # for the checkpointer

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _db(self) -> sqlite3.Connection:
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
                    conn.execute("PRAGMA wal_autocheckpoint=0")  # _Checkpointer's thread does
                    self._checkpointer = _Checkpointer(self.path)
                    self._wrote = self._checkpointer.wrote
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _get(self, make: Callable[[Any], _T], template: str, *params: Any) -> _T | None:
        with _TRANSLATED:
            db = self._db()
            rows = db.execute(expand(template), params).fetchall()
        self._wrote(db)  # some are DELETE or UPDATE … RETURNING
        return make(rows[0]) if rows else None

    def _list(self, make: Callable[[Any], _T], template: str) -> list[_T]:
        with _TRANSLATED:
            return [make(row) for row in self._db().execute(expand(template))]

    def _run(self, sql: str, *params: Any, durable: bool = False) -> int:
        """Execute one statement; return the rows it changed. ``durable`` syncs the commit."""
        with _TRANSLATED:
            db = self._db()
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
    def _tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back if the body raises. ``durable`` syncs
        the commit."""
        with _TRANSLATED:
            db = self._db()
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

    # -- lifecycle and housekeeping ------------------------------------------------------------

    async def migrate(self) -> list[str]:
        applied: list[str] = []
        with self._tx() as db:  # the write lock makes check-and-apply safe across processes
            ledger = "SELECT 1 FROM sqlite_schema WHERE name = 'schema_migrations'"
            done = set()
            if db.execute(ledger).fetchall():
                done = {v for (v,) in db.execute("SELECT version FROM schema_migrations")}
            for version, script in _migrations():
                if version not in done:
                    for statement in _statements(script.read_text(encoding="utf-8")):
                        db.execute(statement)
                    db.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                               (version, int(time.time())))  # fmt: skip
                    applied.append(version)
        return applied

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        return sum(self._run(sql, now - grace, batch) for sql, grace in _PURGES)

    async def ping(self) -> None:
        self._get(bool, "SELECT 1")

    async def close(self) -> None:
        checkpointer, self._checkpointer, self._wrote = self._checkpointer, None, _nothing
        if checkpointer is not None:
            checkpointer.stop()
        conn, self._conn = self._conn, None
        if conn is not None:
            with _TRANSLATED:
                conn.close()

    # -- clients and users ---------------------------------------------------------------------

    async def get_client(self, client_id: str) -> Client | None:
        return self._get(_client, "SELECT {client} FROM clients WHERE client_id = ?", client_id)

    async def add_client(self, client: Client) -> None:
        self._run(_INSERT["client"], *_row(client), durable=True)

    async def list_clients(self) -> list[Client]:
        return self._list(_client, "SELECT {client} FROM clients ORDER BY client_id")

    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        with self._tx(durable=True) as db:
            if not db.execute("DELETE FROM clients WHERE client_id = ?", (client_id,)).rowcount:
                return False
            db.execute("UPDATE grants SET revoked_at = ? WHERE client_id = ?"
                       " AND revoked_at IS NULL", (revoked_at, client_id))  # fmt: skip
            db.execute("DELETE FROM consents WHERE client_id = ?", (client_id,))
        return True

    async def get_user(self, user_id: str) -> User | None:
        return self._get(_user, "SELECT {user} FROM users WHERE user_id = ?", user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return self._get(_user, "SELECT {user} FROM users WHERE username = ?", username)

    async def add_user(self, user: User) -> None:
        self._run(_INSERT["user"], *_row(user), durable=True)

    async def list_users(self) -> list[User]:
        return self._list(_user, "SELECT {user} FROM users ORDER BY username")

    async def remove_user(self, username: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        with self._tx(durable=True) as db:
            gone = db.execute("DELETE FROM users WHERE username = ? RETURNING user_id",
                              (username,)).fetchall()  # fmt: skip
            for (user_id,) in gone:
                db.execute("UPDATE grants SET revoked_at = ? WHERE user_id = ?"
                           " AND revoked_at IS NULL", (revoked_at, user_id))  # fmt: skip
                db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
                db.execute("DELETE FROM consents WHERE user_id = ?", (user_id,))
        return bool(gone)

    async def set_password(self, username: str, password_hash: str) -> bool:
        sql = "UPDATE users SET password_hash = ? WHERE username = ?"
        return self._run(sql, password_hash, username, durable=True) > 0

    # -- interactions, sessions, consent -------------------------------------------------------

    async def save_pending(self, pending: PendingAuthorization) -> None:
        self._run(_INSERT["pending"], *_row(pending))

    async def get_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        sql = ("SELECT {pending} FROM pending_authorizations"
               " WHERE handle_digest = ? AND expires_at > ?")  # fmt: skip
        return self._get(_pending, sql, handle_digest, now)

    async def set_pending_user(self, handle_digest: str, user_id: str, auth_time: int) -> None:
        sql = "UPDATE pending_authorizations SET user_id = ?, auth_time = ? WHERE handle_digest = ?"
        self._run(sql, user_id, auth_time, handle_digest)

    async def take_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        sql = ("DELETE FROM pending_authorizations WHERE handle_digest = ? AND expires_at > ?"
               " RETURNING {pending}")  # fmt: skip
        return self._get(_pending, sql, handle_digest, now)

    async def save_pushed(self, request_digest: str, client_id: str,
                          params: Mapping[str, str], expires_at: int) -> None:
        self._run("INSERT INTO pushed_requests VALUES (?, ?, ?, ?)", request_digest, client_id,
                  json.dumps(dict(params)), expires_at)

    async def take_pushed(
        self, request_digest: str, now: int
    ) -> tuple[str, dict[str, str]] | None:
        sql = ("DELETE FROM pushed_requests WHERE request_digest = ? AND expires_at > ?"
               " RETURNING client_id, params")  # fmt: skip
        return self._get(lambda row: (row[0], json.loads(row[1])), sql, request_digest, now)

    async def save_session(self, session: Session) -> None:
        self._run(_INSERT["session"], *_row(session))

    async def get_session(self, session_digest: str, now: int) -> Session | None:
        sql = "SELECT {session} FROM sessions WHERE session_digest = ? AND expires_at > ?"
        return self._get(_session, sql, session_digest, now)

    async def delete_session(self, session_digest: str) -> None:
        self._run("DELETE FROM sessions WHERE session_digest = ?", session_digest)

    async def get_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        sql = "SELECT scope FROM consents WHERE user_id = ? AND client_id = ?"
        scope = self._get(lambda row: str(row[0]), sql, user_id, client_id)
        return frozenset(scope.split() if scope else ())

    async def save_consent(
        self, user_id: str, client_id: str, scope: Iterable[str], now: int
    ) -> None:
        with self._tx() as db:  # read, union, write under the write lock
            old = db.execute("SELECT scope FROM consents WHERE user_id = ? AND client_id = ?",
                             (user_id, client_id)).fetchall()  # fmt: skip
            merged = frozenset(scope).union(old[0][0].split() if old else ())
            db.execute(
                "INSERT INTO consents VALUES (?, ?, ?, ?) ON CONFLICT (user_id, client_id)"
                " DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
                (user_id, client_id, _set(merged), now),
            )

    # -- codes, grants, refresh and access tokens ----------------------------------------------

    async def save_code(self, code: AuthorizationCode) -> None:
        self._run(_INSERT["code"], *_row(code))

    async def redeem_code(
        self,
        code_digest: str,
        now: int,
        grant_id: str,
        grant_expires_at: int,
        refresh: RefreshToken | None,
    ) -> AuthorizationCode | None:
        check_family(grant_id, refresh)
        with self._tx() as db:  # the write lock is taken first: the UPDATE cannot be beaten
            rows = db.execute(_REDEEM, (now, grant_id, code_digest)).fetchall()
            if not rows:
                return None
            code = _code(rows[0])
            grant = Grant(grant_id, code.client_id, code.user_id, code.scope, code.auth_time,
                          now, grant_expires_at)  # fmt: skip
            db.execute(_INSERT["grant"], _row(grant))
            if refresh is not None:
                db.execute(_INSERT["refresh"], _row(refresh))
        return code

    async def find_code(self, code_digest: str) -> AuthorizationCode | None:
        return self._get(_code, "SELECT {code} FROM auth_codes WHERE code_digest = ?", code_digest)

    async def save_grant(self, grant: Grant, refresh: RefreshToken | None) -> None:
        if refresh is None:
            self._run(_INSERT["grant"], *_row(grant))
            return
        with self._tx() as db:
            db.execute(_INSERT["grant"], _row(grant))
            db.execute(_INSERT["refresh"], _row(refresh))

    async def get_grant(self, grant_id: str) -> Grant | None:
        return self._get(_grant, "SELECT {grant} FROM grants WHERE grant_id = ?", grant_id)

    async def revoke_grant(self, grant_id: str, now: int) -> bool:
        sql = "UPDATE grants SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL"
        return self._run(sql, now, grant_id) > 0

    async def rotate_refresh(
        self, token_digest: str, now: int, successor: RefreshToken
    ) -> RefreshToken | None:
        params = (now, successor.token_digest, token_digest, successor.grant_id)
        with self._tx() as db:
            retired = db.execute(_ROTATE, params).fetchall()
            if retired:
                db.execute(_INSERT["refresh"], _row(successor))
        return _refresh(retired[0]) if retired else None

    async def rotate_refresh_for_client(
        self, token_digest: str, client_id: str, now: int, successor_digest: str,
        successor_expires_at: int,
    ) -> Grant | None:
        with self._tx() as db:
            retired = db.execute(_ROTATE_FOR_CLIENT,
                                 (now, successor_digest, token_digest, client_id)).fetchall()
            if not retired:
                return None
            grant_id = retired[0][0]
            db.execute(_INSERT["refresh"], _row(RefreshToken(
                successor_digest, grant_id, client_id, now, successor_expires_at, token_digest)))
            grant = db.execute(_GRANT, (grant_id,)).fetchall()
        return _grant(grant[0])

    async def find_refresh(self, token_digest: str) -> RefreshToken | None:
        sql = "SELECT {refresh} FROM refresh_tokens WHERE token_digest = ?"
        return self._get(_refresh, sql, token_digest)

    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        self._run("INSERT INTO revoked_access_tokens VALUES (?1, ?2) ON CONFLICT (jti)"
                  " DO UPDATE SET expires_at = max(expires_at, ?2)", jti, expires_at)  # fmt: skip

    async def is_access_token_revoked(self, jti: str) -> bool:
        return bool(self._get(bool, "SELECT 1 FROM revoked_access_tokens WHERE jti = ?", jti))

    # -- device authorizations -----------------------------------------------------------------

    async def save_device(self, device: DeviceAuthorization) -> None:
        self._run(_INSERT["device"], *_row(device))

    async def get_device_by_user_code(self, user_code: str, now: int) -> DeviceAuthorization | None:
        sql = "SELECT {device} FROM device_authorizations WHERE user_code = ? AND expires_at > ?"
        return self._get(_device, sql, user_code, now)

    async def decide_device(
        self, user_code: str, now: int, *, approve: bool, user_id: str, auth_time: int
    ) -> bool:
        sql = ("UPDATE device_authorizations SET status = ?, user_id = ?, auth_time = ?"
               " WHERE user_code = ? AND status = 'pending' AND expires_at > ?")  # fmt: skip
        decision = ("approved", user_id, auth_time) if approve else ("denied", None, None)
        return self._run(sql, *decision, user_code, now) > 0

    async def poll_device(
        self, device_digest: str, now: int
    ) -> tuple[DeviceAuthorization, int | None] | None:
        # The right-hand sides of SET see the row as it was: the old last_polled_at is kept.
        sql = ("UPDATE device_authorizations SET previous_poll_at = last_polled_at,"
               " last_polled_at = ? WHERE device_digest = ?"
               " RETURNING {device}, previous_poll_at")  # fmt: skip
        return self._get(_polled, sql, now, device_digest)

    async def consume_device(
        self, device_digest: str, now: int, grant: Grant, refresh: RefreshToken | None
    ) -> DeviceAuthorization | None:
        check_family(grant.grant_id, refresh)
        with self._tx() as db:
            rows = db.execute(_CONSUME_DEVICE, (now, grant.grant_id, device_digest)).fetchall()
            if not rows:
                return None
            db.execute(_INSERT["grant"], _row(grant))
            if refresh is not None:
                db.execute(_INSERT["refresh"], _row(refresh))
        return _device(rows[0])

    # -- signing keys --------------------------------------------------------------------------

    async def list_keys(self) -> list[SigningKey]:
        return self._list(_key, "SELECT {key} FROM signing_keys ORDER BY created_at")

    async def add_key(self, key: SigningKey) -> None:
        self._run(_INSERT["key"], *_row(key), durable=True)

    async def retire_key(self, kid: str, now: int) -> bool:
        sql = "UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL"
        return self._run(sql, now, kid, durable=True) > 0

    async def delete_key(self, kid: str) -> bool:
        return self._run("DELETE FROM signing_keys WHERE kid = ?", kid, durable=True) > 0


def open_sqlite(url: str) -> SQLiteStore:
    """The store for ``sqlite:///abs/path.db`` (``sqlite:///:memory:`` for a throw-away one)."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.scheme != "sqlite" or parts.netloc or parts.query or parts.fragment or len(path) < 2:
        raise ValueError(f"expected sqlite:///absolute/path.db, got {url!r}")
    return SQLiteStore(":memory:" if path == "/:memory:" else path)
