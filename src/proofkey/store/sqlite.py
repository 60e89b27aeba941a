"""The embedded SQLite backend: every store Protocol on one stdlib ``sqlite3`` connection.

Each method is ``async def`` but runs its statement(s) inline on the event loop's thread: a
statement costs about 40 µs of CPU (DEPENDENCIES.md §3), handing it to a worker thread costs
more. So a ``SQLiteStore`` belongs to one thread; other threads and processes open their own
store on the same file, and SQLite's single write lock serialises them.

Single use is one statement guarded by "unused and unexpired": ``take_pending`` is ``DELETE …
RETURNING``, ``decide_device`` and ``poll_device`` an ``UPDATE … RETURNING``; ``redeem_code``,
``rotate_refresh``, ``rotate_refresh_for_client`` and ``consume_device`` run ``BEGIN
IMMEDIATE``, the ``UPDATE … RETURNING`` and, only if a row came back, their inserts (grant and
refresh token; successor), then ``COMMIT``: the winner writes everything or nothing, a loser
nothing. Needs SQLite >= 3.37.

The hot writes (``save_code``, ``redeem_code``, ``save_grant``, ``rotate_refresh``,
``rotate_refresh_for_client``) are ``SQLiteDatabase.unit``s: with ``group_commit`` (the
``sqlite_group_commit`` setting) the ones the event loop runs in one iteration share one
``BEGIN IMMEDIATE`` … ``COMMIT``, each in its own savepoint and each returning only after that
COMMIT; single use is unchanged (the guarded ``UPDATE … RETURNING`` still runs under the write
lock, on the one connection). See ``sqlite_db.py``.

The statements are ``sql.py``'s, rendered for sqlite3 once at import; rows convert through
``_rows.py``. ``sqlite_db.py`` holds the connection (opened lazily on ``migrate()`` or first
use, never at import or construction), its transactions, error translation and migrations;
``checkpoint.py`` the WAL checkpoints, off the event loop."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

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
from proofkey.store.accounts import SQLiteAccounts
from proofkey.store.admin_tokens import SQLiteAdminTokens
from proofkey.store.base import ChallengeReuse, ChallengeSighting
from proofkey.store.console import SQLiteConsole
from proofkey.store.dpop_secret import SQLiteDpopSecret
from proofkey.store.federation import SQLiteFederation
from proofkey.store.lifecycle import SQLiteLifecycle
from proofkey.store.replay import SQLiteReplays
from proofkey.store.sql import SQLITE, Statements
from proofkey.store.sqlite_db import SQLiteDatabase

__all__ = ["CODE_REPLAY_WINDOW", "GROUP_COMMIT", "SQLiteStore", "open_sqlite"]

GROUP_COMMIT = False
"""Whether a store groups its hot writes' commits by default (``sqlite_db``'s docstring)."""

_SQL = SQLITE.render(Statements())
_CLIENTS, _USERS, _PENDING, _PUSHED = _SQL.clients, _SQL.users, _SQL.interactions, _SQL.pushed
_SESSIONS, _CONSENTS, _CODES, _GRANTS = _SQL.sessions, _SQL.consents, _SQL.codes, _SQL.grants
_DEVICES, _KEYS, _INITIAL = _SQL.devices, _SQL.keys, _SQL.initial_tokens
_CHALLENGES = _SQL.challenges
_RESOURCES = _SQL.resources
_PURGES = SQLITE.purges()  # up to ``batch`` rows per table and call
_END_USER_ACCESS = (_USERS.forget_pending, _USERS.forget_unredeemed_codes,
                    _USERS.deny_approved_devices)
_REMOVED_WITH_USER = (_USERS.forget_pending, _USERS.forget_all_codes, _USERS.forget_devices)


# -- row <-> model: scope lists are space-separated words (in order), sets are sorted words,
# redirect URIs a JSON array (order matters).


def _set(values: frozenset[str]) -> str:
    return " ".join(sorted(values))


def _unset(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_CODEC = Codec(
    encode={"scope": " ".join, "resources": " ".join, "scopes": _set, "grant_types": _set,
            "prompt": _set, "redirect_uris": lambda uris: json.dumps(list(uris)),
            "post_logout_redirect_uris": lambda uris: json.dumps(list(uris))},
    decode={"scope": _words, "resources": _words, "scopes": _unset, "grant_types": _unset,
            "prompt": _unset, "redirect_uris": lambda text: tuple(json.loads(text)),
            "require_pushed_authorization_requests": bool, "resource_server": bool,
            "reject_reused_challenge": bool, "revoke_on_logout": bool, "require_dpop": bool,
            "post_logout_redirect_uris": lambda text: tuple(json.loads(text))},
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
    return _device(row[:-1]), row[-1]


class SQLiteStore(SQLiteFederation, SQLiteAccounts, SQLiteReplays, SQLiteConsole,
                  SQLiteAdminTokens, SQLiteLifecycle, SQLiteDpopSecret):
    """Every store role on one SQLite database file (or ``":memory:"``)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000,
                 group_commit: bool = GROUP_COMMIT) -> None:
        self.path = str(path)
        self._db = SQLiteDatabase(self.path, busy_timeout_ms / 1000, group_commit=group_commit)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- lifecycle and housekeeping ------------------------------------------------------------

    async def migrate(self) -> list[str]:
        return await self._db.migrate()

    async def purge_expired(self, now: int, batch: int = 1000) -> int:
        return sum(self._db.run(sql, now - grace, batch) for sql, grace in _PURGES)

    async def ping(self) -> None:
        self._db.get(bool, _SQL.ledger.ping)

    async def close(self) -> None:
        self._db.close()

    # -- clients and users ---------------------------------------------------------------------

    async def get_client(self, client_id: str) -> Client | None:
        return self._db.get(_client, _CLIENTS.get, client_id)

    async def add_client(self, client: Client) -> None:
        self._db.run(_CLIENTS.add, *_row(client), durable=True)

    async def list_clients(self) -> list[Client]:
        return self._db.get_all(_client, _CLIENTS.every)

    async def remove_client(self, client_id: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        with self._db.tx(durable=True) as db:
            if not db.execute(_CLIENTS.delete, (client_id,)).rowcount:
                return False
            db.execute(_CLIENTS.revoke_grants, (client_id, revoked_at))
            db.execute(_CLIENTS.forget_consents, (client_id,))
        return True

    # -- resources (RFC 8707) -------------------------------------------------------------------

    async def get_resource(self, uri: str) -> Resource | None:
        return self._db.get(_resource, _RESOURCES.get, uri)

    async def add_resource(self, resource: Resource) -> None:
        self._db.run(_RESOURCES.add, *_row(resource), durable=True)

    async def list_resources(self) -> list[Resource]:
        return self._db.get_all(_resource, _RESOURCES.every)

    async def remove_resource(self, uri: str) -> bool:
        return self._db.run(_RESOURCES.delete, uri, durable=True) > 0

    async def get_user(self, user_id: str) -> User | None:
        return self._db.get(_user, _USERS.get, user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return self._db.get(_user, _USERS.by_username, username)

    async def add_user(self, user: User) -> None:
        self._db.run(_USERS.add, *_row(user), durable=True)

    async def list_users(self) -> list[User]:
        return self._db.get_all(_user, _USERS.every)

    async def remove_user(self, username: str, *, now: int | None = None) -> bool:
        revoked_at = int(time.time()) if now is None else now
        with self._db.tx(durable=True) as db:
            gone = db.execute(_USERS.delete, (username,)).fetchall()
            for (user_id,) in gone:
                db.execute(_USERS.revoke_grants, (user_id, revoked_at))
                db.execute(_USERS.end_sessions, (user_id,))
                db.execute(_USERS.forget_consents, (user_id,))
                for sql in _REMOVED_WITH_USER:
                    db.execute(sql, (user_id,))
        return bool(gone)

    async def set_password(self, username: str, password_hash: str) -> bool:
        return self._db.run(_USERS.set_password, username, password_hash, durable=True) > 0

    async def end_user_access(self, user_id: str, now: int) -> tuple[int, int]:
        with self._db.tx(durable=True) as db:  # BEGIN IMMEDIATE: no redemption interleaves
            ended = db.execute(_USERS.end_sessions, (user_id,)).rowcount
            for sql in _END_USER_ACCESS:
                db.execute(sql, (user_id,))
            revoked = db.execute(_USERS.revoke_grants, (user_id, now)).rowcount
        return ended, revoked

    # -- interactions, pushed requests, sessions, consent --------------------------------------

    async def save_pending(self, pending: PendingAuthorization) -> None:
        self._db.run(_PENDING.save, *_row(pending))

    async def get_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        return self._db.get(_pending, _PENDING.get, handle_digest, now)

    async def set_pending_user(self, handle_digest: str, user_id: str, auth_time: int) -> None:
        self._db.run(_PENDING.set_user, handle_digest, user_id, auth_time)

    async def take_pending(self, handle_digest: str, now: int) -> PendingAuthorization | None:
        return self._db.get(_pending, _PENDING.take, handle_digest, now)

    async def save_pushed(self, request_digest: str, client_id: str,
                          params: Mapping[str, str], expires_at: int) -> None:
        self._db.run(_PUSHED.save, request_digest, client_id, json.dumps(dict(params)), expires_at)

    async def take_pushed(
        self, request_digest: str, now: int
    ) -> tuple[str, dict[str, str]] | None:
        return self._db.get(lambda row: (row[0], json.loads(row[1])), _PUSHED.take,
                         request_digest, now)  # fmt: skip

    async def save_session(self, session: Session) -> None:
        self._db.run(_SESSIONS.save, *_row(session))

    async def get_session(self, session_digest: str, now: int) -> Session | None:
        return self._db.get(_session, _SESSIONS.get, session_digest, now)

    async def delete_session(self, session_digest: str) -> None:
        self._db.run(_SESSIONS.delete, session_digest)

    async def get_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        scope = self._db.get(lambda row: str(row[0]), _CONSENTS.get, user_id, client_id)
        return frozenset(scope.split() if scope else ())

    async def save_consent(
        self, user_id: str, client_id: str, scope: Iterable[str], now: int
    ) -> None:
        with self._db.tx() as db:  # read, union, write under the write lock
            old = db.execute(_CONSENTS.get, (user_id, client_id)).fetchall()
            merged = frozenset(scope).union(old[0][0].split() if old else ())
            db.execute(_CONSENTS.merge, (user_id, client_id, _set(merged), now))

    # -- codes, grants, refresh and access tokens ----------------------------------------------

    async def save_code(self, code: AuthorizationCode) -> None:
        await self._db.unit_run(_CODES.save, *_row(code))

    async def redeem_code(
        self,
        code_digest: str,
        now: int,
        grant_id: str,
        grant_expires_at: int,
        refresh: RefreshToken | None,
    ) -> AuthorizationCode | None:
        check_family(grant_id, refresh)

        def redeem(db: sqlite3.Connection) -> AuthorizationCode | None:
            # the write lock is taken first: the UPDATE cannot be beaten
            rows = db.execute(_CODES.redeem, (now, grant_id, code_digest)).fetchall()
            if not rows:
                return None
            code = _code(rows[0])
            grant = Grant(grant_id, code.client_id, code.user_id, code.scope, code.auth_time,
                          now, grant_expires_at, resources=code.resources)  # fmt: skip
            db.execute(_GRANTS.save, _row(grant))
            if refresh is not None:
                db.execute(_GRANTS.save_refresh, _row(refresh))
            return code

        return await self._db.unit(redeem)

    async def find_code(self, code_digest: str) -> AuthorizationCode | None:
        return self._db.get(_code, _CODES.find, code_digest)

    async def save_grant(self, grant: Grant, refresh: RefreshToken | None) -> None:
        if refresh is None:
            await self._db.unit_run(_GRANTS.save, *_row(grant))
            return

        def save(db: sqlite3.Connection) -> None:
            db.execute(_GRANTS.save, _row(grant))
            db.execute(_GRANTS.save_refresh, _row(refresh))

        await self._db.unit(save)

    async def get_grant(self, grant_id: str) -> Grant | None:
        return self._db.get(_grant, _GRANTS.get, grant_id)

    async def revoke_grant(self, grant_id: str, now: int) -> bool:
        return self._db.run(_GRANTS.revoke, grant_id, now) > 0

    async def rotate_refresh(
        self, token_digest: str, now: int, successor: RefreshToken
    ) -> RefreshToken | None:
        params = (now, successor.token_digest, token_digest, successor.grant_id)

        def rotate(db: sqlite3.Connection) -> RefreshToken | None:
            retired = db.execute(_GRANTS.rotate, params).fetchall()
            if not retired:
                return None
            db.execute(_GRANTS.save_refresh, _row(successor))
            return _refresh(retired[0])

        return await self._db.unit(rotate)

    async def rotate_refresh_for_client(
        self, token_digest: str, client_id: str, now: int, successor_digest: str,
        successor_expires_at: int,
    ) -> Grant | None:
        params = (now, successor_digest, token_digest, client_id)

        def rotate(db: sqlite3.Connection) -> Grant | None:
            retired = db.execute(_GRANTS.rotate_for_client, params).fetchall()
            if not retired:
                return None
            grant_id = retired[0][0]
            db.execute(_GRANTS.save_refresh, _row(RefreshToken(
                successor_digest, grant_id, client_id, now, successor_expires_at, token_digest)))
            return _grant(db.execute(_GRANTS.get, (grant_id,)).fetchall()[0])

        return await self._db.unit(rotate)

    async def find_refresh(self, token_digest: str) -> RefreshToken | None:
        return self._db.get(_refresh, _GRANTS.find_refresh, token_digest)

    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        self._db.run(_GRANTS.revoke_access, jti, expires_at)

    async def is_access_token_revoked(self, jti: str) -> bool:
        return bool(self._db.get(bool, _GRANTS.is_access_revoked, jti))

    # -- device authorizations -----------------------------------------------------------------

    async def save_device(self, device: DeviceAuthorization) -> None:
        self._db.run(_DEVICES.save, *_row(device))

    async def get_device_by_user_code(
        self, user_code_digest: str, now: int
    ) -> DeviceAuthorization | None:
        return self._db.get(_device, _DEVICES.by_user_code, user_code_digest, now)

    async def decide_device(
        self, user_code_digest: str, now: int, *, approve: bool, user_id: str, auth_time: int
    ) -> bool:
        decision = ("approved", user_id, auth_time) if approve else ("denied", None, None)
        return self._db.run(_DEVICES.decide, user_code_digest, now, *decision) > 0

    async def poll_device(
        self, device_digest: str, now: int
    ) -> tuple[DeviceAuthorization, int | None] | None:
        return self._db.get(_polled, _DEVICES.poll, device_digest, now)

    async def consume_device(
        self, device_digest: str, now: int, grant: Grant, refresh: RefreshToken | None
    ) -> DeviceAuthorization | None:
        check_family(grant.grant_id, refresh)
        with self._db.tx() as db:
            rows = db.execute(_DEVICES.consume, (now, grant.grant_id, device_digest)).fetchall()
            if not rows:
                return None
            db.execute(_GRANTS.save, _row(grant))
            if refresh is not None:
                db.execute(_GRANTS.save_refresh, _row(refresh))
        return _device(rows[0])

    # -- dynamic registration (RFC 7591, RFC 7592) ----------------------------------------------

    async def update_client(self, client: Client, expected_version: int | None = None) -> bool:
        row = _row(client)[:-1]  # the version is the store's (the last field)
        if expected_version is None:
            return self._db.run(_CLIENTS.update, *row, durable=True) > 0
        return self._db.run(_CLIENTS.update_if, *row, expected_version,
                               durable=True) > 0

    async def record_client_use(self, since: int, now: int) -> int:
        return self._db.run(_CLIENTS.record_use, since, now)

    async def unused_clients(self, before: int) -> list[Client]:
        return self._db.get_all(_client, _CLIENTS.unused, before)

    async def add_initial_token(self, token: InitialAccessToken) -> None:
        self._db.run(_INITIAL.add, *_row(token), durable=True)

    async def use_initial_token(self, token_digest: str, now: int) -> InitialAccessToken | None:
        return self._db.get(_initial, _INITIAL.use, token_digest, now)

    async def list_initial_tokens(self) -> list[InitialAccessToken]:
        return self._db.get_all(_initial, _INITIAL.every)

    async def revoke_initial_token(self, token_id: str) -> bool:
        return self._db.run(_INITIAL.revoke, token_id, durable=True) > 0

    # -- challenge digests (the challenge-reuse signal) --------------------------------------

    async def note_challenge(self, client_id: str, challenge_digest: str, now: int,
                             expires_at: int) -> ChallengeSighting:
        sighting = self._db.get(_sighting, _CHALLENGES.note, client_id, challenge_digest,
                                now, expires_at)
        assert sighting is not None  # an upsert with RETURNING always returns its row
        return sighting

    async def challenge_reuse(self, now: int) -> list[ChallengeReuse]:
        return self._db.get_all(_reuse, _CHALLENGES.reused, now)

    # -- signing keys --------------------------------------------------------------------------

    async def list_keys(self) -> list[SigningKey]:
        return self._db.get_all(_key, _KEYS.every)

    async def add_key(self, key: SigningKey) -> None:
        self._db.run(_KEYS.add, *_row(key), durable=True)

    async def retire_key(self, kid: str, now: int) -> bool:
        return self._db.run(_KEYS.retire, kid, now, durable=True) > 0

    async def delete_key(self, kid: str) -> bool:
        return self._db.run(_KEYS.delete, kid, durable=True) > 0


def open_sqlite(url: str, *, group_commit: bool = GROUP_COMMIT) -> SQLiteStore:
    """The store for ``sqlite:///abs/path.db`` (``sqlite:///:memory:`` for a throw-away one)."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.scheme != "sqlite" or parts.netloc or parts.query or parts.fragment or len(path) < 2:
        raise ValueError(f"expected sqlite:///absolute/path.db, got {url!r}")
    return SQLiteStore(":memory:" if path == "/:memory:" else path, group_commit=group_commit)
