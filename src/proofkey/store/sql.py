"""Every statement of the SQL stores, written once per role and rendered once per backend.
(Over the ~400-line guideline: one small class per role, kept side by side so both backends'
SQL is read in one place; a role that grows past a screen moves to its own module, as
``store/federation.py`` and ``store/accounts.py`` did.)

Statements use numbered parameters (``$1``, ``$2`` …; one may appear twice) and ``{…}`` names:
column lists such as ``{code}`` (the model's fields in order, ``_rows.COLUMNS``; never input)
and the few words the two dialects spell differently. ``Dialect.render`` turns a role's
statements into one driver's text: asyncpg keeps ``$n``, sqlite3 gets ``?n``. Backends render
at import, never per call, so each statement is one constant string the driver prepares once
(asyncpg's per-connection statement cache, sqlite3's ``cached_statements``).

The real differences between the backends, kept explicit and few:
- words: ``{bytewise}`` (PostgreSQL sorts text by collation; ``COLLATE "C"`` sorts by bytes,
  as SQLite does), ``{key_order}``, ``{greatest}``, ``{merged_scope}`` (PostgreSQL unions the
  TEXT[] consent inside the upsert; SQLite's caller unions under its write lock);
- ``Dialect.purge`` (SQLite deletes a batch by rowid, PostgreSQL by ctid) and
  ``Dialect.ledger_exists`` (the catalogues differ);
- ``Atomic``: PostgreSQL's one-statement forms (data-modifying CTEs around the shared
  single-use UPDATEs). SQLite runs the same shared pieces inside one ``BEGIN IMMEDIATE``.

To add a column: a migration per backend and the model's field (column lists follow the
fields). To add a statement: a field in its role's class; both backends render it.
Over 250 lines: the SQL of every role, and the two dialects that render it; nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from proofkey.models import Grant, RefreshToken
from proofkey.store._rows import COLUMNS, FIELDS, PURGED, TABLES

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Atomic",
    "Challenges",
    "Clients",
    "Codes",
    "Consents",
    "Devices",
    "Dialect",
    "Grants",
    "InitialTokens",
    "Interactions",
    "Keys",
    "Ledger",
    "Pushed",
    "Resources",
    "Sessions",
    "Statements",
    "Users",
]

_S = TypeVar("_S", bound="DataclassInstance")
_PARAMETER = re.compile(r"\$(\d+)")


def _update(name: str) -> str:
    """``UPDATE <table> SET <field 2> = $2, … WHERE <field 1> = $1``: a row in place."""
    table, model = TABLES[name]
    key, *rest = FIELDS[model]
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(rest, 2))
    return f"UPDATE {table} SET {sets} WHERE {key} = $1"  # noqa: S608 - constants


def _update_client(*, conditional: bool = False) -> str:
    """``UPDATE clients``: every field but the id and the version from the parameters, the
    version one up; ``conditional``: only where the version is the last parameter."""
    key, *rest, version = FIELDS[TABLES["client"][1]]
    assert version == "version", "the store writes the client version: keep it the last field"
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(rest, 2))
    where = f" AND version = ${len(rest) + 2}" if conditional else ""
    return f"UPDATE clients SET {sets}, version = version + 1 WHERE {key} = $1{where}"  # noqa: S608


def _insert(name: str) -> str:
    """``INSERT INTO <table> (<columns>) VALUES ($1, …)``, one parameter per model field."""
    table, model = TABLES[name]
    marks = ", ".join(f"${i}" for i in range(1, len(FIELDS[model]) + 1))
    return f"INSERT INTO {table} ({{{name}}}) VALUES ({marks})"  # noqa: S608 - constants


# A refresh token is usable only while its grant is active and unexpired ($1: now).
_GRANT_LIVE = ("EXISTS (SELECT 1 FROM grants AS g WHERE g.grant_id = refresh_tokens.grant_id"
               " AND g.revoked_at IS NULL AND g.expires_at > $1)")  # fmt: skip


# -- the roles ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clients:
    get: str = "SELECT {client} FROM clients WHERE client_id = $1"
    add: str = _insert("client")
    every: str = "SELECT {client} FROM clients ORDER BY client_id{bytewise}"
    delete: str = "DELETE FROM clients WHERE client_id = $1"
    revoke_grants: str = ("UPDATE grants SET revoked_at = $2 WHERE client_id = $1"
                          " AND revoked_at IS NULL")  # fmt: skip
    forget_consents: str = "DELETE FROM consents WHERE client_id = $1"
    # RFC 7592 §2.2: every field but the id and the version, in place ($1 the id, then the
    # rest in order); the version goes up by one. ``update_if`` only at version $<last>
    # (the admin API's If-Match: a compare-and-swap that holds across server instances).
    update: str = _update_client()
    update_if: str = _update_client(conditional=True)
    # Dynamic clients that issued a grant or a refresh token since $1 were used at $2
    # (housekeeping, hourly: no write on the token path).
    record_use: str = ("UPDATE clients SET last_used_at = $2 WHERE registered_by = 'dynamic'"
                       " AND (last_used_at IS NULL OR last_used_at < $2) AND client_id IN"
                       " (SELECT client_id FROM grants WHERE created_at >= $1 UNION"
                       " SELECT client_id FROM refresh_tokens WHERE issued_at >= $1)")
    # Dynamic clients not seen in use since $1 (never used: created before $1).
    unused: str = ("SELECT {client} FROM clients WHERE registered_by = 'dynamic'"
                   " AND coalesce(last_used_at, created_at) < $1"
                   " ORDER BY client_id{bytewise}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class InitialTokens:
    """Initial access tokens for ``POST /register`` (RFC 7591 §3)."""

    add: str = _insert("initial")
    # One use, atomically: of N concurrent callers with the last use, exactly one wins.
    use: str = ("UPDATE initial_access_tokens SET uses_left = uses_left - 1"
                " WHERE token_digest = $1 AND expires_at > $2 AND uses_left > 0"
                " RETURNING {initial}")  # fmt: skip
    every: str = "SELECT {initial} FROM initial_access_tokens ORDER BY created_at, token_id"
    revoke: str = "DELETE FROM initial_access_tokens WHERE token_id = $1"


@dataclass(frozen=True, slots=True)
class Resources:
    """Registered protected resources (RFC 8707)."""

    get: str = "SELECT {resource} FROM resources WHERE uri = $1"
    add: str = _insert("resource")
    every: str = "SELECT {resource} FROM resources ORDER BY uri{bytewise}"
    delete: str = "DELETE FROM resources WHERE uri = $1"


@dataclass(frozen=True, slots=True)
class Users:
    get: str = "SELECT {user} FROM users WHERE user_id = $1"
    by_username: str = "SELECT {user} FROM users WHERE username = $1"
    add: str = _insert("user")
    every: str = "SELECT {user} FROM users ORDER BY username{bytewise}"
    delete: str = "DELETE FROM users WHERE username = $1 RETURNING user_id"
    revoke_grants: str = ("UPDATE grants SET revoked_at = $2 WHERE user_id = $1"
                          " AND revoked_at IS NULL")  # fmt: skip
    end_sessions: str = "DELETE FROM sessions WHERE user_id = $1"
    # A password change ends access (flows/admin.change_password): these, then revoke_grants.
    forget_pending: str = "DELETE FROM pending_authorizations WHERE user_id = $1"
    forget_unredeemed_codes: str = ("DELETE FROM auth_codes WHERE user_id = $1"
                                    " AND redeemed_at IS NULL")  # fmt: skip
    deny_approved_devices: str = ("UPDATE device_authorizations SET status = 'denied'"
                                  " WHERE user_id = $1 AND status = 'approved'"
                                  " AND consumed_at IS NULL")  # fmt: skip
    forget_consents: str = "DELETE FROM consents WHERE user_id = $1"
    # Removal leaves nothing that could still become a token (docs/admin.md).
    forget_all_codes: str = "DELETE FROM auth_codes WHERE user_id = $1"
    forget_devices: str = "DELETE FROM device_authorizations WHERE user_id = $1"
    set_password: str = "UPDATE users SET password_hash = $2 WHERE username = $1"  # noqa: S105


@dataclass(frozen=True, slots=True)
class Interactions:
    """Pending authorization requests between /authorize and the code."""

    save: str = _insert("pending")
    get: str = ("SELECT {pending} FROM pending_authorizations"
                " WHERE handle_digest = $1 AND expires_at > $2")  # fmt: skip
    set_user: str = ("UPDATE pending_authorizations SET user_id = $2, auth_time = $3"
                     " WHERE handle_digest = $1")  # fmt: skip
    take: str = ("DELETE FROM pending_authorizations WHERE handle_digest = $1"
                 " AND expires_at > $2 RETURNING {pending}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Pushed:
    """Pushed authorization requests (RFC 9126); ``params`` is JSON text (JSONB on PostgreSQL,
    which asyncpg sends and returns as text)."""

    save: str = ("INSERT INTO pushed_requests (request_digest, client_id, params, expires_at)"
                 " VALUES ($1, $2, $3, $4)")  # fmt: skip
    take: str = ("DELETE FROM pushed_requests WHERE request_digest = $1 AND expires_at > $2"
                 " RETURNING client_id, params")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sessions:
    save: str = _insert("session")
    get: str = "SELECT {session} FROM sessions WHERE session_digest = $1 AND expires_at > $2"
    delete: str = "DELETE FROM sessions WHERE session_digest = $1"


@dataclass(frozen=True, slots=True)
class Consents:
    get: str = "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2"
    merge: str = ("INSERT INTO consents (user_id, client_id, scope, updated_at)"
                  " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id)"
                  " DO UPDATE SET scope = {merged_scope}, updated_at = excluded.updated_at")


@dataclass(frozen=True, slots=True)
class Codes:
    save: str = _insert("code")
    # Single use: $1 now, $2 the grant it creates, $3 the code's digest.
    redeem: str = ("UPDATE auth_codes SET redeemed_at = $1, grant_id = $2 WHERE code_digest = $3"
                   " AND redeemed_at IS NULL AND expires_at > $1 RETURNING {code}")  # fmt: skip
    find: str = "SELECT {code} FROM auth_codes WHERE code_digest = $1"


@dataclass(frozen=True, slots=True)
class Grants:
    """Grants, their refresh tokens and revoked access tokens."""

    save: str = _insert("grant")
    save_refresh: str = _insert("refresh")
    get: str = "SELECT {grant} FROM grants WHERE grant_id = $1"
    revoke: str = "UPDATE grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL"
    # Single use: $1 now, $2 the successor's digest, $3 the token's digest, $4 its grant.
    rotate: str = ("UPDATE refresh_tokens SET rotated_at = $1, replaced_by = $2"  # noqa: S608
                   " WHERE token_digest = $3 AND grant_id = $4 AND rotated_at IS NULL"
                   f" AND expires_at > $1 AND {_GRANT_LIVE} RETURNING {{refresh}}")
    # The common refresh: "issued to client $4" in place of "of grant $4"; the grant comes back.
    # Only a token not bound to a DPoP key: a bound one takes the checked path.
    rotate_for_client: str = (
        "UPDATE refresh_tokens SET rotated_at = $1, replaced_by = $2"  # noqa: S608
        " WHERE token_digest = $3 AND client_id = $4 AND rotated_at IS NULL"
        " AND dpop_jkt IS NULL"
        f" AND expires_at > $1 AND {_GRANT_LIVE} RETURNING grant_id"
    )
    find_refresh: str = "SELECT {refresh} FROM refresh_tokens WHERE token_digest = $1"
    revoke_access: str = ("INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)"
                          " ON CONFLICT (jti) DO UPDATE SET expires_at ="
                          " {greatest}(revoked_access_tokens.expires_at, excluded.expires_at)")
    is_access_revoked: str = "SELECT 1 FROM revoked_access_tokens WHERE jti = $1"


@dataclass(frozen=True, slots=True)
class Devices:
    """Device authorization requests (RFC 8628), found by device code or user code digest."""

    save: str = _insert("device")
    by_user_code: str = ("SELECT {device} FROM device_authorizations"
                         " WHERE user_code_digest = $1 AND expires_at > $2")  # fmt: skip
    decide: str = ("UPDATE device_authorizations SET status = $3, user_id = $4, auth_time = $5"
                   " WHERE user_code_digest = $1 AND status = 'pending' AND expires_at > $2")
    # The right-hand sides of SET see the row as it was: the old last_polled_at is kept.
    poll: str = ("UPDATE device_authorizations SET previous_poll_at = last_polled_at,"
                 " last_polled_at = $2 WHERE device_digest = $1"
                 " RETURNING {device}, previous_poll_at")  # fmt: skip
    # Single use: $1 now, $2 the grant it creates, $3 the device code's digest.
    consume: str = ("UPDATE device_authorizations SET consumed_at = $1, grant_id = $2"
                    " WHERE device_digest = $3 AND status = 'approved' AND consumed_at IS NULL"
                    " AND expires_at > $1 RETURNING {device}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Challenges:
    """Digests of each client's recent code_challenge values (the challenge-reuse signal).

    ``note`` is ONE upsert whose answer tells new from reused: ``seen_count`` 1 is the first
    sighting; a row past its ``expires_at`` that the purge has not reached yet starts over.
    $1 client, $2 digest, $3 now, $4 expires_at (now plus the window)."""

    note: str = (
        "INSERT INTO pkce_challenges (client_id, challenge_digest, first_seen, last_seen,"
        " seen_count, expires_at) VALUES ($1, $2, $3, $3, 1, $4)"
        " ON CONFLICT (client_id, challenge_digest) DO UPDATE SET"
        " first_seen = CASE WHEN pkce_challenges.expires_at <= excluded.last_seen"
        " THEN excluded.first_seen ELSE pkce_challenges.first_seen END,"
        " seen_count = CASE WHEN pkce_challenges.expires_at <= excluded.last_seen"
        " THEN 1 ELSE pkce_challenges.seen_count + 1 END,"
        " last_seen = excluded.last_seen, expires_at = excluded.expires_at"
        " RETURNING seen_count, first_seen"
    )
    # Per client, of the rows still in their window ($1: now): challenges seen more than once,
    # and the sightings after each one's first.
    reused: str = ("SELECT client_id, count(*), CAST(sum(seen_count - 1) AS BIGINT)"
                   " FROM pkce_challenges WHERE seen_count > 1 AND expires_at > $1"
                   " GROUP BY client_id ORDER BY client_id{bytewise}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Keys:
    every: str = "SELECT {key} FROM signing_keys ORDER BY {key_order}"
    add: str = _insert("key")
    retire: str = ("UPDATE signing_keys SET retired_at = $2 WHERE kid = $1"
                   " AND retired_at IS NULL")  # fmt: skip
    delete: str = "DELETE FROM signing_keys WHERE kid = $1"


@dataclass(frozen=True, slots=True)
class Ledger:
    """The migrations applied (``schema.apply_migrations``), and liveness."""

    applied: str = "SELECT version FROM schema_migrations"
    record: str = "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)"
    ping: str = "SELECT 1"


@dataclass(frozen=True, slots=True)
class Statements:
    """Every role's statements, as written or as one dialect renders them."""

    clients: Clients = field(default_factory=Clients)
    users: Users = field(default_factory=Users)
    interactions: Interactions = field(default_factory=Interactions)
    pushed: Pushed = field(default_factory=Pushed)
    sessions: Sessions = field(default_factory=Sessions)
    consents: Consents = field(default_factory=Consents)
    codes: Codes = field(default_factory=Codes)
    grants: Grants = field(default_factory=Grants)
    devices: Devices = field(default_factory=Devices)
    keys: Keys = field(default_factory=Keys)
    initial_tokens: InitialTokens = field(default_factory=InitialTokens)
    challenges: Challenges = field(default_factory=Challenges)
    ledger: Ledger = field(default_factory=Ledger)
    resources: Resources = field(default_factory=Resources)


