"""A fresh PostgreSQL schema per test, for every suite that runs on the production store.

PostgreSQL is at PROOFKEY_TEST_POSTGRES_URL (default: this machine kind's local server). When
it cannot be reached the test is skipped on a developer's machine and FAILS in CI (CI=true),
where PostgreSQL must be there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import NoReturn

import pytest

__all__ = ["POSTGRES_URL", "fresh_schema", "postgres_missing"]

POSTGRES_URL = os.environ.get(
    "PROOFKEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

_unreachable: list[str] = []


def postgres_missing(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail loudly in CI, where PostgreSQL must be there."""
    if os.environ.get("CI", "").lower() not in {"", "0", "false"}:
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not reachable ({reason}); set PROOFKEY_TEST_POSTGRES_URL")


@contextlib.asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """Create a schema, yield a database URL whose search_path is it, drop it afterwards."""
    import asyncpg  # type: ignore[import-untyped]

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
        yield f"{POSTGRES_URL}{separator}search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
