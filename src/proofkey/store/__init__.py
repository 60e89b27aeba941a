"""Persistence behind small Protocols; ``open_store`` picks the backend from a database URL.

Import-cheap: the concrete backends (and their drivers) load only when a store is opened.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from proofkey.store.base import AlreadyExists, Store, StoreUnavailable

__all__ = ["AlreadyExists", "Store", "StoreUnavailable", "open_store"]

_POOL_OPTIONS = frozenset({"pool_min", "pool_max", "command_timeout", "connect_timeout"})


def open_store(url: str, *, sqlite_group_commit: bool = False) -> Store:
    """The store for ``url``: ``sqlite:///abs/path.db`` (or ``sqlite:///:memory:``), or
    ``postgresql://user[:password]@host[:port]/db[?params]`` (``postgres://`` too).

    PostgreSQL URLs may carry pool options, which are removed before the URL reaches asyncpg:
    ``pool_min`` (connections kept open, default 1), ``pool_max`` (at most, 10),
    ``command_timeout`` and ``connect_timeout`` (seconds, 5 each). asyncpg takes the remaining
    parameters: its own (``sslmode``, ``host``, …) and, otherwise, server settings for every
    connection, e.g. ``search_path=proofkey`` or ``synchronous_commit=off``.

    ``sqlite_group_commit`` (the setting of that name) lets a SQLite store's concurrent hot
    writes share one commit (``store/sqlite_db.py``); PostgreSQL ignores it: its server already
    shares WAL flushes between concurrent commits.

    Nothing connects here; the store opens its connection(s) on ``migrate()`` or first use.
    """
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        from proofkey.store.sqlite import open_sqlite  # lazy: keeps sqlite3 unloaded

        return open_sqlite(url, group_commit=sqlite_group_commit)
    if scheme in {"postgresql", "postgres"}:
        return _open_postgres(url)
    raise ValueError(
        f"unsupported database URL scheme {scheme!r} (expected sqlite:/// or postgresql://)"
    )


def _open_postgres(url: str) -> Store:
    from proofkey.store.postgres import PostgresStore  # lazy: keeps asyncpg unloaded

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in query if key in _POOL_OPTIONS}
    dsn = urlunsplit(parts._replace(query=urlencode([p for p in query if p[0] not in ours])))
    try:
        return PostgresStore(
            dsn,
            min_size=int(ours.get("pool_min", 1)),
            max_size=int(ours.get("pool_max", 10)),
            command_timeout=float(ours.get("command_timeout", 5)),
            connect_timeout=float(ours.get("connect_timeout", 5)),
        )
    except ValueError as exc:
        raise ValueError(f"bad pool option in PostgreSQL URL: {exc}") from None
