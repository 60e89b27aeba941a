"""Persistence behind small Protocols; ``open_store`` picks the backend from a database URL.

Import-cheap: the concrete backends (and their drivers) load only when a store is opened.
"""

from __future__ import annotations

from proofkey.store.base import AlreadyExists, Store, StoreUnavailable

__all__ = ["AlreadyExists", "Store", "StoreUnavailable", "open_store"]


def open_store(url: str) -> Store:
    """The store for ``url``: ``sqlite:///abs/path.db`` (or ``sqlite:///:memory:``).

    Nothing connects here; the store opens its connection on ``migrate()`` or first use.
    """
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        from proofkey.store.sqlite import open_sqlite  # lazy: keeps sqlite3 unloaded

        return open_sqlite(url)
    if scheme in {"postgresql", "postgres"} or scheme.startswith("postgresql+"):
        raise ValueError("PostgreSQL support is not installed yet")
    raise ValueError(f"unsupported database URL scheme {scheme!r} (expected sqlite:///…)")
