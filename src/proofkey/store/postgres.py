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
Client CPU (user + system) for two one-statement calls (save_code and the code's single-use
UPDATE, as measured before redeem_code also wrote the grant), each acquiring and releasing
(medians of 5 × 3000, 5 runs; PG 15 on loopback, client pinned to a core): asyncpg's default
reset 270-380 µs, this pool 160-210 µs, one connection held 70-110 µs.

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
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
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
from proofkey.store._rows import CODE_REPLAY_WINDOW, Codec, check_family
from proofkey.store.base import AlreadyExists, StoreUnavailable
from proofkey.store.schema import apply_migrations
from proofkey.store.sql import POSTGRES, Atomic, Statements

__all__ = ["CODE_REPLAY_WINDOW", "PostgresStore"]

MAX_IDLE = 60.0  # seconds an idle pooled connection lives (fewer stale ones after a failover)

_MIGRATE_LOCK = 0x70726F6F666B6579  # "proofkey": one advisory lock key for all migrations
_MIGRATE_TIMEOUT = 600.0  # a migration may wait for another instance's, or rewrite a table
# SQLSTATE classes: connection, authorization, no such database, resources, shutdown, system.
_UNAVAILABLE = frozenset({"08", "28", "3D", "53", "57", "58"})

_T = TypeVar("_T")

