"""The federation roles of the SQL stores: connectors, user links and upstream transactions.

Kept apart from ``sqlite.py`` and ``postgres.py`` so the two backends share one set of
statements (rendered per dialect, as in ``sql.py``) and each store class mixes in its twin:
``SQLiteFederation`` runs them inline, ``PostgresFederation`` awaits the pool. The upstream
transaction is taken with one ``DELETE … RETURNING`` (single use, like ``take_pending``).
Removing a connector deletes its links in the same call, so its users can never come back
through a connector re-added under that name for another issuer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proofkey.models import Connector, UpstreamLogin, User
from proofkey.store.sql import POSTGRES, SQLITE, Dialect

if TYPE_CHECKING:  # the drivers load only with their backend
    from proofkey.store.postgres_db import PostgresPool
    from proofkey.store.sqlite_db import SQLiteDatabase

__all__ = ["PostgresFederation", "SQLiteFederation"]

_CONNECTOR = ("name, kind, issuer, client_id, secret_sealed, scope, legacy,"
              " authorization_endpoint, token_endpoint, userinfo_endpoint, claims, created_at")


@dataclass(frozen=True, slots=True)
class _Federation:
    add_connector: str = (f"INSERT INTO connectors ({_CONNECTOR})"  # noqa: S608 - constants
                          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
    get_connector: str = f"SELECT {_CONNECTOR} FROM connectors WHERE name = $1"  # noqa: S608
    every_connector: str = f"SELECT {_CONNECTOR} FROM connectors ORDER BY name"  # noqa: S608
    delete_connector: str = "DELETE FROM connectors WHERE name = $1"
    delete_links: str = "DELETE FROM user_links WHERE connector = $1"
    get_link: str = "SELECT user_id FROM user_links WHERE connector = $1 AND subject = $2"
    add_link: str = ("INSERT INTO user_links (connector, subject, user_id, created_at)"
                     " VALUES ($1, $2, $3, $4)")
    user_by_email: str = "SELECT {user} FROM users WHERE email = $1 LIMIT 2"
    save_login: str = ("INSERT INTO upstream_logins (state_digest, connector, browser_digest,"
                       " sealed, expires_at) VALUES ($1, $2, $3, $4, $5)")
    take_login: str = ("DELETE FROM upstream_logins WHERE state_digest = $1 AND expires_at > $2"
                       " RETURNING connector, browser_digest, sealed")


def _render(dialect: Dialect) -> _Federation:
    return dialect.render(_Federation())


def _connector_row(c: Connector) -> tuple[Any, ...]:
    return (c.name, c.kind, c.issuer, c.client_id, c.secret_sealed, " ".join(c.scope),
            c.legacy, c.authorization_endpoint, c.token_endpoint, c.userinfo_endpoint,
            json.dumps([list(pair) for pair in c.claims]), c.created_at)


def _connector(row: Any) -> Connector:
    claims = tuple((str(a), str(b)) for a, b in json.loads(row[10]))
    return Connector(row[0], row[1], row[2], row[3], row[4], tuple(row[5].split()),
                     bool(row[6]), row[7], row[8], row[9], claims, row[11])


def _user(row: Any) -> User:
    return User(*row)


def _login(row: Any) -> UpstreamLogin:
    return UpstreamLogin(row[0], row[1], row[2])


_LITE, _PG = _render(SQLITE), _render(POSTGRES)


class SQLiteFederation:
    """The federation roles on ``self._db``."""

    _db: SQLiteDatabase

    async def add_connector(self, connector: Connector) -> None:
        self._db.run(_LITE.add_connector, *_connector_row(connector))

    async def get_connector(self, name: str) -> Connector | None:
        return self._db.get(_connector, _LITE.get_connector, name)

    async def list_connectors(self) -> list[Connector]:
        return self._db.get_all(_connector, _LITE.every_connector)

    async def remove_connector(self, name: str) -> bool:
        with self._db.tx() as conn:
            conn.execute(_LITE.delete_links, (name,))
            return bool(conn.execute(_LITE.delete_connector, (name,)).rowcount)

    async def get_link(self, connector: str, subject: str) -> str | None:
        return self._db.get(lambda row: str(row[0]), _LITE.get_link, connector, subject)

    async def add_link(self, connector: str, subject: str, user_id: str, now: int) -> None:
        self._db.run(_LITE.add_link, connector, subject, user_id, now)

    async def users_with_email(self, email: str) -> list[User]:
        with self._db.tx() as conn:
            return [_user(row) for row in conn.execute(_LITE.user_by_email, (email,))]

    async def save_upstream_login(self, state_digest: str, login: UpstreamLogin,
                                  expires_at: int) -> None:
        self._db.run(_LITE.save_login, state_digest, login.connector, login.browser_digest,
                     login.sealed, expires_at)

    async def take_upstream_login(self, state_digest: str, now: int) -> UpstreamLogin | None:
        return self._db.get(_login, _LITE.take_login, state_digest, now)


class PostgresFederation:
    """The federation roles on ``self._db``."""

    _db: PostgresPool

    async def add_connector(self, connector: Connector) -> None:
        await self._db.run(_PG.add_connector, *_connector_row(connector))

    async def get_connector(self, name: str) -> Connector | None:
        return await self._db.get(_connector, _PG.get_connector, name)

    async def list_connectors(self) -> list[Connector]:
        return await self._db.get_all(_connector, _PG.every_connector)

    async def remove_connector(self, name: str) -> bool:
        async def remove(db: Any) -> bool:
            async with db.transaction():
                await db.execute(_PG.delete_links, name)
                return str(await db.execute(_PG.delete_connector, name)) != "DELETE 0"

        return await self._db.with_connection(remove)

    async def get_link(self, connector: str, subject: str) -> str | None:
        return await self._db.get(lambda row: str(row[0]), _PG.get_link, connector, subject)

    async def add_link(self, connector: str, subject: str, user_id: str, now: int) -> None:
        await self._db.run(_PG.add_link, connector, subject, user_id, now)

    async def users_with_email(self, email: str) -> list[User]:
        async def fetch(db: Any) -> list[User]:
            return [_user(row) for row in await db.fetch(_PG.user_by_email, email)]

        return await self._db.with_connection(fetch)

    async def save_upstream_login(self, state_digest: str, login: UpstreamLogin,
                                  expires_at: int) -> None:
        await self._db.run(_PG.save_login, state_digest, login.connector,
                           login.browser_digest, login.sealed, expires_at)

    async def take_upstream_login(self, state_digest: str, now: int) -> UpstreamLogin | None:
        return await self._db.get(_login, _PG.take_login, state_digest, now)
