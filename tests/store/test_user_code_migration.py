"""Migration 0004 moves device requests saved with a plain user code to the digest form
without leaving a plain code behind or breaking a device that was already approved."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

import pytest
from test_contract import NOW, a_device, a_device_grant
from tests.pg import fresh_schema

from proofkey.crypto import digest
from proofkey.store.postgres import PostgresStore
from proofkey.store.sqlite import SQLiteStore

BEFORE = ("0001_init", "0002_device", "0003_par")
COLUMNS = ("device_digest, user_code, client_id, scope, created_at, expires_at, interval,"
           " status, user_id, auth_time")


def script(dialect: str, version: str) -> str:
    folder = resources.files("proofkey.store") / "migrations" / dialect
    return (folder / f"{version}.sql").read_text(encoding="utf-8")


async def test_sqlite_drops_pending_codes_and_keeps_decided_requests_unfindable(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for version in BEFORE:
            db.executescript(script("sqlite", version))
            db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
        db.execute(f"INSERT INTO device_authorizations ({COLUMNS}) VALUES"  # noqa: S608
                   f" (?, 'WDJBMJHT', 'tv', 'openid', ?, ?, 5, 'pending', NULL, NULL),"
                   f" (?, 'BCDFGHJK', 'tv', 'openid', ?, ?, 5, 'approved', 'u1', ?)",
                   (digest("d1"), NOW, NOW + 600, digest("d2"), NOW, NOW + 600, NOW))
    db.close()
    store = SQLiteStore(path)
    try:
        assert (await store.migrate())[:2] == ["0004_user_code_digest", "0005_resource_server"]
        assert await store.poll_device(digest("d1"), NOW) is None  # deleted
        assert await store.get_device_by_user_code(digest("BCDFGHJK"), NOW) is None
        won = await store.consume_device(digest("d2"), NOW + 1, a_device_grant(), None)
        assert won is not None
        assert (won.status, won.user_id) == ("approved", "u1")
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        stored = " ".join(str(v) for row in raw.execute("SELECT * FROM device_authorizations")
                          for v in row)
    raw.close()
    assert "WDJBMJHT" not in stored
    assert "BCDFGHJK" not in stored


async def test_postgres_converts_every_user_code_to_its_digest() -> None:
    pytest.importorskip("asyncpg")
    import asyncpg  # type: ignore[import-untyped]

    async with fresh_schema() as url:
        db = await asyncpg.connect(url)
        try:
            for version in BEFORE:
                await db.execute(script("postgres", version))
                await db.execute("INSERT INTO schema_migrations VALUES ($1, 0)", version)
            await db.execute(
                f"INSERT INTO device_authorizations ({COLUMNS}) VALUES"  # noqa: S608
                " ($1, 'WDJBMJHT', 'tv', '{openid,profile}', $2, $3, 600, 'pending', NULL, NULL)",
                digest("d1"), NOW, NOW + 600)
        finally:
            await db.close()
        store = PostgresStore(url)
        try:
            assert (await store.migrate())[:2] == ["0004_user_code_digest", "0005_resource_server"]
            found = await store.get_device_by_user_code(digest("WDJBMJHT"), NOW)
            assert found == a_device(user_code="WDJBMJHT", interval=600)
            assert await store.decide_device(digest("WDJBMJHT"), NOW, approve=True,
                                             user_id="u1", auth_time=NOW)
        finally:
            await store.close()