_SQL = POSTGRES.render(Statements())
_CLIENTS, _USERS, _PENDING, _PUSHED = _SQL.clients, _SQL.users, _SQL.interactions, _SQL.pushed
_SESSIONS, _CONSENTS, _CODES, _GRANTS = _SQL.sessions, _SQL.consents, _SQL.codes, _SQL.grants
_DEVICES, _KEYS = _SQL.devices, _SQL.keys
_ATOMIC = POSTGRES.render(Atomic())
_PURGES = POSTGRES.purges()  # up to ``batch`` rows per table and call


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

    async def _get(self, make: Callable[[Any], _T], sql: str, *params: Any) -> _T | None:
        row = await self._with(lambda db: db.fetchrow(sql, *params))
        return None if row is None else make(row)

    async def _list(self, make: Callable[[Any], _T], sql: str) -> list[_T]:
        rows: list[Any] = await self._with(lambda db: db.fetch(sql))
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
            async with db.transaction():  # the lock makes check-and-apply safe across instances
                await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK,
                                 timeout=_MIGRATE_TIMEOUT)  # fmt: skip
                return await apply_migrations(_Migrator(db), POSTGRES)

        return await self._with(apply)

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        async def purge(db: Any) -> int:
            return sum([_count(await db.execute(q, now - grace, batch)) for q, grace in _PURGES])

        return await self._with(purge)

    async def ping(self) -> None:
        await self._with(lambda db: db.fetchval(_SQL.ledger.ping))

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
        return await self._get(_client, _CLIENTS.get, client_id)

    async def add_client(self, client: Client) -> None:
        await self._run(_CLIENTS.add, *_row(client), durable=True)

    async def list_clients(self) -> list[Client]:
        return await self._list(_client, _CLIENTS.every)

    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        return await self._run(_ATOMIC.remove_client, client_id, revoked_at, durable=True) > 0

    async def get_user(self, user_id: str) -> User | None:
        return await self._get(_user, _USERS.get, user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return await self._get(_user, _USERS.by_username, username)

    async def add_user(self, user: User) -> None:
        await self._run(_USERS.add, *_row(user), durable=True)

    async def list_users(self) -> list[User]:
        return await self._list(_user, _USERS.every)

    async def remove_user(self, username: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        return await self._run(_ATOMIC.remove_user, username, revoked_at, durable=True) > 0

    async def set_password(self, username: str, password_hash: str) -> bool:
        return await self._run(_USERS.set_password, username, password_hash, durable=True) > 0

    # -- interactions, pushed requests, sessions, consent --------------------------------------

    async def save_pending(self, pending: PendingAuthorization) -> None:
        await self._run(_PENDING.save, *_row(pending))

    async def get_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        return await self._get(_pending, _PENDING.get, handle_digest, now)

    async def set_pending_user(self, handle_digest: str, user_id: str, auth_time: int) -> None:
        await self._run(_PENDING.set_user, handle_digest, user_id, auth_time)

    async def take_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        return await self._get(_pending, _PENDING.take, handle_digest, now)

    async def save_pushed(self, request_digest: str, client_id: str,
                          params: Mapping[str, str], expires_at: int) -> None:
        await self._run(_PUSHED.save, request_digest, client_id, json.dumps(dict(params)),
                        expires_at)  # fmt: skip

    async def take_pushed(
        self, request_digest: str, now: int
    ) -> tuple[str, dict[str, str]] | None:
        return await self._get(lambda row: (row[0], json.loads(row[1])), _PUSHED.take,
                               request_digest, now)  # fmt: skip

    async def save_session(self, session: Session) -> None:
        await self._run(_SESSIONS.save, *_row(session))

    async def get_session(self, session_digest: str, now: int) -> Session | None:
        return await self._get(_session, _SESSIONS.get, session_digest, now)

    async def delete_session(self, session_digest: str) -> None:
        await self._run(_SESSIONS.delete, session_digest)

    async def get_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        scope = await self._get(lambda row: frozenset[str](row[0]), _CONSENTS.get, user_id,
                                client_id)  # fmt: skip
        return scope or frozenset()

    async def save_consent(
        self, user_id: str, client_id: str, scope: Iterable[str], now: int
    ) -> None:
        # One upsert: the row lock serialises writers, the union is taken under it.
        await self._run(_CONSENTS.merge, user_id, client_id, sorted(set(scope)), now)

    # -- codes, grants, refresh and access tokens ----------------------------------------------

    async def save_code(self, code: AuthorizationCode) -> None:
        await self._run(_CODES.save, *_row(code))

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
            return await self._get(_code, _ATOMIC.redeem, *params)
        return await self._get(_code, _ATOMIC.redeem_with_refresh, *params, *_row(refresh))

    async def find_code(self, code_digest: str) -> AuthorizationCode | None:
        return await self._get(_code, _CODES.find, code_digest)

    async def save_grant(self, grant: Grant, refresh: RefreshToken | None) -> None:
        if refresh is None:
            await self._run(_GRANTS.save, *_row(grant))
            return
        await self._run(_ATOMIC.save_grant_and_refresh, *_row(grant), *_row(refresh))

    async def get_grant(self, grant_id: str) -> Grant | None:
        return await self._get(_grant, _GRANTS.get, grant_id)

    async def revoke_grant(self, grant_id: str, now: int) -> bool:
        return await self._run(_GRANTS.revoke, grant_id, now) > 0

    async def rotate_refresh(
        self, token_digest: str, now: int, successor: RefreshToken
    ) -> RefreshToken | None:
        params = (now, successor.token_digest, token_digest, successor.grant_id)
        return await self._get(_refresh, _ATOMIC.rotate, *params, *_row(successor))

    async def rotate_refresh_for_client(
        self, token_digest: str, client_id: str, now: int, successor_digest: str,
        successor_expires_at: int,
    ) -> Grant | None:
        return await self._get(_grant, _ATOMIC.rotate_for_client, now, successor_digest,
                               token_digest, client_id, successor_expires_at)  # fmt: skip

    async def find_refresh(self, token_digest: str) -> RefreshToken | None:
        return await self._get(_refresh, _GRANTS.find_refresh, token_digest)

    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        await self._run(_GRANTS.revoke_access, jti, expires_at)

    async def is_access_token_revoked(self, jti: str) -> bool:
        return bool(await self._get(bool, _GRANTS.is_access_revoked, jti))

    # -- device authorizations -----------------------------------------------------------------

    async def save_device(self, device: DeviceAuthorization) -> None:
        await self._run(_DEVICES.save, *_row(device))

    async def get_device_by_user_code(
        self, user_code_digest: str, now: int
    ) -> DeviceAuthorization | None:
        return await self._get(_device, _DEVICES.by_user_code, user_code_digest, now)

    async def decide_device(
        self, user_code_digest: str, now: int, *, approve: bool, user_id: str, auth_time: int
    ) -> bool:
        decision = ("approved", user_id, auth_time) if approve else ("denied", None, None)
        return await self._run(_DEVICES.decide, user_code_digest, now, *decision) > 0

    async def poll_device(
        self, device_digest: str, now: int
    ) -> tuple[DeviceAuthorization, int | None] | None:
        return await self._get(_polled, _DEVICES.poll, device_digest, now)

    async def consume_device(
        self, device_digest: str, now: int, grant: Grant, refresh: RefreshToken | None
    ) -> DeviceAuthorization | None:
        check_family(grant.grant_id, refresh)
        params = (now, grant.grant_id, device_digest, *_row(grant))
        if refresh is None:
            return await self._get(_device, _ATOMIC.consume_device, *params)
        return await self._get(_device, _ATOMIC.consume_device_with_refresh, *params,
                               *_row(refresh))  # fmt: skip

    # -- signing keys --------------------------------------------------------------------------

    async def list_keys(self) -> list[SigningKey]:
        return await self._list(_key, _KEYS.every)

    async def add_key(self, key: SigningKey) -> None:
        await self._run(_KEYS.add, *_row(key), durable=True)

    async def retire_key(self, kid: str, now: int) -> bool:
        return await self._run(_KEYS.retire, kid, now, durable=True) > 0

    async def delete_key(self, kid: str) -> bool:
        return await self._run(_KEYS.delete, kid, durable=True) > 0
