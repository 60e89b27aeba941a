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

The statements are ``sql.py``'s, rendered for sqlite3 once at import; rows convert through
``_rows.py``; migrations run through ``schema.py``. Checkpoints run off the event loop, in
``checkpoint.Checkpointer``'s thread; a file store turns SQLite's automatic checkpoint off on
its connection (``wal_autocheckpoint=0``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from proofkey.store._rows import CODE_REPLAY_WINDOW, Codec, check_family
from proofkey.store.base import AlreadyExists, StoreUnavailable
from proofkey.store.checkpoint import Checkpointer
from proofkey.store.schema import apply_migrations
from proofkey.store.sql import SQLITE, Statements

__all__ = ["CODE_REPLAY_WINDOW", "SQLiteStore", "open_sqlite"]

_T = TypeVar("_T")
_log = logging.getLogger("proofkey.store")
_UNAVAILABLE = frozenset({
    sqlite3.SQLITE_PERM, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
})  # fmt: skip
_DUPLICATE = frozenset({sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE})

_SQL = SQLITE.render(Statements())
_CLIENTS, _USERS, _PENDING, _PUSHED = _SQL.clients, _SQL.users, _SQL.interactions, _SQL.pushed
_SESSIONS, _CONSENTS, _CODES, _GRANTS = _SQL.sessions, _SQL.consents, _SQL.codes, _SQL.grants
_DEVICES, _KEYS = _SQL.devices, _SQL.keys
_PURGES = SQLITE.purges()  # up to ``batch`` rows per table and call


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
            "require_pushed_authorization_requests": bool},
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


