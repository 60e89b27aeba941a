"""Backends for the store contract suite: to cover a new backend, add one factory to BACKENDS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.pg import fresh_schema

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
async def sqlite_grouped(tmp_path: Path) -> AsyncIterator[Backend]:
    """A file store with group commit on (concurrent hot writes share one COMMIT)."""
    path = tmp_path / "data" / "proofkey.db"
    yield Backend("sqlite-grouped", lambda: SQLiteStore(path, group_commit=True), shared=True,
                  sqlite_file=path)


@contextlib.asynccontextmanager
async def sqlite_memory(tmp_path: Path) -> AsyncIterator[Backend]:
    yield Backend("sqlite-memory", lambda: SQLiteStore(":memory:"), shared=False)


@contextlib.asynccontextmanager
async def postgres(tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh schema per test, first on every store's search_path; dropped afterwards."""
    from proofkey.store.postgres import PostgresStore

    async with fresh_schema() as url:
        yield Backend("postgres", lambda: PostgresStore(url), shared=True, url=url)


BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[Backend]]] = {
    "sqlite-file": sqlite_file,
    "sqlite-grouped": sqlite_grouped,
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
