"""store/sql.py: every statement, as each backend renders it, compiles against the migrated
schema of that backend (so a statement added for one backend cannot silently break the other),
and rendering leaves no neutral syntax behind."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from tests.pg import fresh_schema

from proofkey.store.postgres import PostgresStore
from proofkey.store.sql import POSTGRES, SQLITE, Atomic, Dialect, Statements
from proofkey.store.sqlite import SQLiteStore


def statements(dialect: Dialect, *extra: Any) -> dict[str, str]:
    """role.name -> statement, as ``dialect`` renders it (purges included)."""
    found: dict[str, str] = {}
    for group in (dialect.render(Statements()), *(dialect.render(e) for e in extra)):
        for role in fields(group):
            value = getattr(group, role.name)
            if isinstance(value, str):
                found[f"{type(group).__name__}.{role.name}"] = value
                continue
            for f in fields(value):
                found[f"{role.name}.{f.name}"] = getattr(value, f.name)
    for index, (sql, _grace) in enumerate(dialect.purges()):
        found[f"purge.{index}"] = sql
    found["ledger_exists"] = dialect.ledger_exists
    return found


def test_rendering_leaves_only_the_drivers_own_parameter_marks() -> None:
    for name, sql in statements(SQLITE).items():
        assert not re.search(r"[{}$]", sql), name
    for name, sql in statements(POSTGRES, Atomic()).items():
        assert not re.search(r"[{}?]", sql), name


async def test_every_sqlite_statement_compiles_against_the_sqlite_schema(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    store = SQLiteStore(path)
    await store.migrate()
    await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        for name, sql in statements(SQLITE).items():
            count = max((int(n) for n in re.findall(r"\?(\d+)", sql)), default=0)
            try:
                db.execute(f"EXPLAIN {sql}", (None,) * count)
            except sqlite3.Error as exc:
                pytest.fail(f"{name}: {exc}: {sql}")


async def test_every_postgres_statement_compiles_against_the_postgres_schema() -> None:
    import asyncpg  # type: ignore[import-untyped]

    async with fresh_schema() as url:
        store = PostgresStore(url)
        await store.migrate()
        await store.close()
        db = await asyncpg.connect(url)
        try:
            for name, sql in statements(POSTGRES, Atomic()).items():
                try:
                    await db.prepare(sql)
                except asyncpg.PostgresError as exc:
                    pytest.fail(f"{name}: {exc}: {sql}")
        finally:
            await db.close()
