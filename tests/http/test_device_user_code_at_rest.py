"""RFC 8628 user codes at rest: the store keeps only the SHA-256 digest of a user code, like
every other secret (a database reader cannot approve a waiting device with what it reads)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from proofkey.crypto import digest
from proofkey.settings import Settings
from tests.helpers import ISSUER
from tests.http.test_device_grant import approve, poll, register_device_clients, started

pytestmark = pytest.mark.parametrize("store_backend", ["sqlite", "postgres"])


@pytest.fixture
async def device(http: httpx.AsyncClient, settings: Settings, seeded: object
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """The device's own HTTP client on the app, with the device clients registered."""
    await register_device_clients(settings)
    async with httpx.AsyncClient(transport=http._transport, base_url=ISSUER) as own:
        yield own


async def raw_rows(settings: Settings) -> list[tuple[Any, ...]]:
    """Every device_authorizations row, straight from the database."""
    url = settings.effective_database_url
    if url.startswith("sqlite:"):
        db = sqlite3.connect(unquote(urlsplit(url).path))
        try:
            return db.execute("SELECT * FROM device_authorizations").fetchall()
        finally:
            db.close()
    import asyncpg  # type: ignore[import-untyped]

    parts = urlsplit(url)
    schema = dict(p.split("=", 1) for p in parts.query.split("&"))["search_path"]
    conn = await asyncpg.connect(parts._replace(query="").geturl())
    try:
        rows = await conn.fetch(f"SELECT * FROM {schema}.device_authorizations")  # noqa: S608
        return [tuple(row) for row in rows]
    finally:
        await conn.close()


def texts(rows: list[tuple[Any, ...]]) -> str:
    return " ".join(str(value) for row in rows for value in row)


async def test_the_user_code_is_stored_only_as_its_digest(
        device: httpx.AsyncClient, settings: Settings) -> None:
    shown = (await started(device))["user_code"]
    plain = shown.replace("-", "")
    rows = await raw_rows(settings)
    assert len(rows) == 1
    assert plain not in texts(rows)
    assert shown not in texts(rows)
    assert digest(plain) in rows[0]


async def test_a_user_code_typed_in_lower_case_with_a_dash_still_finds_its_request(
        device: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    body = await started(device)
    await approve(http, body["user_code"].lower())
    response = await poll(device, body["device_code"])
    assert response.status_code == 200, response.text
