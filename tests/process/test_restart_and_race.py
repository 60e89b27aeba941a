"""``proofkey serve`` as a process: first start with the demo, restarts, graceful shutdown, and
concurrent redemptions of one code across worker processes, all over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from proofkey.demo import DEMO_CLIENT_ID, DEMO_USERNAME
from proofkey.models import Client, User
from proofkey.store import Store
from tests.helpers import (
    PASSWORD,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    USERNAME,
    csrf_of,
    exchange,
    get_code,
    new_flow,
)
from tests.process.conftest import (
    STOPPED_BY_SIGTERM,
    ServerPool,
    ServerProcess,
    live_group_members,
    port_is_open,
    seed,
    with_store,
)

LOGIN_LINE = re.compile(
    r"^Log in at (?P<url>\S+) as user '(?P<user>[^']+)'(?: with password (?P<password>\S+))? "
    r"\(password file: (?P<file>[^)]+)\); demo client: (?P<client>\S+)$", re.MULTILINE)


def seeded_data_dir(path: Path) -> Path:
    seed(path, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]}, users={USERNAME: PASSWORD})
    return path


# -- first start with the demo -------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_server(module_servers: ServerPool,
                tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    return module_servers.start(data_dir, settings={"demo": "true"})


def login_line(server: ServerProcess) -> re.Match[str]:
    match = LOGIN_LINE.search(server.output())
    assert match, f"no complete login line in:\n{server.output()}"
    return match


def test_the_first_start_prints_the_login_url_and_the_demo_credentials(
        demo_server: ServerProcess) -> None:
    match = login_line(demo_server)
    assert match["url"] == f"{demo_server.base_url}/account"
    assert match["user"] == DEMO_USERNAME
    assert match["client"] == DEMO_CLIENT_ID
    password_file = Path(match["file"])
    assert password_file == demo_server.data_dir / "demo-password.txt"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    # Output captured by a pipe (a log) never holds the password: it is in the file only.
    assert match["password"] is None
    assert password_file.read_text().strip() not in demo_server.output()
    assert f"proofkey serving {demo_server.base_url} " in demo_server.output()


def test_the_first_start_creates_the_demo_client_and_user(demo_server: ServerProcess) -> None:
    async def work(store: Store) -> tuple[Client | None, User | None]:
        return await store.get_client(DEMO_CLIENT_ID), await store.get_user_by_username(
            DEMO_USERNAME)

    client, user = with_store(demo_server.data_dir, work)
    assert client is not None
    assert client.is_public
    assert "http://127.0.0.1/callback" in client.redirect_uris
    assert user is not None


def test_the_demo_user_can_sign_in_at_the_account_page(demo_server: ServerProcess) -> None:
    password = Path(login_line(demo_server)["file"]).read_text().strip()
    with httpx.Client(base_url=demo_server.base_url, timeout=10) as browser:
        page = browser.get("/account")
        assert page.status_code == 200
        wrong = browser.post("/account/login", data={
            "csrf": csrf_of(page.text), "username": DEMO_USERNAME, "password": "not it at all"})
        assert wrong.status_code == 401
        assert "Incorrect username or password." in wrong.text

        response = browser.post("/account/login", data={
            "csrf": csrf_of(wrong.text), "username": DEMO_USERNAME, "password": password})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/account"
        signed_in = browser.get("/account")
        assert re.search(r'id="signed-in-user">demo<', signed_in.text), signed_in.text


def test_a_later_start_keeps_the_demo_user_and_points_to_the_same_password(
        demo_server: ServerProcess, servers: ServerPool) -> None:
    async def user_id(store: Store) -> str:
        user = await store.get_user_by_username(DEMO_USERNAME)
        assert user is not None
        return user.user_id

    before = with_store(demo_server.data_dir, user_id)
    again = servers.start(demo_server.data_dir, settings={"demo": "true"})
    assert login_line(again)["file"] == login_line(demo_server)["file"]
    assert with_store(demo_server.data_dir, user_id) == before


# -- restart -------------------------------------------------------------------------------


async def test_a_code_issued_before_a_restart_is_redeemable_exactly_once_after_it(
        tmp_path: Path, servers: ServerPool) -> None:
    data_dir = seeded_data_dir(tmp_path / "data")
    first = servers.start(data_dir)
    flow = new_flow()
    async with httpx.AsyncClient(base_url=first.base_url, timeout=10) as http:
        code = await get_code(http, flow)
    assert first.stop() in STOPPED_BY_SIGTERM
    assert "Application shutdown complete" in first.output()

    second = servers.start(data_dir, port=first.port)
    async with httpx.AsyncClient(base_url=second.base_url, timeout=10) as http:
        response = await exchange(http, flow, code)
        assert response.status_code == 200, response.text
        tokens = response.json()
        info = await http.get("/userinfo",
                              headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert info.status_code == 200, info.text
        assert info.json()["preferred_username"] == USERNAME

        replay = await exchange(http, flow, code)
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"


# -- graceful shutdown ---------------------------------------------------------------------


async def eventually(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


def eventually_sync(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@dataclass
class Tally:
    complete: list[int] = field(default_factory=list)  # statuses of whole responses
    truncated: list[str] = field(default_factory=list)  # cut off after the status line
    refused: int = 0  # no response at all: connection refused or closed before a response


async def _request_forever(base_url: str, tally: Tally, stop: asyncio.Event) -> None:
    """Ask for the metadata again and again until ``stop``, sorting every outcome."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        while not stop.is_set():
            got_response = False
            try:
                async with client.stream("GET", "/.well-known/openid-configuration") as r:
                    got_response = True
                    body = await r.aread()
                json.loads(body)  # a cut-off body would not parse
                tally.complete.append(r.status_code)
            except (httpx.TransportError, json.JSONDecodeError) as exc:
                if got_response:
                    tally.truncated.append(repr(exc))
                else:
                    tally.refused += 1
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.005)


