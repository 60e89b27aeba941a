"""The production backend: every store Protocol on PostgreSQL through an asyncpg pool.

Semantics mirror ``store/sqlite.py``. Each operation holds ONE pooled connection throughout and
runs one statement (asyncpg prepares and caches it per connection). Single use is a conditional
``UPDATE … RETURNING`` (``take_pending``: ``DELETE … RETURNING``): under READ COMMITTED a
concurrent second writer waits on the row lock, re-checks and gets no row. What the winner
writes besides goes in data-modifying CTEs that read the UPDATE's returned row, so they write
nothing when it lost: ``redeem_code`` (UPDATE the code, INSERT its grant … SELECT FROM the
UPDATE, INSERT the refresh token … SELECT FROM the grant), ``consume_device`` likewise, and
``rotate_refresh`` and ``rotate_refresh_for_client`` (retire, insert the successor; the latter
returns the grant too) are each one statement, so one transaction and one round trip; so are
``remove_user`` and ``remove_client`` with what they revoke and delete. ``purge_expired``
deletes bounded batches by ``ctid``, keeping expired codes and device requests
CODE_REPLAY_WINDOW.
``migrate()`` applies ``migrations/postgres/*.sql`` in one transaction under
``pg_advisory_xact_lock`` (concurrent starts apply each version once), into the first schema of
the connection's ``search_path``.

The pool is made on ``migrate()`` or first use, never at import or construction. A release
normally runs asyncpg's reset query (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
ALL``), one more round trip. This store changes no session state (only ``SET LOCAL``), so the
pool's ``reset`` does nothing; asyncpg still rolls back a transaction a cancellation left open.
What that saves: docs/performance.md, "Measurements behind design choices".

Hot-path commits follow the server's ``synchronous_commit``; ``?synchronous_commit=off`` on the
URL (a server setting to asyncpg) trades the last ~0.6 s of codes on a server crash, as SQLite's
synchronous=NORMAL does on power loss. Client, user and key writes ``SET LOCAL synchronous_commit
= on``. ``OSError``, timeouts, SQLSTATE classes 08, 28, 3D, 53, 57, 58 and an ``InterfaceError``
of a closed pool or connection become ``StoreUnavailable``: within connect_timeout when no
connection can be had, 2 × command_timeout when one stops answering (statement, then asyncpg's
cancel request). A connection that died expires its siblings; the pool reconnects on the next
call. Unique violations become ``AlreadyExists``; SQL mistakes surface unchanged.
Over 400 lines because one class serves all nine roles (~45 one-statement methods); row
conversion and column lists live in ``_rows.py``, shared with the SQLite backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import fields
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]

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
    FIELDS,
    PURGED,
    Codec,
    check_family,
    expand,
    inserts,
)
from proofkey.store.base import AlreadyExists, StoreUnavailable

__all__ = ["CODE_REPLAY_WINDOW", "PostgresStore"]

MAX_IDLE = 60.0  # seconds an idle pooled connection lives (fewer stale ones after a failover)

_MIGRATE_LOCK = 0x70726F6F666B6579  # "proofkey": one advisory lock key for all migrations
_MIGRATE_TIMEOUT = 600.0  # a migration may wait for another instance's, or rewrite a table
# SQLSTATE classes: connection, authorization, no such database, resources, shutdown, system.
_UNAVAILABLE = frozenset({"08", "28", "3D", "53", "57", "58"})

_T = TypeVar("_T")


def _marks(count: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


def _typed_marks(model: type[Any], start: int) -> str:
    """``$start::type, …``, one per field of ``model`` (str, int or tuple of str): in ``INSERT
    … SELECT`` PostgreSQL does not take a parameter's type from the target column."""
    types = {"str": "text", "int": "bigint", "tuple": "text[]"}
    return ", ".join(f"${i}::{types[str(f.type).partition('[')[0].partition(' ')[0]]}"
                     for i, f in enumerate(fields(model), start))  # fmt: skip


