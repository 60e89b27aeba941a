"""SQLite group commit: concurrent hot writes share one COMMIT, each caller answered after it.

The contract suite runs on a grouped file store too (``sqlite-grouped`` in conftest.py), so
single use under ``asyncio.gather`` is proven there; these are the group's own guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from proofkey.crypto import digest
from proofkey.models import AuthorizationCode, Client, PendingAuthorization, RefreshToken
from proofkey.store.base import AlreadyExists, StoreUnavailable
from proofkey.store.sqlite import SQLiteStore
from proofkey.store.sqlite_db import GROUP_MAX, SQLiteDatabase

NOW = 1_700_000_000
DAY = 86_400


def a_code(name: str) -> AuthorizationCode:
    return AuthorizationCode(digest(f"c{name}"), "app", "http://127.0.0.1/cb", "x" * 43,
                             ("openid",), None, "u1", NOW, NOW, NOW + 600)  # fmt: skip


def a_refresh(name: str, grant_id: str) -> RefreshToken:
    return RefreshToken(digest(f"r{name}"), grant_id, "app", NOW, NOW + DAY)


def committed(path: Path, sql: str, *params: Any) -> int:
    """A count read on a fresh connection: what is committed."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute(sql, params).fetchone()[0])


def codes_in(path: Path) -> int:
    return committed(path, "SELECT count(*) FROM auth_codes")


@pytest.fixture
async def grouped(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "p.db", group_commit=True)
    await store.migrate()
    yield store
    await store.close()


@pytest.fixture
def group_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of units each group commit settled."""
    sizes: list[int] = []
    original = SQLiteDatabase._commit

    def spy(self: SQLiteDatabase, group: Any) -> None:
        if self._group is group:
            sizes.append(len(group.waiting))
        original(self, group)

    monkeypatch.setattr(SQLiteDatabase, "_commit", spy)
    return sizes


async def test_concurrent_writes_share_one_commit(grouped: SQLiteStore,
                                                  group_sizes: list[int]) -> None:
    await asyncio.gather(*(grouped.save_code(a_code(str(i))) for i in range(16)))
    assert group_sizes == [16]
    await asyncio.gather(*(
        grouped.redeem_code(digest(f"c{i}"), NOW, f"g{i}", NOW + DAY, a_refresh(str(i), f"g{i}"))
        for i in range(16)
    ))  # fmt: skip
    assert group_sizes == [16, 16]
    assert committed(Path(grouped.path), "SELECT count(*) FROM grants") == 16


async def test_a_group_holds_at_most_group_max_units(grouped: SQLiteStore,
                                                     group_sizes: list[int]) -> None:
    await asyncio.gather(*(grouped.save_code(a_code(str(i))) for i in range(GROUP_MAX + 3)))
    assert group_sizes == [GROUP_MAX, 3]
    assert codes_in(Path(grouped.path)) == GROUP_MAX + 3


async def test_a_write_is_committed_when_its_call_returns_and_not_before(
    grouped: SQLiteStore,
) -> None:
    path = Path(grouped.path)
    task = asyncio.create_task(grouped.save_code(a_code("one")))
    await asyncio.sleep(0)  # the task runs up to its await of the COMMIT
    assert not task.done()
    assert codes_in(path) == 0  # written, in the open group, not committed
    await task
    assert codes_in(path) == 1


async def test_a_failing_unit_undoes_itself_and_nobody_else(grouped: SQLiteStore,
                                                            group_sizes: list[int]) -> None:
    path = Path(grouped.path)
    for name in ("dup", "a", "b"):
        await grouped.save_code(a_code(name))
    await grouped.save_grant(*_grant_with_refresh("taken"))
    group_sizes.clear()
    results = await asyncio.gather(
        grouped.redeem_code(digest("ca"), NOW, "ga", NOW + DAY, a_refresh("a", "ga")),
        grouped.save_code(a_code("dup")),  # duplicate key: one statement
        # the code's UPDATE succeeds, then the refresh token's INSERT is a duplicate key:
        # its savepoint must undo the UPDATE too
        grouped.redeem_code(digest("cb"), NOW, "gb", NOW + DAY, a_refresh("taken", "gb")),
        grouped.save_code(a_code("c")),
        return_exceptions=True,
    )
    assert group_sizes == [2]  # the two that succeeded, committed together
    assert isinstance(results[0], AuthorizationCode)
    assert isinstance(results[1], AlreadyExists)
    assert isinstance(results[2], AlreadyExists)
    assert results[3] is None
    assert committed(path, "SELECT count(*) FROM grants WHERE grant_id IN ('ga', 'gb')") == 1
    assert committed(path, "SELECT count(*) FROM auth_codes WHERE redeemed_at IS NOT NULL") == 1
    assert codes_in(path) == 4
    redeemed = await grouped.redeem_code(digest("cb"), NOW, "gb", NOW + DAY, a_refresh("b", "gb"))
    assert redeemed is not None  # the failed redemption left the code unused


def _grant_with_refresh(name: str) -> tuple[Any, RefreshToken]:
    from proofkey.models import Grant

    grant = Grant(f"g{name}", "app", "u1", ("openid",), NOW, NOW, NOW + DAY)
    return grant, a_refresh(name, f"g{name}")


class _FailingCommit:
    """The store's connection, except that COMMIT fails as a full disk would."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            failure = sqlite3.OperationalError("database or disk is full")
            failure.sqlite_errorcode = sqlite3.SQLITE_FULL
            raise failure
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_a_failed_commit_fails_every_unit_and_changes_nothing(
    grouped: SQLiteStore,
) -> None:
    path = Path(grouped.path)
    await grouped.save_code(a_code("kept"))
    db = grouped._db
    real = db.connection()
    db._conn = _FailingCommit(real)  # type: ignore[assignment]
    results = await asyncio.gather(
        grouped.save_code(a_code("lost")),
        grouped.redeem_code(digest("ckept"), NOW, "g", NOW + DAY, a_refresh("k", "g")),
        grouped.save_grant(*_grant_with_refresh("lost")),
        return_exceptions=True,
    )
    assert all(isinstance(result, StoreUnavailable) for result in results), results
    assert len({id(result) for result in results}) == 3  # one exception per caller
    db._conn = real
    assert not real.in_transaction
    assert codes_in(path) == 1
    assert committed(path, "SELECT count(*) FROM grants") == 0
    assert await grouped.find_code(digest("clost")) is None  # rolled back on its connection too
    assert await grouped.redeem_code(digest("ckept"), NOW, "g", NOW + DAY, a_refresh("k", "g"))