# -- PostgreSQL's one-statement forms ----------------------------------------------------------

_SHARED = Statements()


def _typed_marks(model: type[Any], start: int) -> str:
    """``$start::type, …``, one per field of ``model`` (str, int or tuple of str): in ``INSERT
    … SELECT`` PostgreSQL does not take a parameter's type from the target column."""
    types = {"str": "text", "int": "bigint", "tuple": "text[]"}
    return ", ".join(f"${i}::{types[str(f.type).partition('[')[0].partition(' ')[0]]}"
                     for i, f in enumerate(fields(model), start))  # fmt: skip


_GRANT_WIDTH, _REFRESH_WIDTH = len(FIELDS[Grant]), len(FIELDS[RefreshToken])
# Redeem the code and create its grant from the code's row: each INSERT reads the row the one
# before it returned, so it writes nothing when the UPDATE lost. $4: the grant's expires_at.
_REDEEM = (f"WITH won AS ({_SHARED.codes.redeem}), grant_row AS (INSERT INTO grants"  # noqa: S608
           " (grant_id, client_id, user_id, scope, auth_time, created_at, expires_at, resources)"
           " SELECT grant_id, client_id, user_id, scope, auth_time, redeemed_at, $4::bigint,"
           " resources"
           " FROM won RETURNING grant_id)")
