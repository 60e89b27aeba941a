"""Open the session store a URL names: ``sqlite:///path``, ``postgresql://…`` or
``redis://…`` (``rediss://`` for TLS)."""

from __future__ import annotations

import sqlite3
import sys

from proofkey.bff.sessions import SessionStore

__all__ = ["open_session_store", "store_unavailable"]


def open_session_store(url: str) -> SessionStore:
    if url.startswith(("postgresql://", "postgres://")):
        from proofkey.bff.store_postgres import PostgresSessionStore

        return PostgresSessionStore(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from proofkey.bff.store_redis import RedisSessionStore

        return RedisSessionStore(url)
    from proofkey.bff.store_sqlite import SQLiteSessionStore

    return SQLiteSessionStore(url)


def store_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the session store cannot be reached (rather than a bug). Driver
    modules are looked at only if the configured backend loaded them."""
    kinds: list[type[BaseException]] = [OSError, TimeoutError, sqlite3.OperationalError]
    for module, names in (("redis.exceptions", ("ConnectionError", "TimeoutError")),
                          ("asyncpg.exceptions", ("PostgresConnectionError", "InterfaceError",
                                                  "CannotConnectNowError"))):
        loaded = sys.modules.get(module)
        kinds += [getattr(loaded, name) for name in names if hasattr(loaded, name)]
    return isinstance(exc, tuple(kinds))