_INSERT = inserts(_marks)
# One statement, so both rows or neither (the foreign key is checked at the statement's end).
_INSERT_GRANT_AND_REFRESH = expand(
    f"WITH g AS ({_INSERT['grant']}) INSERT INTO refresh_tokens ({{refresh}})"  # noqa: S608
    f" VALUES ({_marks(len(FIELDS[RefreshToken]), len(FIELDS[Grant]) + 1)})"
)
# Redeem a code and create its grant (and its first refresh token) in one statement: each
# INSERT reads the row the one before it returned, so it writes nothing when the UPDATE lost.
_REDEEM = (
    "WITH won AS (UPDATE auth_codes SET redeemed_at = $1, grant_id = $2 WHERE code_digest = $3"
    " AND redeemed_at IS NULL AND expires_at > $1 RETURNING {code}),"
    " grant_row AS (INSERT INTO grants (grant_id, client_id, user_id, scope, auth_time,"
    " created_at, expires_at) SELECT grant_id, client_id, user_id, scope, auth_time,"
    " redeemed_at, $4::bigint FROM won RETURNING grant_id)"
)
_REDEEM_BARE = expand(f"{_REDEEM} SELECT {{code}} FROM won")  # noqa: S608
_REDEEM_WITH_REFRESH = expand(
    f"{_REDEEM}, refresh AS (INSERT INTO refresh_tokens ({{refresh}})"  # noqa: S608
    f" SELECT {_typed_marks(RefreshToken, 5)} FROM grant_row) SELECT {{code}} FROM won"
)
# Retire a refresh token (unrotated, unexpired, of the successor's grant, which is active and
# unexpired) and insert its successor only if the UPDATE returned the retired row.
_ROTATE = expand(
    "WITH retired AS (UPDATE refresh_tokens SET rotated_at = $1, replaced_by = $2"  # noqa: S608
    " WHERE token_digest = $3 AND grant_id = $5 AND rotated_at IS NULL AND expires_at > $1"
    " AND EXISTS (SELECT 1 FROM grants AS g WHERE g.grant_id = refresh_tokens.grant_id"
    " AND g.revoked_at IS NULL AND g.expires_at > $1) RETURNING {refresh}),"
    " successor AS (INSERT INTO refresh_tokens ({refresh})"
    f" SELECT {_typed_marks(RefreshToken, 4)} FROM retired) SELECT {{refresh}} FROM retired"
)
# The common refresh in one statement: retire the token if this client's (in place of "of this
# grant"; otherwise as _ROTATE), insert its successor under the token's grant, return the grant
# (as the statement's snapshot saw it when the UPDATE checked it live).
_ROTATE_FOR_CLIENT = expand(
    "WITH retired AS (UPDATE refresh_tokens SET rotated_at = $1, replaced_by = $2"
    " WHERE token_digest = $3 AND client_id = $4 AND rotated_at IS NULL AND expires_at > $1"
    " AND EXISTS (SELECT 1 FROM grants AS g WHERE g.grant_id = refresh_tokens.grant_id"
    " AND g.revoked_at IS NULL AND g.expires_at > $1) RETURNING grant_id),"
    " successor AS (INSERT INTO refresh_tokens (token_digest, grant_id, client_id, issued_at,"
    " expires_at, parent_digest) SELECT $2, grant_id, $4, $1, $5::bigint, $3 FROM retired)"
    " SELECT {grant} FROM retired JOIN grants USING (grant_id)"
)
# Consume an approved device authorization and store its grant (and refresh token) in one
# statement, the same way.
_CONSUME_DEVICE = (
    "WITH won AS (UPDATE device_authorizations SET consumed_at = $1, grant_id = $2"  # noqa: S608
    " WHERE device_digest = $3 AND status = 'approved' AND consumed_at IS NULL"
    " AND expires_at > $1 RETURNING {device}),"
    f" grant_row AS (INSERT INTO grants ({{grant}}) SELECT {_typed_marks(Grant, 4)} FROM won"
    " RETURNING grant_id)"
)
_CONSUME_DEVICE_BARE = expand(f"{_CONSUME_DEVICE} SELECT {{device}} FROM won")  # noqa: S608
_CONSUME_DEVICE_WITH_REFRESH = expand(
    f"{_CONSUME_DEVICE}, refresh AS (INSERT INTO refresh_tokens ({{refresh}})"  # noqa: S608
    f" SELECT {_typed_marks(RefreshToken, 4 + len(FIELDS[Grant]))} FROM grant_row)"
    " SELECT {device} FROM won"
)
# Removing a user or client revokes its grants and deletes what hangs off it in the same
# statement; the command tag ``SELECT n`` counts the removed rows.
_REMOVE_USER = (
    "WITH gone AS (DELETE FROM users WHERE username = $1 RETURNING user_id),"
    " revoked AS (UPDATE grants SET revoked_at = $2 WHERE revoked_at IS NULL"
    " AND user_id IN (SELECT user_id FROM gone)),"
    " ended AS (DELETE FROM sessions WHERE user_id IN (SELECT user_id FROM gone)),"
    " forgotten AS (DELETE FROM consents WHERE user_id IN (SELECT user_id FROM gone))"
    " SELECT user_id FROM gone"
)
# end_user_access, between ending the sessions and revoking the grants ($1: the user_id).
_END_USER_ACCESS = (
    "DELETE FROM pending_authorizations WHERE user_id = $1",
    "DELETE FROM auth_codes WHERE user_id = $1 AND redeemed_at IS NULL",
    "UPDATE device_authorizations SET status = 'denied' WHERE user_id = $1"
    " AND status = 'approved' AND consumed_at IS NULL",
)
_REMOVE_CLIENT = (
    "WITH gone AS (DELETE FROM clients WHERE client_id = $1 RETURNING client_id),"
    " revoked AS (UPDATE grants SET revoked_at = $2 WHERE revoked_at IS NULL"
    " AND client_id IN (SELECT client_id FROM gone)),"
    " forgotten AS (DELETE FROM consents WHERE client_id IN (SELECT client_id FROM gone))"
    " SELECT client_id FROM gone"
)
# Up to ``batch`` rows per table and call, found by ctid (a TID scan, no second index lookup).
_PURGES = tuple(
    (f"DELETE FROM {table} WHERE ctid = ANY (ARRAY (SELECT ctid FROM {table}"  # noqa: S608
     " WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))", grace) for table, grace in PURGED
)  # fmt: skip


