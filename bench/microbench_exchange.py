#!/usr/bin/env python3
"""CPU per token exchange, split by component, measured inside one proofkey process.

The sampling profile (profile_token.py) shows shares; this gives microseconds. It builds the
real app (``create_app``) on a scratch SQLite store, mints fresh codes through the real
``GET /authorize`` (session + remembered consent), then sends N ``POST /token`` requests
straight into the ASGI app (no sockets, no uvicorn) while wrappers around the store methods,
the token minter, the event bus, the form reader and the JSON response time every call with
``time.process_time``. The rest (Starlette routing, middleware, request/response objects and
flow glue) is what remains of the total. uvicorn + httptools + the kernel's share is the
difference between this total and the server CPU per exchange that run.py measures.

    taskset -c 0 .venv/bin/python bench/microbench_exchange.py [--n 3000] [--scope openid]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import hashlib
import json
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
ACTIVE: list[str] = []


def timed(name: str, fn: Any) -> Any:
    """Wrap a function or coroutine function; nested timers are subtracted from outer ones."""

    def account(start: float, inner_before: float) -> None:
        spent = time.process_time() - start
        SPENT[name] += spent
        CALLS[name] += 1
        ACTIVE.pop()
        if ACTIVE:
            SPENT["~inner:" + ACTIVE[-1]] += spent

    if asyncio.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def awrapper(*a: Any, **k: Any) -> Any:
            ACTIVE.append(name)
            start = time.process_time()
            try:
                return await fn(*a, **k)
            finally:
                account(start, 0.0)
        return awrapper

    @functools.wraps(fn)
    def wrapper(*a: Any, **k: Any) -> Any:
        ACTIVE.append(name)
        start = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            account(start, 0.0)
    return wrapper


async def asgi(app: Any, method: str, path: str, *, query: str = "", body: bytes = b"",
               headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict[str, str],
                                                                      bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"), *(headers or [])],
    }
    sent = False
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out["headers"], out["body"]


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from proofkey.flows import interaction
    from proofkey.settings import load_settings
    from proofkey.web import app as app_module
    from proofkey.web import token_endpoint

    work = Path(tempfile.mkdtemp(prefix="proofkey-micro-"))
    server = bench.Proofkey(work)
    server.setup()  # client and user through the CLI, as run.py does
    env = {k: v for k, v in server.env().items() if k.startswith("PROOFKEY_")}
    settings = load_settings(environ=env)
    app = app_module.create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        store = services.store
        user = await store.get_user_by_username(bench.USERNAME)
        handle, _session = await interaction.start_session(
            user, sessions=store, previous=None, ctx=services.ctx)
        await store.save_consent(user.user_id, bench.CLIENT_ID, ("openid", "api"),
                                 services.ctx.now())
        cookie = [(b"cookie", f"pk_session={handle}".encode())]

        async def mint(n: int) -> list[tuple[str, str]]:
            codes = []
            for _ in range(n):
                verifier, challenge = pkce()
                status, headers, _ = await asgi(app, "GET", "/authorize", query=urlencode({
                    "response_type": "code", "client_id": bench.CLIENT_ID,
                    "redirect_uri": bench.REDIRECT_URI, "scope": args.scope,
                    "code_challenge": challenge, "code_challenge_method": "S256",
                    "state": "s"}), headers=cookie)
                code = parse_qs(urlsplit(headers.get("location", "")).query).get("code")
                if status != 303 or not code:
                    raise RuntimeError(f"authorize answered {status} {headers}")
                codes.append((code[0], verifier))
            return codes

        def body(code: str, verifier: str) -> bytes:
            return urlencode({"grant_type": "authorization_code", "code": code,
                              "redirect_uri": bench.REDIRECT_URI,
                              "client_id": bench.CLIENT_ID, "code_verifier": verifier}).encode()

        form = [(b"content-type", b"application/x-www-form-urlencoded")]
        # Warm-up, then the authorize cost (uninstrumented), then instrumented exchanges.
        for code, verifier in await mint(200):
            await asgi(app, "POST", "/token", body=body(code, verifier), headers=form)
        t = time.process_time()
        codes = await mint(args.n)
        authorize_us = (time.process_time() - t) / args.n * 1e6

        # Uninstrumented total first (wrappers cost ~1 µs each).
        half = args.n // 2
        t = time.process_time()
        for code, verifier in codes[:half]:
            status, _h, raw = await asgi(app, "POST", "/token", body=body(code, verifier),
                                         headers=form)
            if status != 200:
                raise RuntimeError(f"token answered {status}: {raw[:200]!r}")
        plain_total_us = (time.process_time() - t) / half * 1e6

        # Every public store method (the store's API changes; wrap whatever it has).
        for name in dir(store):
            method = getattr(store, name, None)
            if not name.startswith("_") and asyncio.iscoroutinefunction(method):
                setattr(store, name, timed(f"SQL {name}", method))
        minter = services.minter
        minter.access_token = timed("sign ES256 access token", minter.access_token)
        minter.id_token = timed("sign id_token", minter.id_token)
        bus = services.ctx.bus
        bus.emit = timed("events: bus.emit (dispatch)", bus.emit)
        subscribers = getattr(bus, "_subscribers", None)
        if isinstance(subscribers, list):  # each subscriber on its own line
            for i, sub in enumerate(subscribers):
                label = getattr(sub, "__qualname__", None) or type(sub).__name__
                subscribers[i] = timed(f"events: {label}", sub)
        # POST /token is the raw ASGI app in web/token_endpoint.py; other endpoints use
        # Starlette's request and response objects.
        token_endpoint.parse_urlencoded = timed("parse form",  # type: ignore[attr-defined]
                                                token_endpoint.parse_urlencoded)
        token_endpoint._encode = timed("JSON response body", token_endpoint._encode)
        token_endpoint.exchange = timed("flow: exchange()", token_endpoint.exchange)
        runs: list[dict[str, float]] = []
        totals: list[float] = []
        n = args.n - half
        if args.endpoint == "authorize":
            from proofkey.flows import authorize as authorize_flow
            authorize_flow.start = timed("flow: authorize.start()", authorize_flow.start)
            from proofkey.web import authorize_endpoint
            authorize_endpoint.current_session = timed(  # type: ignore[attr-defined]
                "session lookup (cookie -> SQL)", authorize_endpoint.current_session)
        for _rep in range(args.repeat):
            if args.endpoint == "authorize":
                SPENT.clear()
                CALLS.clear()
                t = time.process_time()
                await mint(n)
                totals.append((time.process_time() - t) / n * 1e6)
                runs.append(dict(SPENT))
                continue
            batch = codes[half:] if _rep == 0 else await mint(n)
            SPENT.clear()
            CALLS.clear()
            t = time.process_time()
            for code, verifier in batch:
                status, _h, raw = await asgi(app, "POST", "/token",
                                             body=body(code, verifier), headers=form)
                if status != 200:
                    raise RuntimeError(f"token answered {status}: {raw[:200]!r}")
            totals.append((time.process_time() - t) / n * 1e6)
            runs.append(dict(SPENT))
        token_bytes = len(raw)

    # The repetition with the median total, whole (components of one run add up).
    pick = sorted(range(len(totals)), key=lambda i: totals[i])[len(totals) // 2]
    SPENT.clear()
    SPENT.update(runs[pick])
    total_us = totals[pick]
    rows: list[tuple[str, float]] = []
    flow = "flow: exchange()" if args.endpoint == "token" else "flow: authorize.start()"
    exchange_us = SPENT[flow] / n * 1e6
    inner_exchange = SPENT["~inner:" + flow] / n * 1e6
    for name, spent in sorted(SPENT.items(), key=lambda kv: -kv[1]):
        if name.startswith("~inner:") or name == flow:
            continue
        own = spent - SPENT.get("~inner:" + name, 0.0)
        rows.append((name, own / n * 1e6))
    rows.append((f"{flow} own code (checks, PKCE, ids, digests, response body)",
                 exchange_us - inner_exchange))
    accounted = sum(us for _n, us in rows)
    rows.append(("Starlette routing + middleware, body read, headers (remainder)",
                 total_us - accounted))
    return {"endpoint": args.endpoint, "scope": args.scope, "n": n, "asgi_total_us": total_us,
            "asgi_total_uninstrumented_us": plain_total_us, "authorize_us": authorize_us,
            "token_response_bytes": token_bytes, "rows": rows,
            "totals_us": [round(x) for x in totals],
            "calls_per_exchange": {k: v / n for k, v in CALLS.items()}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=3000, help="token exchanges to time")
    p.add_argument("--scope", default="openid", help="openid or api")
    p.add_argument("--repeat", type=int, default=5, help="instrumented repetitions (median)")
    p.add_argument("--endpoint", choices=["token", "authorize"], default="token",
                   help="POST /token (default) or GET /authorize with a session")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args()
    import logging
    import os
    # As `proofkey serve` logs: audit lines to stderr; here to /dev/null (the cost is the same
    # up to the write itself).
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    os.dup2(devnull, 2)
    try:
        result = asyncio.run(main_async(args))
    finally:
        os.dup2(saved, 2)
        logging.shutdown()
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    what = "POST /token" if result["endpoint"] == "token" else "GET /authorize (session)"
    print(f"\nproofkey {what} in-process (ASGI, no sockets), scope={result['scope']}, "
          f"n={result['n']}: {result['asgi_total_us']:,.0f} µs CPU per exchange instrumented, "
          f"{result['asgi_total_uninstrumented_us']:,.0f} µs without the timers; totals of the "
          f"repetitions {result['totals_us']} (the median one is shown); "
          f"GET /authorize (code minting): {result['authorize_us']:,.0f} µs\n")
    print("| component | µs per exchange | share |\n|---|---|---|")
    for name, us in result["rows"]:
        print(f"| {name} | {us:,.0f} | {us / result['asgi_total_us']:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
