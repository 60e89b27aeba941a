"""The SQLite store checkpoints its WAL in a background thread, never inside a COMMIT on the
event loop (the automatic checkpoint's stalls were most of the p99, docs/performance.md)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from proofkey.crypto import digest
from proofkey.models import AuthorizationCode, RefreshToken
from proofkey.store import checkpoint
from proofkey.store.sqlite import SQLiteStore

NOW = 1_700_000_000
DAY = 86_400
MiB = 2**20
ROOT = str(Path(__file__).resolve().parents[2])  # the checkout, for the child's imports


def checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "proofkey-wal-checkpoint"]


def wal_bytes(path: Path) -> int:
    wal = path.with_name(f"{path.name}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def exchange(store: SQLiteStore, index: int, tag: str = "") -> None:
    """The writes of one authorization code's life: saved, then redeemed into a grant."""
    name = f"{tag}{index}"
    code = AuthorizationCode(digest(f"c{name}"), "app", "http://127.0.0.1/cb", "x" * 43,
                             ("openid",), None, "u1", NOW, NOW, NOW + 600)  # fmt: skip
    await store.save_code(code)
    refresh = RefreshToken(digest(f"r{name}"), f"g{name}", "app", NOW, NOW + DAY)
    assert await store.redeem_code(code.code_digest, NOW, f"g{name}", NOW + DAY, refresh)


def grants_in(path: Path) -> int:
    """How many grants the file holds, after checking that it is intact."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return int(db.execute("SELECT count(*) FROM grants").fetchone()[0])


async def test_a_file_store_checkpoints_in_one_thread_that_close_ends(tmp_path: Path) -> None:
    before = len(checkpointers())
    store = SQLiteStore(tmp_path / "p.db")
    assert len(checkpointers()) == before  # nothing runs before the store is used
    await store.migrate()
    assert len(checkpointers()) == before + 1
    memory = SQLiteStore(":memory:")
    await memory.migrate()
    assert len(checkpointers()) == before + 1  # no WAL, no thread
    await exchange(store, 1)
    await store.close()
    await memory.close()
    assert len(checkpointers()) == before
    await exchange(store, 2)  # a closed store reopens on use, with a new thread
    assert len(checkpointers()) == before + 1
    await store.close()
    await store.close()
    assert len(checkpointers()) == before


async def test_commits_never_checkpoint_and_close_leaves_no_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The thread waits an hour: what the WAL holds then shows that no COMMIT checkpointed
    # (SQLite's automatic checkpoint would keep it near 4 MiB).
    monkeypatch.setattr(checkpoint, "CHECKPOINT_DELAY", 3600.0)
    path = tmp_path / "p.db"
    store = SQLiteStore(path)
    await store.migrate()
    for index in range(400):
        await exchange(store, index)
    assert wal_bytes(path) > 8 * MiB
    await store.close()  # the last connection to close checkpoints and removes the WAL
    assert wal_bytes(path) == 0
    assert grants_in(path) == 400


@pytest.mark.parametrize("pause", [0.0, 0.0005], ids=["back to back", "with pauses"])
async def test_the_wal_stays_bounded_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pause: float
) -> None:
    """With pauses between writes (a server's other work) the thread's passes catch up and
    the writes start the WAL over; back to back, the store's connection has to catch up."""
    monkeypatch.setattr(checkpoint, "CHECKPOINT_DELAY", 0.005)
    monkeypatch.setattr(checkpoint, "WAL_RESTART_PAGES", 512)  # 2 MiB
    path = tmp_path / "p.db"
    store = SQLiteStore(path)
    await store.migrate()
    largest = 0
    for index in range(1500):  # about 90 MiB of WAL if it never started over
        await exchange(store, index)
        await asyncio.sleep(pause)
        largest = max(largest, wal_bytes(path))
    assert largest < 24 * MiB, f"the WAL reached {largest / MiB:.1f} MiB"
    await store.close()
    assert grants_in(path) == 1500


CHILD = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from proofkey.store import checkpoint
from proofkey.store.sqlite import SQLiteStore
from tests.store.test_sqlite_checkpoint import exchange
checkpoint.CHECKPOINT_DELAY = 0.005
checkpoint.WAL_RESTART_PAGES = 256

async def main():
    store = SQLiteStore({path!r})
    for index in range(600):
        await exchange(store, index, "child-")
    await store.close()

asyncio.run(main())
"""


async def test_processes_sharing_the_file_checkpoint_in_turn_and_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes write and checkpoint at once (each has its own thread; SQLite lets one
    checkpoint at a time): every write of both is there, and the file is intact."""
    monkeypatch.setattr(checkpoint, "CHECKPOINT_DELAY", 0.005)
    monkeypatch.setattr(checkpoint, "WAL_RESTART_PAGES", 256)
    path = tmp_path / "p.db"
    store = SQLiteStore(path)
    await store.migrate()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD.format(tests=ROOT, path=str(path)),
        stderr=asyncio.subprocess.PIPE)
    written = 0
    while child.returncode is None and written < 50_000:  # for as long as the child writes
        await exchange(store, written, "parent-")
        written += 1
        await asyncio.sleep(0)
    _, errors = await child.communicate()
    assert child.returncode == 0, errors.decode()
    await store.close()
    assert grants_in(path) == written + 600
