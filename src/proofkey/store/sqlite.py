"""The embedded SQLite backend: every store Protocol on one stdlib ``sqlite3`` connection.

Each method is ``async def`` but runs its statement(s) inline on the event loop's thread: a
statement costs about 40 µs of CPU (DEPENDENCIES.md §3), handing it to a worker thread costs
more. So a ``SQLiteStore`` belongs to one thread; other threads and processes open their own
store on the same file, and SQLite's single write lock serialises them.

The connection opens lazily on ``migrate()`` or first use, never at import or construction:
autocommit, WAL, ``synchronous=NORMAL`` (safe on a process crash, may lose the last commits on
power loss; client, user and key writes use ``synchronous=FULL``), 5 s busy timeout, foreign
keys. Single use is one statement: ``consume_code``/``take_pending`` are ``UPDATE``/``DELETE
… RETURNING`` guarded by "unused and unexpired"; ``rotate_refresh`` retires the old token the
same way and inserts the successor in that transaction only if a row came back. Failures that
make the database unusable (locked past the timeout, I/O, cannot open, not a database) become
``StoreUnavailable``; SQL and programming errors surface unchanged. Needs SQLite >= 3.37.
It runs past 400 lines because one class serves all eight roles (~40 one-statement methods).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from proofkey.models import (
    AuthorizationCode,
    Client,
    Grant,
    PendingAuthorization,
    RefreshToken,
    Session,
    SigningKey,
    User,
)
from proofkey.store.base import AlreadyExists, StoreUnavailable

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["CODE_REPLAY_WINDOW", "SQLiteStore", "open_sqlite"]

CODE_REPLAY_WINDOW = 600
"""Seconds a code outlives its expiry before purging, so that a late replay is still seen."""

_T = TypeVar("_T")
_M = TypeVar("_M", bound="DataclassInstance")
_UNAVAILABLE = frozenset({
    sqlite3.SQLITE_PERM, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
})  # fmt: skip
_DUPLICATE = frozenset({sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE})

# Columns are named and ordered like the model's fields, so the SQL takes its lists from them.
_TABLES: dict[str, tuple[str, type[Any]]] = {
    "client": ("clients", Client), "user": ("users", User),
    "pending": ("pending_authorizations", PendingAuthorization), "session": ("sessions", Session),
    "code": ("auth_codes", AuthorizationCode), "grant": ("grants", Grant),
    "refresh": ("refresh_tokens", RefreshToken), "key": ("signing_keys", SigningKey),
}  # fmt: skip
_COLUMNS = {name: ", ".join(f.name for f in fields(m)) for name, (_, m) in _TABLES.items()}
_MARKS = {name: ", ".join("?" * len(fields(m))) for name, (_, m) in _TABLES.items()}
_INSERT = {
    name: f"INSERT INTO {table} ({_COLUMNS[name]}) VALUES ({_MARKS[name]})"  # noqa: S608
    for name, (table, _) in _TABLES.items()
}

# Up to ``batch`` rows per table and call. Codes stay CODE_REPLAY_WINDOW past expiry; deleting
# a grant deletes its refresh tokens (ON DELETE CASCADE).
_PURGES = tuple(
    (f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"  # noqa: S608 - constants
     " WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)", grace)
    for table, grace in [("pending_authorizations", 0), ("sessions", 0),
                         ("auth_codes", CODE_REPLAY_WINDOW), ("refresh_tokens", 0), ("grants", 0),
                         ("revoked_access_tokens", 0)]
)  # fmt: skip


@functools.cache
def _sql(template: str) -> str:
    """Expand ``{code}``-style column lists (from the model's fields; never input)."""
    return template.format_map(_COLUMNS)


# -- row <-> model: a column holds its field; scope lists are space-separated words (in order),
# sets are sorted words, redirect URIs a JSON array (order matters).


def _set(values: frozenset[str]) -> str:
    return " ".join(sorted(values))


def _unset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ENCODE: dict[str, Callable[[Any], Any]] = {
    "scope": " ".join, "scopes": _set, "grant_types": _set, "prompt": _set,
    "redirect_uris": lambda uris: json.dumps(list(uris)),
}  # fmt: skip
_DECODE: dict[str, Callable[[Any], Any]] = {
    "scope": lambda text: tuple(text.split()), "scopes": _unset, "grant_types": _unset,
    "prompt": _unset, "redirect_uris": lambda text: tuple(json.loads(text)),
}  # fmt: skip
_FIELDS = {model: tuple(f.name for f in fields(model)) for _, model in _TABLES.values()}


def _row(record: DataclassInstance) -> tuple[Any, ...]:
    """The record's column values, in field order, encoded as stored."""
    return tuple(
        _ENCODE[name](getattr(record, name)) if name in _ENCODE else getattr(record, name)
        for name in _FIELDS[type(record)]
    )


def _reader(model: type[_M]) -> Callable[[Any], _M]:
    """Turn a row (columns in field order) back into ``model``."""
    decoders = [_DECODE.get(name) for name in _FIELDS[model]]
    return lambda row: model(*(d(v) if d else v for d, v in zip(decoders, row, strict=True)))


_client, _user, _pending = _reader(Client), _reader(User), _reader(PendingAuthorization)
_session, _code, _grant = _reader(Session), _reader(AuthorizationCode), _reader(Grant)
_refresh, _key = _reader(RefreshToken), _reader(SigningKey)


# -- plumbing ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Duplicate keys become AlreadyExists; an unusable database becomes StoreUnavailable."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if getattr(exc, "sqlite_errorcode", None) in _DUPLICATE:
            raise AlreadyExists(str(exc)) from exc
        raise
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _UNAVAILABLE:
            raise StoreUnavailable(f"SQLite database unusable: {exc}") from exc
        raise
    except OSError as exc:
        raise StoreUnavailable(f"SQLite database file unusable: {exc}") from exc


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
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _get(self, make: Callable[[Any], _T], template: str, *params: Any) -> _T | None:
        with _translated():
            rows = self._db().execute(_sql(template), params).fetchall()
        return make(rows[0]) if rows else None

    def _list(self, make: Callable[[Any], _T], template: str) -> list[_T]:
        with _translated():
            return [make(row) for row in self._db().execute(_sql(template))]

    def _run(self, sql: str, *params: Any, durable: bool = False) -> int:
        """Execute one statement; return the rows it changed. ``durable`` syncs the commit."""
        with _translated():
            db = self._db()
            if not durable:
                return db.execute(sql, params).rowcount
            db.execute("PRAGMA synchronous=FULL")
            try:
                return db.execute(sql, params).rowcount
            finally:
                db.execute("PRAGMA synchronous=NORMAL")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back if the body raises."""
        with _translated():
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise

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
        conn, self._conn = self._conn, None
        if conn is not None:
            with _translated():
                conn.close()

    # -- clients and users ---------------------------------------------------------------------

    async def get_client(self, client_id: str) -> Client | None:
        return self._get(_client, "SELECT {client} FROM clients WHERE client_id = ?", client_id)

    async def add_client(self, client: Client) -> None:
        self._run(_INSERT["client"], *_row(client), durable=True)

    async def list_clients(self) -> list[Client]:
        return self._list(_client, "SELECT {client} FROM clients ORDER BY client_id")

    async def remove_client(self, client_id: str) -> bool:
        return self._run("DELETE FROM clients WHERE client_id = ?", client_id, durable=True) > 0

    async def get_user(self, user_id: str) -> User | None:
        return self._get(_user, "SELECT {user} FROM users WHERE user_id = ?", user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return self._get(_user, "SELECT {user} FROM users WHERE username = ?", username)

    async def add_user(self, user: User) -> None:
        self._run(_INSERT["user"], *_row(user), durable=True)

    async def list_users(self) -> list[User]:
        return self._list(_user, "SELECT {user} FROM users ORDER BY username")

    async def remove_user(self, username: str) -> bool:
        return self._run("DELETE FROM users WHERE username = ?", username, durable=True) > 0

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

    async def consume_code(
        self, code_digest: str, now: int, grant_id: str
    ) -> AuthorizationCode | None:
        sql = ("UPDATE auth_codes SET redeemed_at = ?1, grant_id = ?2 WHERE code_digest = ?3"
               " AND redeemed_at IS NULL AND expires_at > ?1 RETURNING {code}")  # fmt: skip
        return self._get(_code, sql, now, grant_id, code_digest)

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
        retire = _sql(
            "UPDATE refresh_tokens SET rotated_at = ?1, replaced_by = ?2"
            " WHERE token_digest = ?3 AND rotated_at IS NULL AND expires_at > ?1"
            " AND EXISTS (SELECT 1 FROM grants AS g WHERE g.grant_id = refresh_tokens.grant_id"
            " AND g.revoked_at IS NULL AND g.expires_at > ?1) RETURNING {refresh}"
        )
        with self._tx() as db:
            retired = db.execute(retire, (now, successor.token_digest, token_digest)).fetchall()
            if retired:
                db.execute(_INSERT["refresh"], _row(successor))
        return _refresh(retired[0]) if retired else None

    async def find_refresh(self, token_digest: str) -> RefreshToken | None:
        sql = "SELECT {refresh} FROM refresh_tokens WHERE token_digest = ?"
        return self._get(_refresh, sql, token_digest)

    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        self._run("INSERT INTO revoked_access_tokens VALUES (?1, ?2) ON CONFLICT (jti)"
                  " DO UPDATE SET expires_at = max(expires_at, ?2)", jti, expires_at)  # fmt: skip

    async def is_access_token_revoked(self, jti: str) -> bool:
        return bool(self._get(bool, "SELECT 1 FROM revoked_access_tokens WHERE jti = ?", jti))

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
