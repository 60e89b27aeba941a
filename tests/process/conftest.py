"""Real ``proofkey`` processes: run the CLI, start ``proofkey serve`` and always stop it.

Every server runs in its own process group on a free loopback port with its own data
directory; its output goes to a log file (a pipe nobody reads could block it). Stopping sends
SIGTERM, waits, then SIGKILLs whatever is left of the group (uvicorn's worker processes
included); an ``atexit`` hook does the same for anything a crashed run left behind.

``tests/interop`` and ``tests/web`` import the helpers below; the fixtures are for this folder.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from proofkey.flows.admin import register_client, register_user
from proofkey.settings import load_settings
from proofkey.store import Store, open_store

T = TypeVar("T")

BIN = Path(sys.executable).parent
PROOFKEY = str(BIN / "proofkey")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
CLI_TIMEOUT = 60.0
# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: -15 is a clean stop.
STOPPED_BY_SIGTERM = (0, -signal.SIGTERM)

_LIVE: dict[int, subprocess.Popen[Any]] = {}


def userinfo_as_the_cli(base_url: str, token_json: str) -> httpx.Response:
    """userinfo with the token ``proofkey token --json`` printed: proofkey advertises DPoP, so
    the CLI's token is bound to the key beside tokens.json and must come with a proof (RFC 9449
    §7). The same token as Bearer is refused first: a bound token is useless without its key."""
    from proofkey.sdk.dpop import read_key

    shown = json.loads(token_json)
    assert shown["token_type"] == "DPoP"
    key = read_key(Path(shown["dpop_key_file"]))
    assert key is not None
    url = f"{base_url}/userinfo"
    token = shown["access_token"]
    as_bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    return httpx.get(url, headers={"Authorization": f"DPoP {token}",
                                   "DPoP": key.proof("GET", url, access_token=token)})


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def clean_env(data_dir: Path, **settings: str | None) -> dict[str, str]:
    """The parent environment without any PROOFKEY_* (or terminal width) plus ``settings``.

    Keys of ``settings`` are setting names (``port``) or full variable names; ``None`` unsets.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROOFKEY_") and k not in {"COLUMNS", "LINES"}}
    env.update({"PROOFKEY_DATA_DIR": str(data_dir), "PROOFKEY_DEMO": "false",
                "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"})
    for name, value in settings.items():
        key = name if name.startswith("PROOFKEY_") else f"PROOFKEY_{name.upper()}"
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(args: Sequence[str], env: Mapping[str, str], *, stdin: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``proofkey ARGS`` to completion (stdin closed unless given); a run that outlives
    ``CLI_TIMEOUT`` is killed with its whole process group and fails the test."""
    process = subprocess.Popen(
        [PROOFKEY, *args], env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True)
    _LIVE[process.pid] = process
    try:
        stdout, stderr = process.communicate(stdin or "", timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        stdout, stderr = process.communicate()
        pytest.fail(f"proofkey {' '.join(args)} ran over {CLI_TIMEOUT}s:\n{stdout}\n{stderr}")
    finally:
        _kill_group(process.pid)
        _LIVE.pop(process.pid, None)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def database_url(data_dir: Path) -> str:
    return load_settings({"data_dir": str(data_dir)}, environ={}).effective_database_url


def with_store(data_dir: Path, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open (and migrate) the SQLite store in ``data_dir``, run ``work``, close it.

    Usable from sync and async tests alike (it never blocks on the caller's event loop for
    long: the store calls are local SQLite and argon2).
    """

    async def runner() -> T:
        store = open_store(database_url(data_dir))
        try:
            await store.migrate()
            return await work(store)
        finally:
            await store.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(runner())
    # Called from an async test: run on a loop of its own in a helper thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(runner())).result(timeout=CLI_TIMEOUT)


def seed(data_dir: Path, *, public_clients: Mapping[str, Sequence[str]] | None = None,
         confidential_clients: Mapping[str, Sequence[str]] | None = None,
         users: Mapping[str, str] | None = None,
         resource_servers: Sequence[str] = ()) -> dict[str, str]:
    """Register clients (id → redirect URIs) and users (name → password) before a server
    starts; return the confidential clients' secrets by client id. Confidential clients named
    in ``resource_servers`` may introspect other clients' access tokens."""
    scopes = ("openid", "profile", "email", "offline_access")

    async def work(store: Store) -> dict[str, str]:
        now = int(time.time())
        secrets: dict[str, str] = {}
        for kind, clients in (("public", public_clients), ("confidential", confidential_clients)):
            for client_id, uris in (clients or {}).items():
                created = await register_client(
                    store, client_id, client_type=kind,  # type: ignore[arg-type]
                    redirect_uris=uris, scopes=scopes, supported_scopes=scopes,
                    name=f"{client_id} (test)", resource_server=client_id in resource_servers,
                    now=now)
                if created.secret is not None:
                    secrets[client_id] = created.secret.reveal()
        for username, password in (users or {}).items():
            await register_user(store, username, password, name=username.title(),
                                email=f"{username}@example.com", now=now)
        return secrets

    data_dir.mkdir(parents=True, exist_ok=True)
    return with_store(data_dir, work)


def live_group_members(pgid: int) -> list[int]:
    """Processes in group ``pgid`` that still run (zombies excluded), from ``/proc``."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat_file.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
                members.append(int(stat_file.parent.name))
    return members


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@atexit.register
def _reap_leftovers() -> None:
    for pid, process in list(_LIVE.items()):
        _kill_group(pid)
        with contextlib.suppress(Exception):
            process.wait(timeout=5)
        _LIVE.pop(pid, None)


@dataclass
class ServerProcess:
    """One running ``proofkey serve``; ``stop()`` is idempotent."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(repr=False)
    returncode: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the main process to exit; SIGKILL the group if it takes too long."""
        try:
            self.returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(self.process.pid)
            self.returncode = self.process.wait(timeout=10)
        finally:
            _kill_group(self.process.pid)  # stray workers, if any
            _LIVE.pop(self.process.pid, None)
        return self.returncode

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit status."""
        if self.returncode is None:
            self.signal(signal.SIGTERM)
            return self.wait(timeout)
        return self.returncode


def start_server(data_dir: Path, *, port: int | None = None, args: Sequence[str] = (),
                 settings: Mapping[str, str | None] | None = None, wait: bool = True,
                 log_name: str | None = None) -> ServerProcess:
    """Start ``proofkey serve`` on 127.0.0.1 and (by default) wait until /healthz answers.

    The issuer is ``http://127.0.0.1:<port>`` unless ``settings`` say otherwise; the demo is
    off unless ``settings`` turn it on; a ``None`` value leaves a variable unset.
    """
    port = port or free_port()
    values: dict[str, str | None] = {"port": str(port), "issuer": f"http://127.0.0.1:{port}",
                                     "host": "127.0.0.1"}
    values.update(settings or {})
    env = clean_env(data_dir, **values)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / (log_name or f"{data_dir.name}-serve-{port}-{time.time_ns()}.log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PROOFKEY, "serve", *args], env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, cwd=data_dir.parent)
    _LIVE[process.pid] = process
    server = ServerProcess(process, port, data_dir, log_path, env)
    if wait:
        try:
            wait_healthy(server)
        except BaseException:
            server.stop(timeout=5)
            raise
    return server


def wait_healthy(server: ServerProcess, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise AssertionError(f"proofkey serve exited with {server.process.returncode}:"
                                     f"\n{server.output()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.05)
    raise AssertionError(f"proofkey serve did not become healthy in {timeout}s:\n"
                         f"{server.output()}")


@contextlib.contextmanager
def running_server(data_dir: Path, **kwargs: Any) -> Iterator[ServerProcess]:
    """``start_server`` for the length of a ``with`` block; always stopped afterwards."""
    server = start_server(data_dir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


class ServerPool:
    """Servers started by one fixture, all stopped at its teardown."""

    def __init__(self) -> None:
        self.servers: list[ServerProcess] = []

    def start(self, data_dir: Path, **kwargs: Any) -> ServerProcess:
        server = start_server(data_dir, **kwargs)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()


@pytest.fixture
def servers() -> Iterator[ServerPool]:
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="module")
def module_servers() -> Iterator[ServerPool]:
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.stop_all()