async def _send_token_request_across_sigterm(port: int, server: ServerProcess) -> bytes:
    """Start a /token request, SIGTERM the server while it waits for the body, then send the
    body: the request was accepted before the signal, so it must still get a whole response.

    ``Expect: 100-continue`` makes the wait deterministic: the server says ``100 Continue``
    only once the application is running and reading the body.
    """
    body = (f"grant_type=authorization_code&code=not-a-real-code&client_id={PUBLIC_ID}"
            f"&redirect_uri={PUBLIC_REDIRECT}&code_verifier={'v' * 43}").encode()
    head = (f"POST /token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        server.signal(signal.SIGTERM)
        assert await eventually(lambda: not port_is_open(port), 5), "the listener closes"
        assert server.process.poll() is None, "and the process waits for the request"
        writer.write(body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def test_sigterm_lets_every_accepted_request_finish_with_a_whole_response(
        tmp_path: Path, servers: ServerPool) -> None:
    server = servers.start(seeded_data_dir(tmp_path / "data"))
    tally = Tally()
    stop = asyncio.Event()
    loops = [asyncio.create_task(_request_forever(server.base_url, tally, stop))
             for _ in range(6)]
    try:
        flowing = await eventually(lambda: len(tally.complete) >= 20, 20)
        assert flowing, "the stream was flowing before the signal"
        answered_before = len(tally.complete)
        raw = await _send_token_request_across_sigterm(server.port, server)
        await eventually(lambda: server.process.poll() is not None, 20)
        await asyncio.sleep(0.2)  # let every loop meet the closed port
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*loops), timeout=15)

    assert server.wait(timeout=1) in STOPPED_BY_SIGTERM, server.output()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), raw
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    assert length, head
    assert len(payload) == int(length[1]), "the whole body arrived"
    assert json.loads(payload)["error"] == "invalid_grant"

    assert tally.truncated == []
    assert set(tally.complete) == {200}
    assert len(tally.complete) >= answered_before
    assert tally.refused > 0, "requests after the shutdown were refused, not answered"
    assert "Application shutdown complete" in server.output()


# -- a race over real HTTP across two worker processes -------------------------------------


@pytest.fixture(scope="module")
def two_workers(module_servers: ServerPool,
                tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    data_dir = seeded_data_dir(tmp_path_factory.mktemp("race") / "data")
    return module_servers.start(data_dir, args=["--workers", "2"])


async def test_of_many_simultaneous_redemptions_of_one_code_exactly_one_succeeds(
        two_workers: ServerProcess) -> None:
    racers = 60
    flow = new_flow()
    limits = httpx.Limits(max_connections=racers + 4, max_keepalive_connections=racers + 4)
    async with httpx.AsyncClient(base_url=two_workers.base_url, timeout=30,
                                 limits=limits) as http:
        code = await get_code(http, flow)
        responses = await asyncio.gather(*(exchange(http, flow, code) for _ in range(racers)))

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [400] * (racers - 1), statuses
        assert {r.json()["error"] for r in responses if r.status_code == 400} == {
            "invalid_grant"}
        winner = next(r.json() for r in responses if r.status_code == 200)

        # The losers were valid replays: RFC 6749 §4.1.2 revokes what the code issued.
        refreshed = await http.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": winner["refresh_token"],
            "client_id": PUBLIC_ID})
        assert refreshed.status_code == 400
        assert refreshed.json()["error"] == "invalid_grant"


def test_two_workers_serve_from_separate_processes(two_workers: ServerProcess) -> None:
    output = two_workers.output()
    assert len(set(re.findall(r"Started server process \[(\d+)\]", output))) == 2, output


def test_sigterm_stops_the_supervisor_and_both_workers(two_workers: ServerProcess) -> None:
    """Last in this module: it stops the two-worker server the tests above shared."""
    two_workers.signal(signal.SIGTERM)
    returncode = two_workers.process.wait(timeout=30)
    assert returncode in STOPPED_BY_SIGTERM, two_workers.output()
    # No worker outlived the supervisor (zombies awaiting their reaper do not count).
    assert eventually_sync(lambda: not live_group_members(two_workers.process.pid), 5), (
        live_group_members(two_workers.process.pid))
    assert two_workers.output().count("Application shutdown complete") == 2
    two_workers.wait(timeout=1)  # bookkeeping: nothing left to reap
