#!/usr/bin/env python3
"""Sizing figures for docs/performance.md (issue #16): database work per flow, and memory.

Two parts, each printed as a markdown table:

1. **PostgreSQL statements and round trips per flow.** A fresh database on the local server
   (``BENCH_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432``) is created and dropped
   by this script. The real app (``create_app``, settings as ``proofkey serve`` has them, the
   client cache on at its shipped ``PROOFKEY_CLIENT_CACHE_MS``) gets its requests in-process,
   as in ``microbench_exchange.py`` (ASGI, no HTTP sockets). asyncpg's ``Connection`` methods
   that the store uses (``fetch``, ``fetchrow``, ``fetchval``, ``execute``, ``executemany``)
   count statements; a transaction's BEGIN, COMMIT and ROLLBACK count as round trips besides.
   Every write to a socket is counted too (the only sockets in the process are the database
   connections): one per protocol exchange, the wire-level check of the round-trip count (it
   also shows a statement's first ``prepare`` on a new pooled connection). Each flow runs after
   a warm-up, N times in a row; the table gives per-request averages, and how many client
   lookups reached SQL (the rest were answered by the client cache).

2. **Memory.** ``proofkey serve`` (one worker) on SQLite and on PostgreSQL: RSS idle, and after
   N live grants made through real HTTP flows (the load driver's ``mint --refresh``: log in
   once, then ``GET /authorize`` + ``POST /token`` per grant; each grant has a refresh token),
   counted from RSS after a warm-up of N/20 grants; the database's size before and after
   (SQLite: the file plus ``-wal`` after a checkpoint; PostgreSQL: ``pg_total_relation_size``
   of every table in the schema), scaled per 10,000.

    .venv/bin/python bench/sizing.py            # N=300 per flow, 10,000 grants per store (~6 min)
    .venv/bin/python bench/sizing.py --quick    # N=5, 200 grants
    .venv/bin/python bench/sizing.py --quick --memory-stores sqlite   # the test's (~30-60 s)

Nothing is timed: the figures are counts and sizes, so a noisy machine does not change them
(RSS varies by a few MiB between runs).
"""

# ruff: noqa: S603 - runs proofkey's CLI

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench
from microbench_exchange import asgi, pkce

RS_CLIENT_ID = "bench-rs"  # a resource server: may introspect the others' access tokens
COUNTS: Counter[str] = Counter()
SHAPES: Counter[str] = Counter()  # "fetchrow UPDATE codes + INSERT grants": count
SETTINGS: dict[str, Any] = {}  # what the flows ran with, for the output
WARMUP = 3  # requests per flow before counting (each flow's call(i) takes i < WARMUP + n)


# -- counting at the asyncpg connection ------------------------------------------------------------


def instrument_asyncpg() -> None:
    """Count statements, transaction round trips and socket writes, process-wide."""
    from asyncio import selector_events

    import asyncpg  # type: ignore[import-untyped]
    import asyncpg.transaction  # type: ignore[import-untyped]

    def counted(key: str, fn: Any) -> Any:
        async def wrapper(*a: Any, **k: Any) -> Any:
            COUNTS[key] += 1
            return await fn(*a, **k)
        return wrapper

    def counted_sql(key: str, fn: Any) -> Any:
        async def wrapper(self: Any, query: str, *a: Any, **k: Any) -> Any:
            COUNTS[key] += 1
            SHAPES[f"{key[5:]} {shape(query)}"] += 1
            return await fn(self, query, *a, **k)
        return wrapper

    for name in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
        setattr(asyncpg.connection.Connection, name,
                counted_sql(f"stmt:{name}", getattr(asyncpg.connection.Connection, name)))
    tx = asyncpg.transaction.Transaction
    for name, key in (("start", "tx:begin"), ("commit", "tx:commit"),
                      ("rollback", "tx:rollback")):
        setattr(tx, name, counted(key, getattr(tx, name)))
    transport = selector_events._SelectorSocketTransport
    write, writelines = transport.write, transport.writelines

    def counted_write(self: Any, data: Any) -> None:
        COUNTS["wire:write"] += 1
        write(self, data)

    def counted_writelines(self: Any, lines: Any) -> None:
        COUNTS["wire:write"] += 1
        writelines(self, lines)

    transport.write = counted_write  # type: ignore[method-assign]
    transport.writelines = counted_writelines  # type: ignore[method-assign]


