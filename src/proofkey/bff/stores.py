"""Open the session store a URL names: ``sqlite:///path``, ``postgresql://…`` or
``redis://…`` (``rediss://`` for TLS)."""

from __future__ import annotations

from proofkey.bff.sessions import SessionStore

__all__ = ["open_session_store"]


def open_session_store(url: str) -> SessionStore:
    if url.startswith(("postgresql://", "postgres://")):
        from proofkey.bff.store_postgres import PostgresSessionStore

        return PostgresSessionStore(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from proofkey.bff.store_redis import RedisSessionStore

        return RedisSessionStore(url)
    from proofkey.bff.store_sqlite import SQLiteSessionStore

    return SQLiteSessionStore(url)
