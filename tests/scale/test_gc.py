"""Expired rows go: ``proofkey gc`` purges every table in bounded batches until none is left,
and a soak of short-lived codes leaves the tables no bigger than one round of traffic."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from proofkey.crypto import digest
from proofkey.models import (
    AuthorizationCode,
    DeviceAuthorization,
    Grant,
    PendingAuthorization,
    RefreshToken,
    Session,
)
from proofkey.settings import load_settings
from proofkey.store import Store, open_store
from proofkey.store._rows import CODE_REPLAY_WINDOW
from proofkey.web.app import create_app
from tests.helpers import (
    ISSUER,
    PASSWORD,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    USERNAME,
    exchange,
    get_code,
    new_flow,
)
from tests.process.conftest import clean_env, run_cli, with_store

from .conftest import Database, fresh_schema, seed_database

pytestmark = pytest.mark.timeout(90)

T = TypeVar("T")
TABLES = ("auth_codes", "pending_authorizations", "sessions", "grants", "refresh_tokens",
          "device_authorizations", "pushed_requests")
EXPIRED_CODES = 2500


def _code(now: int, expires_at: int) -> AuthorizationCode:
    return AuthorizationCode(digest(secrets.token_hex(16)), "app", "https://app.example/cb",
                             "c" * 43, ("openid",), None, "u1", now, now - 100, expires_at)


async def _fill(store: Store) -> dict[str, int]:
    """Expired rows in every purged table (2500 codes and one of each other kind, past the
    replay window) and rows that must stay; return how many of each table must remain."""
    now = int(time.time())
    gone = now - CODE_REPLAY_WINDOW - 10  # expired long enough for every table
    for _ in range(EXPIRED_CODES):
        await store.save_code(_code(now, gone))
    await store.save_code(_code(now, now - 5))  # expired, but inside the replay window: kept
    await store.save_code(_code(now, now + 60))  # live: kept
    for expires_at in (gone, now + 60):
        handle = secrets.token_hex(8)
        await store.save_pending(PendingAuthorization(
            digest(handle), "app", "https://app.example/cb", ("openid",), "c" * 43, None, None,
            frozenset(), None, digest("browser"), now - 100, expires_at))
        await store.save_session(Session(digest(handle), "u1", now - 100, expires_at))
        grant_id = f"g-{handle}"
        await store.save_grant(Grant(grant_id, "app", "u1", ("openid",), now - 100, now - 100,
                                     expires_at),
                               RefreshToken(digest(f"r-{handle}"), grant_id, "app", now - 100,
                                            expires_at))
        await store.save_device(DeviceAuthorization(
            digest(f"d-{handle}"), digest(handle[:8].upper()), "app", ("openid",), now - 100,
            expires_at, 5))
        await store.save_pushed(digest(f"p-{handle}"), "app", {"scope": "openid"}, expires_at)
    return {"auth_codes": 2, "pending_authorizations": 1, "sessions": 1, "grants": 1,
            "refresh_tokens": 1, "device_authorizations": 1, "pushed_requests": 1}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'proofkey.db'}"
        return
    with fresh_schema() as database:
        yield database.url


def table_counts(url: str) -> dict[str, int]:
    """Rows per purged table, counted with the backend's own driver."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                    for t in TABLES}
    database = Database(url, "")
    return {t: int(database.value(f"SELECT count(*) FROM {t}")) for t in TABLES}  # noqa: S608


def with_store_url(url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work(store)`` on a migrated store of ``url`` (SQLite or PostgreSQL)."""
    if url.startswith("sqlite:///"):
        return with_store(Path(url.removeprefix("sqlite:///")).parent, work)
    return Database(f"{url}&synchronous_commit=off", "").with_store(work)  # fast to fill


def test_gc_purges_every_expired_row_in_batches_and_keeps_the_rest(
    database_url: str, tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    env = clean_env(data_dir, database_url=database_url)
    remaining = with_store_url(database_url, _fill)

    result = run_cli(["gc", "--json", "--batch", "1000"], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # 2500 codes need three batches of 1000; the fourth round finds nothing left.
    assert report == {"purged": EXPIRED_CODES + 6, "rounds": 4, "complete": True}
    assert table_counts(database_url) == remaining

    again = run_cli(["gc"], env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "purged 0 expired rows in 1 rounds"


def test_gc_stops_after_max_rounds_and_says_so(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'proofkey.db'}"
    with_store_url(url, _fill)
    result = run_cli(["gc", "--json", "--batch", "500", "--max-rounds", "2"],
                     clean_env(data_dir))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"purged": 1000 + 6, "rounds": 2, "complete": False}
    assert "expired rows remain" in result.stderr
    finish = run_cli(["gc", "--json", "--batch", "500"], clean_env(data_dir))
    assert json.loads(finish.stdout)["purged"] == EXPIRED_CODES - 1000


# -- a soak of short-lived codes ---------------------------------------------------------------

ROUNDS = 3
PER_ROUND = 100


async def test_tables_stay_bounded_under_a_soak_of_code_lifecycles(
    pg: Database, tmp_path: Path,
) -> None:
    seed_database(pg, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]}, users={USERNAME: PASSWORD})
    settings = load_settings({
        "data_dir": str(tmp_path), "issuer": ISSUER, "demo": False,
        "database_url": f"{pg.url}&synchronous_commit=off",  # durability is not the point here
        "code_ttl_seconds": 2, "grant_ttl_seconds": 2, "refresh_token_ttl_seconds": 2},
        environ={})
    app = create_app(settings)
    store = open_store(pg.url)
    peak: dict[str, int] = {}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
                for _ in range(ROUNDS):
                    for _ in range(PER_ROUND):  # after the first login: no page, just a code
                        flow = new_flow()
                        code = await get_code(http, flow)
                        response = await exchange(http, flow, code)
                        assert response.status_code == 200, response.text
                    counts = table_counts(pg.url)
                    peak = {t: max(peak.get(t, 0), n) for t, n in counts.items()}
                    assert counts["auth_codes"] >= PER_ROUND
                    now = int(time.time())
                    # Just past expiry: grants and tokens go, codes stay for late replays.
                    await _purge_all(store, now + 3)
                    after = table_counts(pg.url)
                    assert after["grants"] == after["refresh_tokens"] == 0
                    assert after["auth_codes"] == counts["auth_codes"]
                    # Past the replay window too: the codes go.
                    await _purge_all(store, now + CODE_REPLAY_WINDOW + 2)
                    after = table_counts(pg.url)
                    assert after["auth_codes"] == after["pending_authorizations"] == 0
    finally:
        await store.close()
    # One round's traffic (plus the first login's code) is the most any table ever held.
    assert peak["auth_codes"] <= PER_ROUND + 1, peak
    assert peak["grants"] <= PER_ROUND + 1, peak


async def _purge_all(store: Store, now: int) -> int:
    total = 0
    for _ in range(100):
        deleted = await store.purge_expired(now, 50)
        total += deleted
        if not deleted:
            return total
    raise AssertionError("purge did not finish in 100 rounds")