def _client() -> Client:
    return Client("other", "public", ("https://other.example/cb",), frozenset({"openid"}),
                  frozenset({"authorization_code"}), "none")


def _pending() -> PendingAuthorization:
    return PendingAuthorization(digest("h"), "app", "https://app.example/cb", ("openid",),
                                "x" * 43, None, None, frozenset(), None, digest("b"), NOW,
                                NOW + 600)  # fmt: skip


@pytest.mark.parametrize("outside", [
    pytest.param(lambda s: s.add_client(_client()), id="durable-run"),
    pytest.param(lambda s: s.save_consent("u1", "app", ["openid"], NOW), id="tx"),
    pytest.param(lambda s: s.revoke_access_token("jti", NOW + 60), id="run"),
    pytest.param(lambda s: s.take_pending(digest("h"), NOW), id="delete-returning-get"),
])  # fmt: skip
async def test_a_write_outside_the_group_commits_the_group_first(
    grouped: SQLiteStore, outside: Callable[[SQLiteStore], Awaitable[object]],
) -> None:
    path = Path(grouped.path)
    await grouped.save_pending(_pending())
    seen: list[int] = []

    async def write_outside() -> None:
        await outside(grouped)  # runs while save_code's group is open
        seen.append(codes_in(path))

    await asyncio.gather(grouped.save_code(a_code("first")), write_outside())
    assert seen == [1]  # the grouped write was committed before the outside one


async def test_a_select_inside_an_open_group_does_not_commit_it(
    grouped: SQLiteStore, group_sizes: list[int],
) -> None:
    async def read() -> None:
        assert await grouped.find_code(digest("cfirst")) is not None  # its own connection
        assert codes_in(Path(grouped.path)) == 0

    await asyncio.gather(grouped.save_code(a_code("first")), read(),
                         grouped.save_code(a_code("second")))  # fmt: skip
    assert group_sizes == [2]


async def test_without_group_commit_each_write_commits_alone(
    tmp_path: Path, group_sizes: list[int],
) -> None:
    store = SQLiteStore(tmp_path / "p.db", group_commit=False)
    await store.migrate()
    task = asyncio.create_task(store.save_code(a_code("one")))
    await asyncio.sleep(0)
    assert task.done()
    assert codes_in(tmp_path / "p.db") == 1
    await store.close()
    assert group_sizes == []


def test_a_group_never_spans_two_event_loops(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db", group_commit=True)
    asyncio.run(store.migrate())
    for name in ("one", "two"):
        asyncio.run(store.save_code(a_code(name)))
    assert codes_in(tmp_path / "p.db") == 2
    asyncio.run(store.close())


@pytest.mark.parametrize(("workers", "sizes"), [(1, [4]), (2, [])])
async def test_the_server_groups_commits_only_with_one_worker(
        tmp_path: Path, group_sizes: list[int], workers: int, sizes: list[int]) -> None:
    """With several worker processes on one file, a group's held write lock would make the
    others wait (measured: 2 workers went from ~700 to 430-510 exchanges/s), so the server
    opens its store without grouping then, whatever ``sqlite_group_commit`` says."""
    from proofkey.settings import load_settings
    from proofkey.web.app import create_app

    settings = load_settings({"data_dir": str(tmp_path), "demo": False, "workers": workers},
                             environ={})
    assert settings.sqlite_group_commit
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store = app.state.services.store
        await asyncio.gather(*(store.save_code(a_code(f"w{i}")) for i in range(4)))
    assert group_sizes == sizes