# Consume the device request and insert the grant given as $4 … (then its refresh token).
_CONSUME = (f"WITH won AS ({_SHARED.devices.consume}), grant_row AS (INSERT INTO grants"  # noqa: S608
            f" ({{grant}}) SELECT {_typed_marks(Grant, 4)} FROM won RETURNING grant_id)")


@dataclass(frozen=True, slots=True)
class Atomic:
    """PostgreSQL only: what SQLite does in one ``BEGIN IMMEDIATE`` transaction, here in ONE
    statement (one round trip): data-modifying CTEs around the shared single-use UPDATE, which
    write nothing when it returned no row."""

    redeem: str = f"{_REDEEM} SELECT {{code}} FROM won"  # noqa: S608
    # … and the first refresh token, $5 … (its row), under the grant.
    redeem_with_refresh: str = (f"{_REDEEM}, refresh AS (INSERT INTO refresh_tokens"  # noqa: S608
                                f" ({{refresh}}) SELECT {_typed_marks(RefreshToken, 5)}"
                                " FROM grant_row) SELECT {code} FROM won")
    # Both rows or neither (the foreign key is checked at the statement's end).
    save_grant_and_refresh: str = (
        f"WITH g AS ({_SHARED.grants.save}) INSERT INTO refresh_tokens ({{refresh}})"  # noqa: S608
        f" VALUES ({', '.join(f'${_GRANT_WIDTH + i}' for i in range(1, _REFRESH_WIDTH + 1))})"
    )
    # Retire the token and insert its successor, $5 … (its row), only if one was retired.
    rotate: str = (f"WITH retired AS ({_SHARED.grants.rotate}), successor AS"  # noqa: S608
                   f" (INSERT INTO refresh_tokens ({{refresh}})"
                   f" SELECT {_typed_marks(RefreshToken, 5)} FROM retired)"
                   " SELECT {refresh} FROM retired")
    # The common refresh: the successor ($2, expiring $5) under the retired token's grant; the
    # grant comes back as the statement's snapshot saw it when the UPDATE checked it live.
    rotate_for_client: str = (
        f"WITH retired AS ({_SHARED.grants.rotate_for_client}),"  # noqa: S608
        " successor AS (INSERT INTO refresh_tokens (token_digest, grant_id, client_id,"
        " issued_at, expires_at, parent_digest) SELECT $2, grant_id, $4, $1, $5::bigint, $3"
        " FROM retired) SELECT {grant} FROM retired JOIN grants USING (grant_id)"
    )
    consume_device: str = f"{_CONSUME} SELECT {{device}} FROM won"  # noqa: S608
    consume_device_with_refresh: str = (
        f"{_CONSUME}, refresh AS (INSERT INTO refresh_tokens ({{refresh}})"  # noqa: S608
        f" SELECT {_typed_marks(RefreshToken, 4 + _GRANT_WIDTH)} FROM grant_row)"
        " SELECT {device} FROM won"
    )
    # Removing a user or client ($1) revokes its grants (at $2) and deletes what hangs off it;
    # the command tag ``SELECT n`` counts the removed rows.
    remove_user: str = (
        "WITH gone AS (DELETE FROM users WHERE username = $1 RETURNING user_id),"
        " revoked AS (UPDATE grants SET revoked_at = $2 WHERE revoked_at IS NULL"
        " AND user_id IN (SELECT user_id FROM gone)),"
        " ended AS (DELETE FROM sessions WHERE user_id IN (SELECT user_id FROM gone)),"
        " forgotten AS (DELETE FROM consents WHERE user_id IN (SELECT user_id FROM gone)),"
        " pending AS (DELETE FROM pending_authorizations"
        " WHERE user_id IN (SELECT user_id FROM gone)),"
        " codes AS (DELETE FROM auth_codes WHERE user_id IN (SELECT user_id FROM gone)),"
        " devices AS (DELETE FROM device_authorizations"
        " WHERE user_id IN (SELECT user_id FROM gone))"
        " SELECT user_id FROM gone"
    )
    remove_client: str = (
        "WITH gone AS (DELETE FROM clients WHERE client_id = $1 RETURNING client_id),"
        " revoked AS (UPDATE grants SET revoked_at = $2 WHERE revoked_at IS NULL"
        " AND client_id IN (SELECT client_id FROM gone)),"
        " forgotten AS (DELETE FROM consents WHERE client_id IN (SELECT client_id FROM gone))"
        " SELECT client_id FROM gone"
    )


