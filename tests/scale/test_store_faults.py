"""Faults, for real: a ``proofkey serve`` process whose PostgreSQL goes away, hangs, comes back,
and an instance SIGKILLed in the middle of a burst of code exchanges.

With the database down, the protocol endpoints answer 503 ``temporarily_unavailable`` (JSON,
``Retry-After``, no stack trace), ``/authorize`` an HTML error page with status 503, and
``/revoke`` never 200 (a revocation that was not stored must not look done: CVE-2020-15223);
``/readyz`` says 503 while ``/healthz`` stays 200, and the instance recovers by itself.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proofkey.crypto import digest
from proofkey.models import AuthorizationCode
from proofkey.protocol import pkce
from proofkey.store import Store
from tests.helpers import (
    PASSWORD,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    USERNAME,
    WEB_ID,
    WEB_REDIRECT,
    Flow,
    authorize_params,
    new_flow,
)
from tests.process.conftest import ServerPool, ServerProcess

from .conftest import Database, assert_no_trace, browser_code, seed_database
from .pgproxy import running_proxy

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 1  # connect and command timeout of the server's pool (seconds)
SLACK = 3.0  # scheduling noise on top of the timeouts


@pytest.fixture
def servers() -> Iterator[ServerPool]:
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.stop_all()


def _exchange_form(flow: Flow, code: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
            "client_id": flow.client_id, "code_verifier": flow.verifier}


def _unavailable_json(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"].isdigit()
    assert response.headers["cache-control"] == "no-store"
    assert_no_trace(response.text)


async def _login_and_exchange(http: httpx.AsyncClient, base: str, secret: str) -> dict[str, str]:
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    code = await browser_code(http, flow, authorize_at=base, interact_at=base,
                              username=USERNAME, password=PASSWORD,
                              scope="openid offline_access")
    response = await http.post(f"{base}/token", auth=(WEB_ID, secret),
                               data=_exchange_form(flow, code))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_database_down_answers_503_everywhere_and_the_instance_recovers_by_itself(
    pg: Database, servers: ServerPool, tmp_path: Path,
) -> None:
    secret = seed_database(pg, confidential_clients={WEB_ID: [WEB_REDIRECT]},
                           users={USERNAME: PASSWORD})[WEB_ID]
    with running_proxy(pg.url) as proxy:
        url = f"{proxy.url_for(pg.url)}&connect_timeout={TIMEOUT}&command_timeout={TIMEOUT}"
        server = servers.start(tmp_path / "a", settings={"database_url": url})
        base = server.base_url
        async with httpx.AsyncClient(timeout=30) as http:
            tokens = await _login_and_exchange(http, base, secret)
            pending = new_flow(WEB_ID, WEB_REDIRECT)  # a code we will try during the outage
            code = await browser_code(http, pending, authorize_at=base, interact_at=base,
                                      username=USERNAME, password=PASSWORD)

            proxy.stop()  # the database goes away: pooled connections cut, nothing listens
            await _assert_unavailable(http, base, secret, tokens, pending, code)

            proxy.blackhole = True  # back, but hanging: bounded by the pool's timeouts
            proxy.start()
            started = time.monotonic()
            # Authenticated, so that the answer needs the database even with the client still
            # in the instance's client cache.
            response = await http.post(f"{base}/token", data=_exchange_form(pending, code),
                                       auth=(WEB_ID, secret))
            _unavailable_json(response)
            assert time.monotonic() - started < 2 * TIMEOUT + SLACK
            proxy.stop()

            proxy.blackhole = False
            proxy.start()  # the database is back: no restart, no operator
            await _ready_within(http, base, 10.0)
            after = await _login_and_exchange(http, base, secret)
            assert after["access_token"]
            # The code tried during the outage was never touched: it still works once.
            response = await http.post(f"{base}/token", data=_exchange_form(pending, code),
                                       auth=(WEB_ID, secret))
            assert response.status_code == 200, response.text
            # The revocation that got 503 did not happen: the token still refreshes; a
            # revocation now does, and then the family is dead.
            refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
            rotated = await http.post(f"{base}/token", auth=(WEB_ID, secret), data=refresh)
            assert rotated.status_code == 200, rotated.text
            revoke = await http.post(f"{base}/revoke", auth=(WEB_ID, secret), data={
                "token": rotated.json()["refresh_token"]})
            assert revoke.status_code == 200
            refresh["refresh_token"] = rotated.json()["refresh_token"]
            assert (await http.post(f"{base}/token", auth=(WEB_ID, secret),
                                    data=refresh)).status_code == 400
    log = server.output()
    assert "store unavailable at /token" in log  # logged as such, without a stack trace
    # (asyncpg's pool logs its own reconnect attempts with one; proofkey's lines have none.)
    traced = [line for line in log.splitlines() if "Traceback" in line]
    assert all('"logger":"asyncpg.pool"' in line for line in traced), traced


async def _assert_unavailable(http: httpx.AsyncClient, base: str, secret: str,
                              tokens: dict[str, str], pending: Flow, code: str) -> None:
    limit = 2 * TIMEOUT + SLACK
    started = time.monotonic()
    response = await http.post(f"{base}/token", auth=(WEB_ID, secret),
                               data=_exchange_form(pending, code))
    _unavailable_json(response)
    refresh = await http.post(f"{base}/token", auth=(WEB_ID, secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    _unavailable_json(refresh)
    revoke = await http.post(f"{base}/revoke", auth=(WEB_ID, secret),
                             data={"token": tokens["refresh_token"]})
    _unavailable_json(revoke)  # never 200: the token was NOT revoked
    page = await http.get(f"{base}/authorize",
                          params=authorize_params(new_flow(WEB_ID, WEB_REDIRECT)))
    assert page.status_code == 503, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"].isdigit()
    assert page.headers["x-frame-options"] == "DENY"
    assert "temporarily_unavailable" in page.text or "temporarily unavailable" in page.text
    assert_no_trace(page.text)
    for path in ("/interaction/abc", "/account"):  # the other browser pages: HTML too
        other = await http.get(base + path)
        assert other.status_code == 503, other.text
        assert other.headers["content-type"].startswith("text/html")
        assert_no_trace(other.text)
    _unavailable_json(await http.post(f"{base}/introspect", auth=(WEB_ID, secret),
                                      data={"token": tokens["access_token"]}))
    ready = await http.get(f"{base}/readyz")
    assert ready.status_code == 503
    assert (await http.get(f"{base}/healthz")).status_code == 200
    # Keys are in memory: discovery and the JWKS still answer.
    assert (await http.get(f"{base}/.well-known/openid-configuration")).status_code == 200
    keys = await http.get(f"{base}/jwks")
    assert keys.status_code == 200
    assert keys.json()["keys"]
    assert time.monotonic() - started < 6 * limit


async def _ready_within(http: httpx.AsyncClient, base: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (await http.get(f"{base}/readyz")).status_code != 200:
        assert time.monotonic() < deadline, "not ready again after the database came back"
        await asyncio.sleep(0.2)


# -- SIGKILL in the middle of exchanges --------------------------------------------------------

BURST = 160
KILL_AFTER = 40  # successful exchanges before the SIGKILL
CONCURRENCY = 16


def _codes(pg: Database, count: int) -> list[tuple[str, str]]:
    """``count`` fresh codes (code, verifier) of the public client, written to the store."""
    made = [(secrets.token_urlsafe(32), pkce.new_verifier()) for _ in range(count)]

    async def work(store: Store) -> None:
        user = await store.get_user_by_username(USERNAME)
        assert user is not None
        now = int(time.time())
        for code, verifier in made:
            await store.save_code(AuthorizationCode(
                digest(code), PUBLIC_ID, PUBLIC_REDIRECT, pkce.challenge_s256(verifier),
                ("openid", "offline_access"), None, user.user_id, now, now, now + 300))

    pg.with_store(work)
    return made


def _form(code: str, verifier: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": PUBLIC_REDIRECT,
            "client_id": PUBLIC_ID, "code_verifier": verifier}


async def _burst(server: ServerProcess, codes: list[tuple[str, str]]) -> tuple[set[str], int]:
    """Exchange every code, SIGKILL the server after KILL_AFTER successes; return the codes
    that got a 200 and how many requests were cut by the kill."""
    ok: set[str] = set()
    cut = 0
    gate = asyncio.Semaphore(CONCURRENCY)
    killed = asyncio.Event()

    async def one(http: httpx.AsyncClient, code: str, verifier: str) -> None:
        nonlocal cut
        async with gate:
            if killed.is_set():
                return
            try:
                response = await http.post(f"{server.base_url}/token", data=_form(code, verifier))
            except httpx.TransportError:
                cut += 1
                return
            assert response.status_code == 200, response.text
            ok.add(code)
            if len(ok) >= KILL_AFTER and not killed.is_set():
                killed.set()
                os.killpg(server.process.pid, signal.SIGKILL)  # mid-burst: others in flight

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=20, limits=limits) as http:
        await asyncio.gather(*(one(http, code, verifier) for code, verifier in codes))
    return ok, cut


async def test_sigkill_mid_burst_leaves_every_redemption_whole(
    pg: Database, servers: ServerPool, tmp_path: Path,
) -> None:
    seed_database(pg, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]}, users={USERNAME: PASSWORD})
    codes = _codes(pg, BURST)
    server = servers.start(tmp_path / "a", settings={"database_url": pg.url})
    ok, cut = await _burst(server, codes)
    assert server.wait() == -signal.SIGKILL
    assert len(ok) >= KILL_AFTER
    assert len(ok) < BURST, "the burst ended before the kill: nothing was in flight"

    # Restarted on the same database (another data directory and port: nothing local kept).
    again = servers.start(tmp_path / "b", settings={"database_url": pg.url})
    rows = pg.fetch("SELECT code_digest, redeemed_at, grant_id FROM auth_codes")
    redeemed = {r["code_digest"] for r in rows if r["redeemed_at"] is not None}
    assert len(rows) == BURST
    assert {digest(code) for code in ok} <= redeemed  # every 200 was committed
    # A redeemed code always has its grant (and the grant its refresh token) ...
    assert pg.value("SELECT count(*) FROM auth_codes c WHERE c.redeemed_at IS NOT NULL"
                    " AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.grant_id = c.grant_id)") == 0
    assert pg.value("SELECT count(*) FROM grants g WHERE NOT EXISTS"
                    " (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.grant_id)") == 0
    # ... and no grant exists whose code is unredeemed.
    assert pg.value("SELECT count(*) FROM grants g WHERE NOT EXISTS (SELECT 1 FROM auth_codes c"
                    " WHERE c.grant_id = g.grant_id AND c.redeemed_at IS NOT NULL)") == 0
    assert pg.value("SELECT count(*) FROM grants") == len(redeemed)
    # The restarted instance: a code that got its 200 is spent; one the kill cut off before
    # it committed is untouched and works once.
    untouched = [(c, v) for c, v in codes if digest(c) not in redeemed]
    assert untouched
    async with httpx.AsyncClient(timeout=10) as http:
        code, verifier = next((c, v) for c, v in codes if c in ok)
        replay = await http.post(f"{again.base_url}/token", data=_form(code, verifier))
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        for code, verifier in untouched[:10]:
            response = await http.post(f"{again.base_url}/token", data=_form(code, verifier))
            assert response.status_code == 200, response.text
    print(f"\nSIGKILL after {len(ok)} of {BURST} exchanges answered 200; {cut} requests cut "
          f"off; {len(redeemed)} codes redeemed in the database, every one with its grant; "
          f"{len(redeemed) - len(ok)} redeemed without a delivered answer; "
          f"{len(untouched)} untouched")

