#!/usr/bin/env python3
"""SQLite group commit, off against on, inside one process: CPU and WAL frames per write.

Each round issues 16 codes concurrently (``asyncio.gather`` of ``save_code``), redeems them
concurrently (``redeem_code`` with a refresh token), then rotates the 16 refresh tokens
concurrently (``rotate_refresh``), on a file store in a scratch directory. CPU is
``time.process_time`` (the process: the event loop's thread; the checkpointer is stopped so
that the WAL only grows, and frames are counted from its size). Modes alternate per repeat.

    taskset -c 0 .venv/bin/python bench/group_commit.py [--rounds 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from proofkey.models import AuthorizationCode, RefreshToken
from proofkey.store.sqlite import SQLiteStore

CONCURRENT = 16
NOW = int(time.time())
PAGE = 4096


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def a_code(name: str) -> AuthorizationCode:
    return AuthorizationCode(
        code_digest=digest(name), client_id="app", redirect_uri="http://127.0.0.1:5000/cb",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", scope=("openid", "email"),
        nonce="n-0S6_WzA2Mj", user_id="u1", auth_time=NOW - 5, issued_at=NOW,
        expires_at=NOW + 600)


def frames(wal: Path) -> int:
    size = wal.stat().st_size if wal.exists() else 32
    return max(0, size - 32) // (PAGE + 24)


async def measure(group: bool, rounds: int) -> dict[str, tuple[float, float]]:
    """{phase: (CPU µs per write, WAL frames per write)}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "proofkey.db"
        store = SQLiteStore(path, group_commit=group)
        await store.migrate()
        checkpointer = store._db._checkpointer  # a bench reaches in
        assert checkpointer is not None
        checkpointer.stop()
        wal = Path(f"{path}-wal")
        spent = {"issue": 0.0, "redeem": 0.0, "rotate": 0.0}
        wrote = dict.fromkeys(spent, 0)

        async def phase(name: str, calls: list[Callable[[], Awaitable[object]]]) -> None:
            before, start = frames(wal), time.process_time()
            results = await asyncio.gather(*(call() for call in calls))
            spent[name] += time.process_time() - start
            wrote[name] += frames(wal) - before
            assert all(result is not None for result in results) or name == "issue"

        for r in range(rounds):
            names = [f"{group}-{r}-{i}" for i in range(CONCURRENT)]
            codes = [a_code(name) for name in names]
            await phase("issue", [lambda c=c: store.save_code(c) for c in codes])
            await phase("redeem", [
                lambda c=c, n=n: store.redeem_code(
                    c.code_digest, NOW, f"g-{n}", NOW + 86400,
                    RefreshToken(digest(f"r-{n}"), f"g-{n}", "app", NOW, NOW + 3600))
                for c, n in zip(codes, names, strict=True)])
            await phase("rotate", [
                lambda n=n: store.rotate_refresh(
                    digest(f"r-{n}"), NOW, RefreshToken(digest(f"s-{n}"), f"g-{n}", "app", NOW,
                                                        NOW + 3600, digest(f"r-{n}")))
                for n in names])
        await store.close()
        writes = rounds * CONCURRENT
        return {k: (spent[k] / writes * 1e6, wrote[k] / writes) for k in spent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs: dict[bool, list[dict[str, tuple[float, float]]]] = {False: [], True: []}
    for _ in range(args.repeat):
        for group in (False, True):
            runs[group].append(asyncio.run(measure(group, args.rounds)))
    print(f"{CONCURRENT} concurrent, {args.rounds} rounds x {args.repeat} repeats, "
          f"pid {os.getpid()}; CPU µs per write (min of repeats / median), WAL frames per write")
    print(f"{'phase':8} {'grouping':9} {'CPU µs min':>10} {'median':>7} {'frames':>7}")
    for name in ("issue", "redeem", "rotate"):
        for group in (False, True):
            cpu = sorted(run[name][0] for run in runs[group])
            print(f"{name:8} {'on' if group else 'off':9} {cpu[0]:10.1f} "
                  f"{cpu[len(cpu) // 2]:7.1f} {runs[group][0][name][1]:7.2f}")


if __name__ == "__main__":
    main()
