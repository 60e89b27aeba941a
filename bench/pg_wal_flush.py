#!/usr/bin/env python3
"""Does PostgreSQL already share WAL flushes between concurrent commits? (issue #16)

Runs C clients, each committing small write transactions shaped like a code redemption
(``UPDATE … RETURNING`` then two ``INSERT``s) in a loop for a few seconds, on a scratch
database, and reads the cluster's ``pg_stat_wal`` (wal_write, wal_sync) and the database's
``xact_commit`` before and after. Commits per WAL sync near 1 means every commit flushes on
its own; well above 1 means the server's group commit (a backend's flush covers every commit
record already in the WAL buffers) already shares them. ``pg_stat_wal`` counts the whole
cluster, so an idle interval of the same length is measured first and reported.

    .venv/bin/python bench/pg_wal_flush.py [--url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import asyncpg

SCRATCH = "proofkey_walbench"


async def wal(conn: Any, db: str) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        "SELECT w.wal_write, w.wal_sync, d.xact_commit FROM pg_stat_wal w, pg_stat_database d "
        "WHERE d.datname = $1", db)
    return int(row[0]), int(row[1]), int(row[2])


async def load(url: str, clients: int, seconds: float, commit_delay: int) -> int:
    conns = [await asyncpg.connect(url) for _ in range(clients)]
    done = 0
    stop = time.monotonic() + seconds

    async def one(conn: Any) -> None:
        nonlocal done
        await conn.execute(f"SET commit_delay = {commit_delay}")
        while time.monotonic() < stop:
            key = uuid.uuid4().hex
            await conn.execute("INSERT INTO codes VALUES ($1, NULL)", key)
            async with conn.transaction():
                await conn.fetch("UPDATE codes SET redeemed = now() WHERE id = $1 "
                                 "AND redeemed IS NULL RETURNING id", key)
                await conn.execute("INSERT INTO grants VALUES ($1, repeat('g', 200))", key)
                await conn.execute("INSERT INTO refresh VALUES ($1, repeat('r', 200))", key)
            done += 2

    await asyncio.gather(*(one(conn) for conn in conns))
    for conn in conns:
        await conn.close()
    return done


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    admin = await asyncpg.connect(args.url)
    await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
    await admin.execute(f"CREATE DATABASE {SCRATCH}")
    url = args.url.rsplit("/", 1)[0] + "/" + SCRATCH
    setup = await asyncpg.connect(url)
    await setup.execute("CREATE TABLE codes (id text PRIMARY KEY, redeemed timestamptz);"
                        "CREATE TABLE grants (id text PRIMARY KEY, v text);"
                        "CREATE TABLE refresh (id text PRIMARY KEY, v text)")
    await setup.close()
    settings = {r[0]: r[1] for r in await admin.fetch(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', "
        "'commit_delay', 'commit_siblings', 'wal_sync_method', 'server_version')")}
    print("server:", ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    print(f"{'load':28} {'commits':>8} {'commits/s':>9} {'wal_write':>9} {'wal_sync':>8} "
          f"{'commits/sync':>12}")
    runs: list[tuple[str, int, int]] = [("idle (others on cluster)", 0, 0)]
    runs += [(f"{c} clients, commit_delay={d}", c, d)
             for c, d in ((1, 0), (16, 0), (16, 1000), (1, 0), (16, 0))]
    for label, clients, delay in runs:
        before = await wal(admin, SCRATCH)
        start = time.monotonic()
        if clients:
            await load(url, clients, args.seconds, delay)
        else:
            await asyncio.sleep(args.seconds)
        await asyncio.sleep(1.2)  # backends report their WAL statistics on exit / each second
        elapsed = time.monotonic() - start - 1.2
        after = await wal(admin, SCRATCH)
        writes, syncs, commits = (a - b for a, b in zip(after, before, strict=True))
        per = f"{commits / syncs:12.1f}" if syncs else f"{'-':>12}"
        print(f"{label:28} {commits:8d} {commits / elapsed:9.0f} {writes:9d} {syncs:8d} {per}")
    await admin.execute(f"DROP DATABASE {SCRATCH} WITH (FORCE)")
    await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
