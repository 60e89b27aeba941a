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
The statements are ``sql.py``'s (the one-statement forms: ``sql.Atomic``), rendered for asyncpg
once at import; rows convert through ``_rows.py``; the pool, error translation and migrations
are ``postgres_db.py``'s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from proofkey.models import (
    AuthorizationCode,
    Client,
    DeviceAuthorization,
    Grant,
    InitialAccessToken,
    PendingAuthorization,
    RefreshToken,
    Resource,
    Session,
    SigningKey,
    User,
)
from proofkey.store._rows import CODE_REPLAY_WINDOW, Codec, check_family
from proofkey.store.accounts import PostgresAccounts
from proofkey.store.admin_tokens import PostgresAdminTokens
from proofkey.store.base import ChallengeReuse, ChallengeSighting
from proofkey.store.console import PostgresConsole
from proofkey.store.dpop_secret import PostgresDpopSecret
from proofkey.store.federation import PostgresFederation
from proofkey.store.lifecycle import PostgresLifecycle
from proofkey.store.postgres_db import PostgresPool, count_changed, redacted
from proofkey.store.replay import PostgresReplays
from proofkey.store.sql import POSTGRES, Atomic, Statements

__all__ = ["CODE_REPLAY_WINDOW", "PostgresStore"]

_SQL = POSTGRES.render(Statements())
_CLIENTS, _USERS, _PENDING, _PUSHED = _SQL.clients, _SQL.users, _SQL.interactions, _SQL.pushed
_SESSIONS, _CONSENTS, _CODES, _GRANTS = _SQL.sessions, _SQL.consents, _SQL.codes, _SQL.grants
_DEVICES, _KEYS, _INITIAL = _SQL.devices, _SQL.keys, _SQL.initial_tokens
_CHALLENGES = _SQL.challenges
_RESOURCES = _SQL.resources
_ATOMIC = POSTGRES.render(Atomic())
_PURGES = POSTGRES.purges()  # up to ``batch`` rows per table and call
_END_USER_ACCESS = (_USERS.forget_pending, _USERS.forget_unredeemed_codes,
                    _USERS.deny_approved_devices)


# -- row <-> model: lists and sets are TEXT[] (sets sorted).

_CODEC = Codec(
    encode={"scope": list, "resources": list, "redirect_uris": list, "scopes": sorted,
            "grant_types": sorted, "prompt": sorted, "post_logout_redirect_uris": list},
    decode={"scope": tuple, "resources": tuple, "redirect_uris": tuple, "scopes": frozenset,
            "grant_types": frozenset, "prompt": frozenset, "post_logout_redirect_uris": tuple},
)  # fmt: skip
_row, _read = _CODEC.row, _CODEC.reader
_client, _user, _pending = _read(Client), _read(User), _read(PendingAuthorization)
_session, _code, _grant = _read(Session), _read(AuthorizationCode), _read(Grant)
_refresh, _key, _device = _read(RefreshToken), _read(SigningKey), _read(DeviceAuthorization)
_initial, _resource = _read(InitialAccessToken), _read(Resource)


def _sighting(row: Any) -> ChallengeSighting:
    return ChallengeSighting(int(row[0]), int(row[1]))


def _reuse(row: Any) -> ChallengeReuse:
    return ChallengeReuse(str(row[0]), int(row[1]), int(row[2]))


def _polled(row: Any) -> tuple[DeviceAuthorization, int | None]:
    """A ``RETURNING {device}, previous_poll_at`` row."""
    values = tuple(row)
    return _device(values[:-1]), values[-1]