# -- row <-> model: lists and sets are TEXT[] (sets sorted).

_CODEC = Codec(
    encode={"scope": list, "redirect_uris": list, "scopes": sorted, "grant_types": sorted,
            "prompt": sorted},
    decode={"scope": tuple, "redirect_uris": tuple, "scopes": frozenset,
            "grant_types": frozenset, "prompt": frozenset},
)  # fmt: skip
_row, _read = _CODEC.row, _CODEC.reader
_client, _user, _pending = _read(Client), _read(User), _read(PendingAuthorization)
_session, _code, _grant = _read(Session), _read(AuthorizationCode), _read(Grant)
_refresh, _key, _device = _read(RefreshToken), _read(SigningKey), _read(DeviceAuthorization)


def _polled(row: Any) -> tuple[DeviceAuthorization, int | None]:
    """A ``RETURNING {device}, previous_poll_at`` row."""
    values = tuple(row)
    return _device(values[:-1]), values[-1]


def _count(status: str) -> int:
    """Rows changed, from a command tag such as ``UPDATE 1`` or ``INSERT 0 1``."""
    return int(status.rpartition(" ")[2] or 0)


async def _keep_session(connection: Any) -> None:
    """The pool's reset: nothing (the module docstring says why that is safe)."""


def _is_closed(connection: Any) -> bool:
    """Whether a pooled connection died (asyncpg detaches the proxy of one that closed)."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:
        return True


def _migrations() -> list[tuple[str, Traversable]]:
    folder = resources.files("proofkey.store") / "migrations" / "postgres"
    found = [(t.name.removesuffix(".sql"), t) for t in folder.iterdir() if t.name.endswith(".sql")]
    return sorted(found, key=lambda item: item[0])


def _redacted(dsn: str) -> str:
    password = urlsplit(dsn).password
    return dsn if password is None else dsn.replace(f":{password}@", ":***@", 1)


class PostgresStore:
    """Every store role on one PostgreSQL database (schema: the DSN's ``search_path``)."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10,
                 command_timeout: float = 5.0, connect_timeout: float = 5.0) -> None:  # fmt: skip
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(f"need 0 <= min_size <= max_size >= 1, got {min_size}, {max_size}")
        if command_timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._dsn = dsn
        self.min_size, self.max_size = min_size, max_size
        self.command_timeout, self.connect_timeout = command_timeout, connect_timeout
        self._pool: Any = None
        self._opening = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PostgresStore({_redacted(self._dsn)!r})"

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

    async def _with(self, operation: Callable[[Any], Awaitable[_T]]) -> _T:
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

    async def _get(self, make: Callable[[Any], _T], template: str, *params: Any) -> _T | None:
        query = expand(template)
        row = await self._with(lambda db: db.fetchrow(query, *params))
        return None if row is None else make(row)

    async def _list(self, make: Callable[[Any], _T], template: str) -> list[_T]:
        query = expand(template)
        rows: list[Any] = await self._with(lambda db: db.fetch(query))
        return [make(row) for row in rows]

    async def _run(self, sql: str, *params: Any, durable: bool = False) -> int:
        """Execute one statement; return the rows it changed. ``durable`` syncs the commit."""

        async def run(db: Any) -> str:
            if not durable:
                return str(await db.execute(sql, *params))
            async with db.transaction():
                await db.execute("SET LOCAL synchronous_commit = on")
                return str(await db.execute(sql, *params))

        return _count(await self._with(run))

    # -- lifecycle and housekeeping ------------------------------------------------------------

    async def migrate(self) -> list[str]:
        async def apply(db: Any) -> list[str]:
            applied: list[str] = []
            async with db.transaction():  # the lock makes check-and-apply safe across instances
                await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK,
                                 timeout=_MIGRATE_TIMEOUT)  # fmt: skip
                done: set[str] = set()
                if await db.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
                    done = {v for (v,) in await db.fetch("SELECT version FROM schema_migrations")}
                for version, script in _migrations():
                    if version not in done:
                        await db.execute(script.read_text(encoding="utf-8"),
                                         timeout=_MIGRATE_TIMEOUT)  # fmt: skip
                        await db.execute("INSERT INTO schema_migrations VALUES ($1, $2)",
                                         version, int(time.time()))  # fmt: skip
                        applied.append(version)
            return applied

        return await self._with(apply)

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        async def purge(db: Any) -> int:
            return sum([_count(await db.execute(q, now - grace, batch)) for q, grace in _PURGES])

        return await self._with(purge)

    async def ping(self) -> None:
        await self._with(lambda db: db.fetchval("SELECT 1"))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                with contextlib.suppress(Exception):  # unreachable or stuck: terminated below
                    async with asyncio.timeout(self.connect_timeout):
                        await pool.close()  # waits for connections in use to come back
            finally:
                pool.terminate()  # nothing left to do after a clean close

    # -- clients and users ---------------------------------------------------------------------

    async def get_client(self, client_id: str) -> Client | None:
        return await self._get(_client, "SELECT {client} FROM clients WHERE client_id = $1",
                               client_id)  # fmt: skip

    async def add_client(self, client: Client) -> None:
        await self._run(_INSERT["client"], *_row(client), durable=True)

    async def list_clients(self) -> list[Client]:
        sql = 'SELECT {client} FROM clients ORDER BY client_id COLLATE "C"'
        return await self._list(_client, sql)

    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        return await self._run(_REMOVE_CLIENT, client_id, revoked_at, durable=True) > 0

    async def get_user(self, user_id: str) -> User | None:
        return await self._get(_user, "SELECT {user} FROM users WHERE user_id = $1", user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return await self._get(_user, "SELECT {user} FROM users WHERE username = $1", username)

    async def add_user(self, user: User) -> None:
        await self._run(_INSERT["user"], *_row(user), durable=True)

    async def list_users(self) -> list[User]:
        return await self._list(_user, 'SELECT {user} FROM users ORDER BY username COLLATE "C"')

    async def remove_user(self, username: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        return await self._run(_REMOVE_USER, username, revoked_at, durable=True) > 0

    async def set_password(self, username: str, password_hash: str) -> bool:
        sql = "UPDATE users SET password_hash = $1 WHERE username = $2"
        return await self._run(sql, password_hash, username, durable=True) > 0

    async def end_user_access(self, user_id: str, now: int) -> tuple[int, int]:
        async def run(db: Any) -> tuple[int, int]:
            # Separate statements, grants last: under READ COMMITTED each sees what committed
            # before it, so a grant that a redemption blocked on a deleted code committed first
            # is revoked as well.
            async with db.transaction():
                await db.execute("SET LOCAL synchronous_commit = on")
                ended = _count(await db.execute("DELETE FROM sessions WHERE user_id = $1",
                                                user_id))
                for sql in _END_USER_ACCESS:
                    await db.execute(sql, user_id)
                revoked = _count(await db.execute(
                    "UPDATE grants SET revoked_at = $2 WHERE user_id = $1"
                    " AND revoked_at IS NULL", user_id, now))  # fmt: skip
                return ended, revoked

        return await self._with(run)

    # -- interactions, sessions, consent -------------------------------------------------------

    async def save_pending(self, pending: PendingAuthorization) -> None:
        await self._run(_INSERT["pending"], *_row(pending))

    async def get_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        sql = ("SELECT {pending} FROM pending_authorizations"
               " WHERE handle_digest = $1 AND expires_at > $2")  # fmt: skip
        return await self._get(_pending, sql, handle_digest, now)

    async def set_pending_user(self, handle_digest: str, user_id: str, auth_time: int) -> None:
        sql = ("UPDATE pending_authorizations SET user_id = $1, auth_time = $2"
               " WHERE handle_digest = $3")  # fmt: skip
        await self._run(sql, user_id, auth_time, handle_digest)

    async def take_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        sql = ("DELETE FROM pending_authorizations WHERE handle_digest = $1 AND expires_at > $2"
               " RETURNING {pending}")  # fmt: skip
        return await self._get(_pending, sql, handle_digest, now)

    async def save_pushed(self, request_digest: str, client_id: str,
                          params: Mapping[str, str], expires_at: int) -> None:
        await self._run("INSERT INTO pushed_requests VALUES ($1, $2, $3::jsonb, $4)",
                        request_digest, client_id, json.dumps(dict(params)), expires_at)

    async def take_pushed(
        self, request_digest: str, now: int
    ) -> tuple[str, dict[str, str]] | None:
        sql = ("DELETE FROM pushed_requests WHERE request_digest = $1 AND expires_at > $2"
               " RETURNING client_id, params::text")  # fmt: skip
        return await self._get(lambda row: (row[0], json.loads(row[1])), sql, request_digest,
                               now)

    async def save_session(self, session: Session) -> None:
        await self._run(_INSERT["session"], *_row(session))

    async def get_session(self, session_digest: str, now: int) -> Session | None:
        sql = "SELECT {session} FROM sessions WHERE session_digest = $1 AND expires_at > $2"
        return await self._get(_session, sql, session_digest, now)

    async def delete_session(self, session_digest: str) -> None:
        await self._run("DELETE FROM sessions WHERE session_digest = $1", session_digest)

    async def get_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        sql = "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2"
        scope = await self._get(lambda row: frozenset[str](row[0]), sql, user_id, client_id)
        return scope or frozenset()

    async def save_consent(
        self, user_id: str, client_id: str, scope: Iterable[str], now: int
    ) -> None:
        # One upsert: the row lock serialises writers, the union is taken under it.
        await self._run(
            "INSERT INTO consents VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id)"
            ' DO UPDATE SET scope = ARRAY (SELECT DISTINCT s COLLATE "C" FROM unnest(consents.scope'
            " || excluded.scope) AS s ORDER BY 1), updated_at = excluded.updated_at",
            user_id, client_id, sorted(set(scope)), now,
        )  # fmt: skip

    # -- codes, grants, refresh and access tokens ----------------------------------------------

    async def save_code(self, code: AuthorizationCode) -> None:
        await self._run(_INSERT["code"], *_row(code))

    async def redeem_code(
        self,
        code_digest: str,
        now: int,
        grant_id: str,
        grant_expires_at: int,
        refresh: RefreshToken | None,
    ) -> AuthorizationCode | None:
        check_family(grant_id, refresh)
        params = (now, grant_id, code_digest, grant_expires_at)
        if refresh is None:
            return await self._get(_code, _REDEEM_BARE, *params)
        return await self._get(_code, _REDEEM_WITH_REFRESH, *params, *_row(refresh))

    async def find_code(self, code_digest: str) -> AuthorizationCode | None:
        sql = "SELECT {code} FROM auth_codes WHERE code_digest = $1"
        return await self._get(_code, sql, code_digest)

    async def save_grant(self, grant: Grant, refresh: RefreshToken | None) -> None:
        if refresh is None:
            await self._run(_INSERT["grant"], *_row(grant))
            return
        await self._run(_INSERT_GRANT_AND_REFRESH, *_row(grant), *_row(refresh))

    async def get_grant(self, grant_id: str) -> Grant | None:
        return await self._get(_grant, "SELECT {grant} FROM grants WHERE grant_id = $1", grant_id)

    async def revoke_grant(self, grant_id: str, now: int) -> bool:
        sql = "UPDATE grants SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL"
        return await self._run(sql, now, grant_id) > 0

    async def rotate_refresh(
        self, token_digest: str, now: int, successor: RefreshToken
    ) -> RefreshToken | None:
        params = (now, successor.token_digest, token_digest, *_row(successor))
        return await self._get(_refresh, _ROTATE, *params)

    async def rotate_refresh_for_client(
        self, token_digest: str, client_id: str, now: int, successor_digest: str,
        successor_expires_at: int,
    ) -> Grant | None:
        return await self._get(_grant, _ROTATE_FOR_CLIENT, now, successor_digest, token_digest,
                               client_id, successor_expires_at)  # fmt: skip

    async def find_refresh(self, token_digest: str) -> RefreshToken | None:
        sql = "SELECT {refresh} FROM refresh_tokens WHERE token_digest = $1"
        return await self._get(_refresh, sql, token_digest)

    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        await self._run(
            "INSERT INTO revoked_access_tokens VALUES ($1, $2) ON CONFLICT (jti) DO UPDATE"
            " SET expires_at = GREATEST(revoked_access_tokens.expires_at, excluded.expires_at)",
            jti, expires_at,
        )  # fmt: skip

    async def is_access_token_revoked(self, jti: str) -> bool:
        sql = "SELECT 1 FROM revoked_access_tokens WHERE jti = $1"
        return bool(await self._get(bool, sql, jti))

    # -- device authorizations -----------------------------------------------------------------

    async def save_device(self, device: DeviceAuthorization) -> None:
        await self._run(_INSERT["device"], *_row(device))

    async def get_device_by_user_code(self, user_code: str, now: int) -> DeviceAuthorization | None:
        sql = "SELECT {device} FROM device_authorizations WHERE user_code = $1 AND expires_at > $2"
        return await self._get(_device, sql, user_code, now)

    async def decide_device(
        self, user_code: str, now: int, *, approve: bool, user_id: str, auth_time: int
    ) -> bool:
        sql = ("UPDATE device_authorizations SET status = $1, user_id = $2, auth_time = $3"
               " WHERE user_code = $4 AND status = 'pending' AND expires_at > $5")  # fmt: skip
        decision = ("approved", user_id, auth_time) if approve else ("denied", None, None)
        return await self._run(sql, *decision, user_code, now) > 0

    async def poll_device(
        self, device_digest: str, now: int
    ) -> tuple[DeviceAuthorization, int | None] | None:
        # The right-hand sides of SET see the row as it was: the old last_polled_at is kept.
        sql = ("UPDATE device_authorizations SET previous_poll_at = last_polled_at,"
               " last_polled_at = $1 WHERE device_digest = $2"
               " RETURNING {device}, previous_poll_at")  # fmt: skip
        return await self._get(_polled, sql, now, device_digest)

    async def consume_device(
        self, device_digest: str, now: int, grant: Grant, refresh: RefreshToken | None
    ) -> DeviceAuthorization | None:
        check_family(grant.grant_id, refresh)
        params = (now, grant.grant_id, device_digest, *_row(grant))
        if refresh is None:
            return await self._get(_device, _CONSUME_DEVICE_BARE, *params)
        return await self._get(_device, _CONSUME_DEVICE_WITH_REFRESH, *params, *_row(refresh))

    # -- signing keys --------------------------------------------------------------------------

    async def list_keys(self) -> list[SigningKey]:
        sql = 'SELECT {key} FROM signing_keys ORDER BY created_at, kid COLLATE "C"'
        return await self._list(_key, sql)

    async def add_key(self, key: SigningKey) -> None:
        await self._run(_INSERT["key"], *_row(key), durable=True)

    async def retire_key(self, kid: str, now: int) -> bool:
        sql = "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL"
        return await self._run(sql, now, kid, durable=True) > 0

    async def delete_key(self, kid: str) -> bool:
        return await self._run("DELETE FROM signing_keys WHERE kid = $1", kid, durable=True) > 0