# -- dialects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one driver spells the statements: its parameter mark and the differing words."""

    name: str  # also the folder of its migrations
    mark: str  # "$" (asyncpg: $1 …) or "?" (sqlite3: ?1 …)
    words: Mapping[str, str]
    purge: str  # up to $2 rows of {table} expired by $1, oldest first
    ledger_exists: str  # one row, one truthy column: has schema_migrations been created?

    def sql(self, template: str) -> str:
        """One statement as this driver runs it."""
        text = template.format_map({**COLUMNS, **self.words})
        return text if self.mark == "$" else _PARAMETER.sub(rf"{self.mark}\1", text)

    def render(self, statements: _S) -> _S:
        """A copy of a role's statements (or of ``Statements``, every role's) as run here."""
        rendered: dict[str, Any] = {}
        for f in fields(statements):
            value = getattr(statements, f.name)
            rendered[f.name] = self.sql(value) if isinstance(value, str) else self.render(value)
        return replace(statements, **rendered)

    def purges(self) -> tuple[tuple[str, int], ...]:
        """(statement, grace) per purged table: rows expired ``grace`` seconds ago go."""
        return tuple((self.sql(self.purge.replace("{table}", table)), grace)
                     for table, grace in PURGED)  # fmt: skip


SQLITE = Dialect(
    "sqlite", "?",
    {"bytewise": "", "key_order": "created_at", "greatest": "max",
     "merged_scope": "excluded.scope"},
    "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"
    " WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
    "SELECT count(*) FROM sqlite_schema WHERE name = 'schema_migrations'",
)  # fmt: skip
POSTGRES = Dialect(
    "postgres", "$",
    {"bytewise": ' COLLATE "C"', "key_order": 'created_at, kid COLLATE "C"',
     "greatest": "GREATEST",
     "merged_scope": 'ARRAY (SELECT DISTINCT s COLLATE "C" FROM unnest(consents.scope'
                     " || excluded.scope) AS s ORDER BY 1)"},
    # A TID scan: no second index lookup.
    "DELETE FROM {table} WHERE ctid = ANY (ARRAY (SELECT ctid FROM {table}"
    " WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))",
    "SELECT to_regclass('schema_migrations') IS NOT NULL",
)  # fmt: skip