class PostgresStore(PostgresFederation, PostgresAccounts, PostgresReplays, PostgresConsole,
                    PostgresAdminTokens, PostgresLifecycle, PostgresDpopSecret):
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
        self._db = PostgresPool(dsn, min_size=min_size, max_size=max_size,
                                command_timeout=command_timeout, connect_timeout=connect_timeout)

    def __repr__(self) -> str:
        return f"PostgresStore({redacted(self._dsn)!r})"

    # -- lifecycle and housekeeping ------------------------------------------------------------

    async def migrate(self) -> list[str]:
        return await self._db.migrate()

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        return await self._db.run_each([(sql, (now - grace, batch)) for sql, grace in _PURGES])

    async def ping(self) -> None:
        await self._db.with_connection(lambda db: db.fetchval(_SQL.ledger.ping))

    async def close(self) -> None:
        await self._db.close()

    # -- clients and users ---------------------------------------------------------------------

    async def get_client(self, client_id: str) -> Client | None:
        return await self._db.get(_client, _CLIENTS.get, client_id)

    async def add_client(self, client: Client) -> None:
        await self._db.run(_CLIENTS.add, *_row(client), durable=True)

    async def list_clients(self) -> list[Client]:
        return await self._db.get_all(_client, _CLIENTS.every)

    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        return await self._db.run(_ATOMIC.remove_client, client_id, revoked_at, durable=True) > 0

    # -- resources (RFC 8707) -------------------------------------------------------------------

    async def get_resource(self, uri: str) -> Resource | None:
        return await self._db.get(_resource, _RESOURCES.get, uri)

    async def add_resource(self, resource: Resource) -> None:
        await self._db.run(_RESOURCES.add, *_row(resource), durable=True)

    async def list_resources(self) -> list[Resource]:
        return await self._db.get_all(_resource, _RESOURCES.every)

    async def remove_resource(self, uri: str) -> bool:
        return await self._db.run(_RESOURCES.delete, uri, durable=True) > 0

    async def get_user(self, user_id: str) -> User | None:
        return await self._db.get(_user, _USERS.get, user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return await self._db.get(_user, _USERS.by_username, username)

    async def add_user(self, user: User) -> None:
        await self._db.run(_USERS.add, *_row(user), durable=True)

    async def list_users(self) -> list[User]:
        return await self._db.get_all(_user, _USERS.every)

    async def remove_user(self, username: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        return await self._db.run(_ATOMIC.remove_user, username, revoked_at, durable=True) > 0

    async def set_password(self, username: str, password_hash: str) -> bool:
        return await self._db.run(_USERS.set_password, username, password_hash, durable=True) > 0

    async def end_user_access(self, user_id: str, now: int) -> tuple[int, int]:
        async def run(db: Any) -> tuple[int, int]:
            # Separate statements, grants last: under READ COMMITTED each sees what committed
            # before it, so a grant that a redemption blocked on a deleted code committed first
            # is revoked as well.
            async with db.transaction():
                await db.execute("SET LOCAL synchronous_commit = on")
                ended = count_changed(await db.execute(_USERS.end_sessions, user_id))
                for sql in _END_USER_ACCESS:
                    await db.execute(sql, user_id)
                revoked = count_changed(await db.execute(_USERS.revoke_grants, user_id, now))
                return ended, revoked

        return await self._db.with_connection(run)

    # -- interactions, pushed requests, sessions, consent --------------------------------------

    async def save_pending(self, pending: PendingAuthorization) -> None:
        await self._db.run(_PENDING.save, *_row(pending))

    async def get_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        return await self._db.get(_pending, _PENDING.get, handle_digest, now)

    async def set_pending_user(self, handle_digest: str, user_id: str, auth_time: int) -> None:
        await self._db.run(_PENDING.set_user, handle_digest, user_id, auth_time)

    async def take_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        return await self._db.get(_pending, _PENDING.take, handle_digest, now)

    async def save_pushed(self, request_digest: str, client_id: str,
                          params: Mapping[str, str], expires_at: int) -> None:
        await self._db.run(_PUSHED.save, request_digest, client_id, json.dumps(dict(params)),
                        expires_at)  # fmt: skip

    async def take_pushed(
        self, request_digest: str, now: int
    ) -> tuple[str, dict[str, str]] | None:
        return await self._db.get(lambda row: (row[0], json.loads(row[1])), _PUSHED.take,
                               request_digest, now)  # fmt: skip

    async def save_session(self, session: Session) -> None:
        await self._db.run(_SESSIONS.save, *_row(session))

    async def get_session(self, session_digest: str, now: int) -> Session | None:
        return await self._db.get(_session, _SESSIONS.get, session_digest, now)

    async def delete_session(self, session_digest: str) -> None:
        await self._db.run(_SESSIONS.delete, session_digest)

    async def get_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        scope = await self._db.get(lambda row: frozenset[str](row[0]), _CONSENTS.get, user_id,
                                client_id)  # fmt: skip
        return scope or frozenset()

    async def save_consent(
        self, user_id: str, client_id: str, scope: Iterable[str], now: int
    ) -> None:
        # One upsert: the row lock serialises writers, the union is taken under it.
        await self._db.run(_CONSENTS.merge, user_id, client_id, sorted(set(scope)), now)

    # -- codes, grants, refresh and access tokens ----------------------------------------------

    async def save_code(self, code: AuthorizationCode) -> None:
        await self._db.run(_CODES.save, *_row(code))

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
            return await self._db.get(_code, _ATOMIC.redeem, *params)
        return await self._db.get(_code, _ATOMIC.redeem_with_refresh, *params, *_row(refresh))

    async def find_code(self, code_digest: str) -> AuthorizationCode | None:
        return await self._db.get(_code, _CODES.find, code_digest)

    async def save_grant(self, grant: Grant, refresh: RefreshToken | None) -> None:
        if refresh is None:
            await self._db.run(_GRANTS.save, *_row(grant))
            return
        await self._db.run(_ATOMIC.save_grant_and_refresh, *_row(grant), *_row(refresh))

    async def get_grant(self, grant_id: str) -> Grant | None:
        return await self._db.get(_grant, _GRANTS.get, grant_id)

    async def revoke_grant(self, grant_id: str, now: int) -> bool:
        return await self._db.run(_GRANTS.revoke, grant_id, now) > 0

    async def rotate_refresh(
        self, token_digest: str, now: int, successor: RefreshToken
    ) -> RefreshToken | None:
        params = (now, successor.token_digest, token_digest, successor.grant_id)
        return await self._db.get(_refresh, _ATOMIC.rotate, *params, *_row(successor))

    async def rotate_refresh_for_client(
        self, token_digest: str, client_id: str, now: int, successor_digest: str,
        successor_expires_at: int,
    ) -> Grant | None:
        return await self._db.get(_grant, _ATOMIC.rotate_for_client, now, successor_digest,
                               token_digest, client_id, successor_expires_at)  # fmt: skip

    async def find_refresh(self, token_digest: str) -> RefreshToken | None:
        return await self._db.get(_refresh, _GRANTS.find_refresh, token_digest)

    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        await self._db.run(_GRANTS.revoke_access, jti, expires_at)

    async def is_access_token_revoked(self, jti: str) -> bool:
        return bool(await self._db.get(bool, _GRANTS.is_access_revoked, jti))

    # -- device authorizations -----------------------------------------------------------------

    async def save_device(self, device: DeviceAuthorization) -> None:
        await self._db.run(_DEVICES.save, *_row(device))

    async def get_device_by_user_code(
        self, user_code_digest: str, now: int
    ) -> DeviceAuthorization | None:
        return await self._db.get(_device, _DEVICES.by_user_code, user_code_digest, now)

    async def decide_device(
        self, user_code_digest: str, now: int, *, approve: bool, user_id: str, auth_time: int
    ) -> bool:
        decision = ("approved", user_id, auth_time) if approve else ("denied", None, None)
        return await self._db.run(_DEVICES.decide, user_code_digest, now, *decision) > 0

    async def poll_device(
        self, device_digest: str, now: int
    ) -> tuple[DeviceAuthorization, int | None] | None:
        return await self._db.get(_polled, _DEVICES.poll, device_digest, now)

    async def consume_device(
        self, device_digest: str, now: int, grant: Grant, refresh: RefreshToken | None
    ) -> DeviceAuthorization | None:
        check_family(grant.grant_id, refresh)
        params = (now, grant.grant_id, device_digest, *_row(grant))
        if refresh is None:
            return await self._db.get(_device, _ATOMIC.consume_device, *params)
        return await self._db.get(_device, _ATOMIC.consume_device_with_refresh, *params,
                               *_row(refresh))  # fmt: skip

    # -- dynamic registration (RFC 7591, RFC 7592) ----------------------------------------------

    async def update_client(self, client: Client, expected_version: int | None = None) -> bool:
        row = _row(client)[:-1]  # the version is the store's (the last field)
        if expected_version is None:
            return await self._db.run(_CLIENTS.update, *row, durable=True) > 0
        return await self._db.run(_CLIENTS.update_if, *row, expected_version,
                               durable=True) > 0

    async def record_client_use(self, since: int, now: int) -> int:
        return await self._db.run(_CLIENTS.record_use, since, now)

    async def unused_clients(self, before: int) -> list[Client]:
        return await self._db.get_all(_client, _CLIENTS.unused, before)

    async def add_initial_token(self, token: InitialAccessToken) -> None:
        await self._db.run(_INITIAL.add, *_row(token), durable=True)

    async def use_initial_token(self, token_digest: str, now: int) -> InitialAccessToken | None:
        return await self._db.get(_initial, _INITIAL.use, token_digest, now)

    async def list_initial_tokens(self) -> list[InitialAccessToken]:
        return await self._db.get_all(_initial, _INITIAL.every)

    async def revoke_initial_token(self, token_id: str) -> bool:
        return await self._db.run(_INITIAL.revoke, token_id, durable=True) > 0

    # -- challenge digests (the challenge-reuse signal) --------------------------------------

    async def note_challenge(self, client_id: str, challenge_digest: str, now: int,
                             expires_at: int) -> ChallengeSighting:
        sighting = await self._db.get(_sighting, _CHALLENGES.note, client_id, challenge_digest,
                                now, expires_at)
        assert sighting is not None  # an upsert with RETURNING always returns its row
        return sighting

    async def challenge_reuse(self, now: int) -> list[ChallengeReuse]:
        return await self._db.get_all(_reuse, _CHALLENGES.reused, now)

    # -- signing keys --------------------------------------------------------------------------

    async def list_keys(self) -> list[SigningKey]:
        return await self._db.get_all(_key, _KEYS.every)

    async def add_key(self, key: SigningKey) -> None:
        await self._db.run(_KEYS.add, *_row(key), durable=True)

    async def retire_key(self, kid: str, now: int) -> bool:
        return await self._db.run(_KEYS.retire, kid, now, durable=True) > 0

    async def delete_key(self, kid: str) -> bool:
        return await self._db.run(_KEYS.delete, kid, durable=True) > 0