def shape(sql: str) -> str:
    """A statement's verbs and the tables they touch, CTE names left out, e.g.
    ``UPDATE auth_codes + INSERT grants``: enough to tell which store call it was."""
    text = " ".join(sql.split())
    ctes = {name.lower() for name in re.findall(r"(\w+) AS (?:MATERIALIZED )?\(", text, re.I)}
    found = re.findall(r"\b(?:(SELECT)\b.*?\bFROM (\w+)|(INSERT) INTO (\w+)|(?<!DO )(UPDATE) "
                       r"(?!SET\b)(\w+)|(DELETE) FROM (\w+))", text, flags=re.I)
    parts = []
    for groups in found:
        verb, table = [g for g in groups if g][:2]
        if table.lower() not in ctes:
            parts.append(f"{verb.upper()} {table}")
    return " + ".join(dict.fromkeys(parts)) or " ".join(text.split()[:3])


def statements(c: Counter[str]) -> int:
    return sum(v for k, v in c.items() if k.startswith("stmt:"))


def round_trips(c: Counter[str]) -> int:
    return statements(c) + sum(v for k, v in c.items() if k.startswith("tx:"))


# -- PostgreSQL scratch database -------------------------------------------------------------------


def pg_base() -> str:
    return os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


async def pg_admin(sql: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(pg_base() + "/postgres", timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pg_table_sizes(url: str) -> dict[str, int]:
    import asyncpg
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
            "AND n.nspname = current_schema()")
        return {r[0]: int(r[1]) for r in rows}
    finally:
        await conn.close()


class ScratchDb:
    """A database created for this run and dropped afterwards."""

    def __init__(self, tag: str) -> None:
        self.name = f"proofkey_sizing_{tag}_{os.getpid()}_{secrets.token_hex(3)}"
        self.url = f"{pg_base()}/{self.name}"

    def __enter__(self) -> ScratchDb:
        asyncio.run(pg_admin(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def cli(server: bench.Proofkey, *args: str) -> dict[str, Any]:
    done = subprocess.run([str(server.exe), *args, "--json"], env=server.env(),
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"proofkey {args[:2]} failed: {done.stderr.strip()[-300:]}")
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def basic(client_id: str, secret: str) -> bytes:
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return b"Basic " + base64.b64encode(pair)


# -- part 1: statements and round trips per flow ---------------------------------------------------


async def per_flow(database_url: str, work: Path, n: int, n_login: int) -> list[dict[str, Any]]:
    from proofkey.settings import load_settings
    from proofkey.web import app as app_module

    server = bench.Proofkey(work, cpus=None, database_url=database_url)
    server.setup()  # the benchmark's clients and user, through the CLI (migrates the database)
    rs_secret = cli(server, "client", "add", RS_CLIENT_ID, "--confidential",
                    "--resource-server", "--grant-type", "client_credentials", "--scope",
                    bench.CC_SCOPE)["client_secret"]
    env = {k: v for k, v in server.env().items() if k.startswith("PROOFKEY_")}
    settings = load_settings(environ=env)
    app = app_module.create_app(settings)
    rows: list[dict[str, Any]] = []
    SETTINGS["client_cache_ms"] = settings.client_cache_ms
    async with app.router.lifespan_context(app):
        services = app.state.services
        store = services.store
        # Client lookups that reach the store (the cache's misses), as against all lookups.
        lookups: Counter[str] = Counter()
        inner_get = store.get_client

        async def get_client(client_id: str) -> Any:
            lookups["sql"] += 1
            return await inner_get(client_id)

        store.get_client = get_client
        cache = services.clients if hasattr(services, "clients") else None
        if cache is not None and hasattr(cache, "get_client"):
            outer_get = cache.get_client

            async def cached_get(client_id: str) -> Any:
                lookups["all"] += 1
                return await outer_get(client_id)

            cache.get_client = cached_get

        form = (b"content-type", b"application/x-www-form-urlencoded")
        browser = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        mac = hmac.new(browser.encode(), b"csrf|account", hashlib.sha256).digest()
        csrf = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        login_body = urlencode({"csrf": csrf, "username": bench.USERNAME,
                                "password": bench.PASSWORD}).encode()

        async def login() -> str:
            status, headers, raw = await asgi(
                app, "POST", "/account/login", body=login_body,
                headers=[form, (b"cookie", f"pk_browser={browser}".encode())])
            if status != 303:
                raise RuntimeError(f"/account/login answered {status}: {raw[:200]!r}")
            return headers.get("set-cookie", "")

        # A session (through the real login) and a remembered consent.
        from proofkey.flows import interaction
        user = await store.get_user_by_username(bench.USERNAME)
        handle, _session = await interaction.start_session(
            user, sessions=store, previous=None, ctx=services.ctx)
        await store.save_consent(user.user_id, bench.CLIENT_ID,
                                 tuple(bench.SCOPES_SUPPORTED.split()), services.ctx.now())
        cookie = (b"cookie", f"pk_session={handle}".encode())

        async def authorize(scope: str = "openid offline_access") -> tuple[str, str]:
            verifier, challenge = pkce()
            status, headers, raw = await asgi(app, "GET", "/authorize", query=urlencode({
                "response_type": "code", "client_id": bench.CLIENT_ID,
                "redirect_uri": bench.REDIRECT_URI, "scope": scope,
                "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"}),
                headers=[cookie])
            code = parse_qs(urlsplit(headers.get("location", "")).query).get("code")
            if status != 303 or not code:
                raise RuntimeError(f"/authorize answered {status}: {raw[:200]!r}")
            return code[0], verifier

        async def exchange(code: str, verifier: str) -> dict[str, Any]:
            status, _h, raw = await asgi(app, "POST", "/token", body=urlencode({
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": bench.REDIRECT_URI, "client_id": bench.CLIENT_ID,
                "code_verifier": verifier}).encode(), headers=[form])
            if status != 200:
                raise RuntimeError(f"/token (code) answered {status}: {raw[:200]!r}")
            out: dict[str, Any] = json.loads(raw)
            return out

        async def refresh(token: str) -> dict[str, Any]:
            status, _h, raw = await asgi(app, "POST", "/token", body=urlencode({
                "grant_type": "refresh_token", "refresh_token": token,
                "client_id": bench.CLIENT_ID}).encode(), headers=[form])
            if status != 200:
                raise RuntimeError(f"/token (refresh) answered {status}: {raw[:200]!r}")
            out: dict[str, Any] = json.loads(raw)
            return out

        cc_auth = basic(bench.CC_CLIENT_ID, server.cc_secret)

        async def client_credentials() -> None:
            status, _h, raw = await asgi(app, "POST", "/token", body=urlencode({
                "grant_type": "client_credentials", "scope": bench.CC_SCOPE}).encode(),
                headers=[form, (b"authorization", cc_auth)])
            if status != 200:
                raise RuntimeError(f"/token (client_credentials) answered {status}: {raw[:200]!r}")

        async def userinfo(access: str) -> None:
            status, _h, raw = await asgi(app, "GET", "/userinfo",
                                         headers=[(b"authorization", f"Bearer {access}".encode())])
            if status != 200:
                raise RuntimeError(f"/userinfo answered {status}: {raw[:200]!r}")

        rs_auth = basic(RS_CLIENT_ID, rs_secret)

        async def introspect(access: str) -> None:
            status, _h, raw = await asgi(app, "POST", "/introspect", body=urlencode({
                "token": access}).encode(), headers=[form, (b"authorization", rs_auth)])
            if status != 200 or not json.loads(raw).get("active"):
                raise RuntimeError(f"/introspect answered {status}: {raw[:200]!r}")

        async def measure(flow: str, what: str, count: int,
                          call: Callable[[int], Awaitable[object]]) -> None:
            for i in range(WARMUP):  # warm-up: pooled connection, prepared statements
                await call(i)
            await asyncio.sleep(0.05)  # background work of the warm-up finishes outside
            COUNTS.clear()
            SHAPES.clear()
            lookups.clear()
            t = time.monotonic()
            for i in range(WARMUP, WARMUP + count):
                await call(i)
            for _ in range(5):  # let tasks the requests started (if any) run and be counted
                await asyncio.sleep(0)
            wall = time.monotonic() - t
            c = Counter(COUNTS)
            rows.append({
                "flow": flow, "request": what, "n": count,
                "statements": statements(c) / count, "round_trips": round_trips(c) / count,
                "transactions": c["tx:begin"] / count, "wire_writes": c["wire:write"] / count,
                "client_lookups": lookups["all"] / count,
                "client_lookups_sql": lookups["sql"] / count,
                "by_method": {k: v / count for k, v in sorted(c.items())},
                "by_statement": {k: v / count for k, v in SHAPES.most_common()},
                "wall_s": round(wall, 3)})

        await measure("authorize (session, remembered consent)", "GET /authorize", n,
                      lambda _i: authorize())
        codes = [await authorize() for _ in range(WARMUP + n)]
        tokens: list[dict[str, Any]] = []

        async def do_exchange(i: int) -> None:
            tokens.append(await exchange(*codes[i]))

        await measure("code exchange (openid, RS256 id_token)", "POST /token", n, do_exchange)
        live = [t["refresh_token"] for t in tokens]

        async def do_refresh(i: int) -> None:
            live[i] = (await refresh(live[i]))["refresh_token"]

        await measure("refresh (rotation)", "POST /token", n, do_refresh)
        await measure("client_credentials (client_secret_basic)", "POST /token", n,
                      lambda _i: client_credentials())
        access = [t["access_token"] for t in tokens]
        await measure("userinfo", "GET /userinfo", n, lambda i: userinfo(access[i]))
        await measure("introspection (resource server, Basic)", "POST /introspect", n,
                      lambda i: introspect(access[i]))
        await measure("password login (argon2id, new session)", "POST /account/login", n_login,
                      lambda _i: login())
    return rows


# -- part 2: memory and database size --------------------------------------------------------------


def sqlite_bytes(data_dir: Path) -> int:
    dbs = [p for p in data_dir.rglob("*") if p.is_file() and
           (p.suffix in {".db", ".sqlite", ".sqlite3"} or p.name.endswith(("-wal", "-shm")))]
    for db in dbs:
        if db.suffix in {".db", ".sqlite", ".sqlite3"}:
            with sqlite3.connect(db) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in dbs if p.exists())


def memory(kind: str, work: Path, grants: int, database_url: str = "") -> dict[str, Any]:
    """RSS of a served proofkey idle and after ``grants`` code -> token flows."""
    server = bench.Proofkey(work, cpus=None, database_url=database_url,
                            label=f"proofkey {kind}")
    tools = bench.Tools(shutil.which("wrk"), bench.ensure_node(False), work)

    def db_size() -> int:
        if database_url:
            return sum(asyncio.run(pg_table_sizes(database_url)).values())
        return sqlite_bytes(work / "data")

    def mint(count: int) -> int:
        out_file = work / "refresh-tokens.txt"
        out = tools.driver(server, "mint", "--refresh", "--scope", "openid", "--count",
                           str(count), "--concurrency", "8", "--out", str(out_file),
                           "--duration", "900", cpus=None, timeout=1200)
        made = sum(1 for line in out_file.read_text().splitlines() if line.strip())
        if made < count * 0.95:
            raise RuntimeError(f"{kind}: only {made} of {count} grants were made ({out})")
        return made

    server.start()  # client and user through the CLI, then `proofkey serve`; idle RSS after 1 s
    try:
        idle_kib = server.rss_idle_kib or 0
        # A warm-up (caches, lazily made objects, the allocator's first arenas) before the
        # baseline: what grows after it is what the live grants cost.
        warm = mint(max(20, grants // 20))
        time.sleep(1.0)
        warm_kib = bench.rss_kib(server.pids())
        before = db_size()
        t = time.monotonic()
        made = mint(grants)
        elapsed = time.monotonic() - t
        time.sleep(1.0)
        after_kib = bench.rss_kib(server.pids())
        tables = asyncio.run(pg_table_sizes(database_url)) if database_url else {}
    finally:
        server.stop()
    after = db_size()  # SQLite: checkpointed after the server closed it
    return {"store": kind, "grants": made, "warmup_grants": warm, "rss_idle_mib": idle_kib / 1024,
            "rss_warm_mib": warm_kib / 1024, "rss_after_mib": after_kib / 1024,
            "db_before": before, "db_after": after,
            "mint_s": round(elapsed, 1), "tables": tables}


# -- output ----------------------------------------------------------------------------------------


def markdown(flows: list[dict[str, Any]], mem: list[dict[str, Any]], command: str) -> str:
    lines = [f"Reproduce: `{command}`", "",
             "PostgreSQL, in-process, one request at a time; client cache "
             f"PROOFKEY_CLIENT_CACHE_MS={SETTINGS.get('client_cache_ms')} (as shipped). "
             "Per request, averaged over n after a warm-up. Client lookups: through the cache "
             "(in brackets: those that reached SQL, its misses).", "",
             "| flow | request | statements | round trips | of which BEGIN/COMMIT | socket writes "
             "| client lookups (from SQL) | n |", "|---|---|---|---|---|---|---|---|"]
    for r in flows:
        lines.append(
            f"| {r['flow']} | {r['request']} | {r['statements']:.2f} | {r['round_trips']:.2f} "
            f"| {r['round_trips'] - r['statements']:.2f} | {r['wire_writes']:.2f} "
            f"| {r['client_lookups']:.2f} ({r['client_lookups_sql']:.2f}) | {r['n']} |")
    lines += ["", "Statements per request (asyncpg method, verb and tables):", ""]
    for r in flows:
        shapes = "; ".join(f"{k} ×{v:.2f}" for k, v in r["by_statement"].items())
        lines.append(f"- {r['flow']}: {shapes or 'none'}")
    if mem:
        lines += ["", "| store | RSS idle MiB | RSS after warm-up MiB | RSS after grants MiB "
                  "| live grants | RSS per 10k grants MiB | database before | database after "
                  "| database per 10k grants |", "|---|---|---|---|---|---|---|---|---|"]
        for m in mem:
            per = 10_000 / m["grants"]
            lines.append(
                f"| {m['store']} | {m['rss_idle_mib']:.1f} | {m['rss_warm_mib']:.1f} "
                f"| {m['rss_after_mib']:.1f} | {m['grants']:,} (+{m['warmup_grants']:,} warm-up) "
                f"| {(m['rss_after_mib'] - m['rss_warm_mib']) * per:.1f} "
                f"| {m['db_before'] / 2**20:.2f} MiB | {m['db_after'] / 2**20:.2f} MiB "
                f"| {(m['db_after'] - m['db_before']) * per / 2**20:.2f} MiB |")
        for m in mem:
            if m["tables"]:
                top = sorted(m["tables"].items(), key=lambda kv: -kv[1])[:6]
                lines.append("")
                lines.append(f"{m['store']} largest tables after {m['grants']:,} grants: "
                             + ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in top))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="N=5 per flow, 200 grants (the test's)")
    p.add_argument("--n", type=int, default=None, help="requests per flow (default 300)")
    p.add_argument("--logins", type=int, default=None, help="password logins (default 20)")
    p.add_argument("--grants", type=int, default=None, help="live grants (default 10,000)")
    p.add_argument("--memory-stores", default="sqlite,postgresql",
                   help="stores for the memory table: sqlite,postgresql, a subset, or none")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    n = args.n or (5 if args.quick else 300)
    logins = args.logins or (2 if args.quick else 20)
    grants = args.grants or (200 if args.quick else 10_000)
    command = "bench/sizing.py " + " ".join(argv if argv is not None else sys.argv[1:])
    import logging
    work = Path(tempfile.mkdtemp(prefix="proofkey-sizing-"))
    # The app logs audit lines to stderr, as `proofkey serve` does: /dev/null here.
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    try:
        instrument_asyncpg()
        with ScratchDb("flows") as db:
            os.dup2(devnull, 2)
            try:
                flows = asyncio.run(per_flow(db.url, work / "flows", n, logins))
            finally:
                os.dup2(saved, 2)
                logging.shutdown()
        mem: list[dict[str, Any]] = []
        stores = {s.strip() for s in args.memory_stores.split(",")}
        if "sqlite" in stores:
            mem.append(memory("sqlite", work / "mem-sqlite", grants))
        if "postgresql" in stores:
            with ScratchDb("mem") as db:
                mem.append(memory("postgresql", work / "mem-pg", grants, db.url))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(markdown(flows, mem, command.strip()))
    if args.json:
        args.json.write_text(json.dumps({"flows": flows, "memory": mem}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