class SQLiteStore:
    """Every store role on one SQLite database file (or ``":memory:"``)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = str(path)
        self._timeout = busy_timeout_ms / 1000
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None
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
                    conn.execute("PRAGMA wal_autocheckpoint=0")  # Checkpointer's thread does
                    self._checkpointer = Checkpointer(self.path)
                    self._wrote = self._checkpointer.wrote
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _get(self, make: Callable[[Any], _T], sql: str, *params: Any) -> _T | None:
        with _TRANSLATED:
            db = self._db()
            rows = db.execute(sql, params).fetchall()
        self._wrote(db)  # some are DELETE or UPDATE … RETURNING
        return make(rows[0]) if rows else None

    def _list(self, make: Callable[[Any], _T], sql: str) -> list[_T]:
        with _TRANSLATED:
            return [make(row) for row in self._db().execute(sql)]

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
        with self._tx() as db:  # the write lock makes check-and-apply safe across processes
            return await apply_migrations(_Migrator(db), SQLITE)

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        return sum(self._run(sql, now - grace, batch) for sql, grace in _PURGES)

    async def ping(self) -> None:
        self._get(bool, _SQL.ledger.ping)

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
        return self._get(_client, _CLIENTS.get, client_id)

    async def add_client(self, client: Client) -> None:
        self._run(_CLIENTS.add, *_row(client), durable=True)

    async def list_clients(self) -> list[Client]:
        return self._list(_client, _CLIENTS.every)

    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        with self._tx(durable=True) as db:
            if not db.execute(_CLIENTS.delete, (client_id,)).rowcount:
                return False
            db.execute(_CLIENTS.revoke_grants, (client_id, revoked_at))
            db.execute(_CLIENTS.forget_consents, (client_id,))
        return True

    async def get_user(self, user_id: str) -> User | None:
        return self._get(_user, _USERS.get, user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return self._get(_user, _USERS.by_username, username)

    async def add_user(self, user: User) -> None:
        self._run(_USERS.add, *_row(user), durable=True)

    async def list_users(self) -> list[User]:
        return self._list(_user, _USERS.every)

    async def remove_user(self, username: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        with self._tx(durable=True) as db:
            gone = db.execute(_USERS.delete, (username,)).fetchall()
            for (user_id,) in gone:
                db.execute(_USERS.revoke_grants, (user_id, revoked_at))
                db.execute(_USERS.end_sessions, (user_id,))
                db.execute(_USERS.forget_consents, (user_id,))
        return bool(gone)

    async def set_password(self, username: str, password_hash: str) -> bool:
        return self._run(_USERS.set_password, username, password_hash, durable=True) > 0

    # -- interactions, pushed requests, sessions, consent --------------------------------------

    async def save_pending(self, pending: PendingAuthorization) -> None:
        self._run(_PENDING.save, *_row(pending))

    async def get_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        return self._get(_pending, _PENDING.get, handle_digest, now)

    async def set_pending_user(self, handle_digest: str, user_id: str, auth_time: int) -> None:
        self._run(_PENDING.set_user, handle_digest, user_id, auth_time)

    async def take_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        return self._get(_pending, _PENDING.take, handle_digest, now)

    async def save_pushed(self, request_digest: str, client_id: str,
                          params: Mapping[str, str], expires_at: int) -> None:
        self._run(_PUSHED.save, request_digest, client_id, json.dumps(dict(params)), expires_at)

    async def take_pushed(
        self, request_digest: str, now: int
    ) -> tuple[str, dict[str, str]] | None:
        return self._get(lambda row: (row[0], json.loads(row[1])), _PUSHED.take,
                         request_digest, now)  # fmt: skip

    async def save_session(self, session: Session) -> None:
        self._run(_SESSIONS.save, *_row(session))

    async def get_session(self, session_digest: str, now: int) -> Session | None:
        return self._get(_session, _SESSIONS.get, session_digest, now)

    async def delete_session(self, session_digest: str) -> None:
        self._run(_SESSIONS.delete, session_digest)

    async def get_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        scope = self._get(lambda row: str(row[0]), _CONSENTS.get, user_id, client_id)
        return frozenset(scope.split() if scope else ())

    async def save_consent(
        self, user_id: str, client_id: str, scope: Iterable[str], now: int
    ) -> None:
        with self._tx() as db:  # read, union, write under the write lock
            old = db.execute(_CONSENTS.get, (user_id, client_id)).fetchall()
            merged = frozenset(scope).union(old[0][0].split() if old else ())
            db.execute(_CONSENTS.merge, (user_id, client_id, _set(merged), now))

    # -- codes, grants, refresh and access tokens ----------------------------------------------

    async def save_code(self, code: AuthorizationCode) -> None:
        self._run(_CODES.save, *_row(code))

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
            rows = db.execute(_CODES.redeem, (now, grant_id, code_digest)).fetchall()
            if not rows:
                return None
            code = _code(rows[0])
            grant = Grant(grant_id, code.client_id, code.user_id, code.scope, code.auth_time,
                          now, grant_expires_at)  # fmt: skip
            db.execute(_GRANTS.save, _row(grant))
            if refresh is not None:
                db.execute(_GRANTS.save_refresh, _row(refresh))
        return code

    async def find_code(self, code_digest: str) -> AuthorizationCode | None:
        return self._get(_code, _CODES.find, code_digest)

    async def save_grant(self, grant: Grant, refresh: RefreshToken | None) -> None:
        if refresh is None:
            self._run(_GRANTS.save, *_row(grant))
            return
        with self._tx() as db:
            db.execute(_GRANTS.save, _row(grant))
            db.execute(_GRANTS.save_refresh, _row(refresh))

    async def get_grant(self, grant_id: str) -> Grant | None:
        return self._get(_grant, _GRANTS.get, grant_id)

    async def revoke_grant(self, grant_id: str, now: int) -> bool:
        return self._run(_GRANTS.revoke, grant_id, now) > 0

    async def rotate_refresh(
        self, token_digest: str, now: int, successor: RefreshToken
    ) -> RefreshToken | None:
        params = (now, successor.token_digest, token_digest, successor.grant_id)
        with self._tx() as db:
            retired = db.execute(_GRANTS.rotate, params).fetchall()
            if retired:
                db.execute(_GRANTS.save_refresh, _row(successor))
        return _refresh(retired[0]) if retired else None

    async def rotate_refresh_for_client(
        self, token_digest: str, client_id: str, now: int, successor_digest: str,
        successor_expires_at: int,
    ) -> Grant | None:
        params = (now, successor_digest, token_digest, client_id)
        with self._tx() as db:
            retired = db.execute(_GRANTS.rotate_for_client, params).fetchall()
            if not retired:
                return None
            grant_id = retired[0][0]
            db.execute(_GRANTS.save_refresh, _row(RefreshToken(
                successor_digest, grant_id, client_id, now, successor_expires_at, token_digest)))
            grant = db.execute(_GRANTS.get, (grant_id,)).fetchall()
        return _grant(grant[0])

    async def find_refresh(self, token_digest: str) -> RefreshToken | None:
        return self._get(_refresh, _GRANTS.find_refresh, token_digest)

    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        self._run(_GRANTS.revoke_access, jti, expires_at)

    async def is_access_token_revoked(self, jti: str) -> bool:
        return bool(self._get(bool, _GRANTS.is_access_revoked, jti))

    # -- device authorizations -----------------------------------------------------------------

    async def save_device(self, device: DeviceAuthorization) -> None:
        self._run(_DEVICES.save, *_row(device))

    async def get_device_by_user_code(
        self, user_code_digest: str, now: int
    ) -> DeviceAuthorization | None:
        return self._get(_device, _DEVICES.by_user_code, user_code_digest, now)

    async def decide_device(
        self, user_code_digest: str, now: int, *, approve: bool, user_id: str, auth_time: int
    ) -> bool:
        decision = ("approved", user_id, auth_time) if approve else ("denied", None, None)
        return self._run(_DEVICES.decide, user_code_digest, now, *decision) > 0

    async def poll_device(
        self, device_digest: str, now: int
    ) -> tuple[DeviceAuthorization, int | None] | None:
        return self._get(_polled, _DEVICES.poll, device_digest, now)

    async def consume_device(
        self, device_digest: str, now: int, grant: Grant, refresh: RefreshToken | None
    ) -> DeviceAuthorization | None:
        check_family(grant.grant_id, refresh)
        with self._tx() as db:
            rows = db.execute(_DEVICES.consume, (now, grant.grant_id, device_digest)).fetchall()
            if not rows:
                return None
            db.execute(_GRANTS.save, _row(grant))
            if refresh is not None:
                db.execute(_GRANTS.save_refresh, _row(refresh))
        return _device(rows[0])

    # -- signing keys --------------------------------------------------------------------------

    async def list_keys(self) -> list[SigningKey]:
        return self._list(_key, _KEYS.every)

    async def add_key(self, key: SigningKey) -> None:
        self._run(_KEYS.add, *_row(key), durable=True)

    async def retire_key(self, kid: str, now: int) -> bool:
        return self._run(_KEYS.retire, kid, now, durable=True) > 0

    async def delete_key(self, kid: str) -> bool:
        return self._run(_KEYS.delete, kid, durable=True) > 0


def open_sqlite(url: str) -> SQLiteStore:
    """The store for ``sqlite:///abs/path.db`` (``sqlite:///:memory:`` for a throw-away one)."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.scheme != "sqlite" or parts.netloc or parts.query or parts.fragment or len(path) < 2:
        raise ValueError(f"expected sqlite:///absolute/path.db, got {url!r}")
    return SQLiteStore(":memory:" if path == "/:memory:" else path)
