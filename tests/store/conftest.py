"""Backends for the store contract suite: to cover a new backend, add one factory to BACKENDS."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from proofkey.store.base import Store
from proofkey.store.sqlite import SQLiteStore


@dataclass(frozen=True)
class Backend:
    """Opens stores on one fresh test database.

    ``shared``: two stores opened on it see the same data (so races and reopening can be
    tested). ``sqlite_file``: the database file, for the checks only a file backend can make.
    ``url``: the database URL the stores are opened on (server backends).
    """

    name: str
    open: Callable[[], Store]
    shared: bool
    sqlite_file: Path | None = None
    url: str | None = None


@contextlib.asynccontextmanager
async def sqlite_file(tmp_path: Path) -> AsyncIterator[Backend]:
    path = tmp_path / "data" / "proofkey.db"
    yield Backend("sqlite-file", lambda: SQLiteStore(path), shared=True, sqlite_file=path)


@contextlib.asynccontextmanager
async def sqlite_memory(tmp_path: Path) -> AsyncIterator[Backend]:
    yield Backend("sqlite-memory", lambda: SQLiteStore(":memory:"), shared=False)


POSTGRES_URL = os.environ.get(
    "PROOFKEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

_unreachable: list[str] = []


def postgres_missing(reason: str) -> None:
    """Skip on a developer's machine; fail loudly in CI, where PostgreSQL must be there."""
    if os.environ.get("CI", "").lower() not in {"", "0", "false"}:
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not reachable ({reason}); set PROOFKEY_TEST_POSTGRES_URL")


@contextlib.asynccontextmanager
async def postgres(tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh schema per test, first on every store's search_path; dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    from proofkey.store.postgres import PostgresStore

    schema = f"t_{secrets.token_hex(6)}"
    if _unreachable:  # found out before: do not wait for the connect timeout again
        postgres_missing(_unreachable[0])
    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _unreachable.append(f"{type(exc).__name__}: {exc}")
        postgres_missing(_unreachable[0])
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        separator = "&" if "?" in POSTGRES_URL else "?"
        url = f"{POSTGRES_URL}{separator}search_path={schema}"
        yield Backend("postgres", lambda: PostgresStore(url), shared=True, url=url)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[Backend]]] = {
    "sqlite-file": sqlite_file,
    "sqlite-memory": sqlite_memory,
    "postgres": postgres,
}


@pytest.fixture(params=list(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with BACKENDS[request.param](tmp_path) as opened:
        yield opened


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """A migrated store on the backend's fresh database, closed after the test."""
    opened = backend.open()
    await opened.migrate()
    yield opened
    await opened.close()


@pytest.fixture
async def postgres_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    """The PostgreSQL backend alone (skipped, or failed in CI, when it is unreachable)."""
    async with postgres(tmp_path) as opened:
        yield opened


@pytest.fixture
def shared_backend(backend: Backend) -> Backend:
    """The backend, for tests that need two stores on one database (skipped where impossible)."""
    if not backend.shared:
        pytest.skip(f"{backend.name}: separately opened stores do not share data")
    return backend


@pytest.fixture
def sqlite_path(backend: Backend) -> Path:
    """The SQLite database file (tests of the embedded backend's file handling only)."""
    if backend.sqlite_file is None:
        pytest.skip(f"{backend.name} has no SQLite database file")
    return backend.sqlite_file
