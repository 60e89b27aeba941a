"""Scale-out fixtures: a fresh PostgreSQL schema for real ``proofkey serve`` processes, Redis.

PostgreSQL and Redis tests skip with the reason when the service is unreachable on a
developer's machine and FAIL when ``CI`` is set (as in ``tests/store/conftest.py``).
Servers come from ``tests/process/conftest.py`` (own process group, log file, always stopped).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from proofkey.flows.admin import register_client, register_user
from proofkey.store import Store, open_store
from tests.helpers import Flow, action_of, authorize_params, csrf_of, query_of

T = TypeVar("T")

POSTGRES_URL = os.environ.get(
    "PROOFKEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PROOFKEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCOPES = ("openid", "profile", "email", "offline_access")
_IN_CI = os.environ.get("CI", "").lower() not in {"", "0", "false"}


def missing(service: str, reason: str, variable: str) -> None:
    """Skip on a developer's machine; fail loudly in CI, where the service must be there."""
    if _IN_CI:
        pytest.fail(f"{service} is required in CI: {reason}", pytrace=False)
    pytest.skip(f"{service} not reachable ({reason}); set {variable}")


def reachable(url: str, default_port: int) -> str | None:
    """None if something accepts TCP connections at the URL's host and port, else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1",
                                       parts.port or default_port), timeout=2):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def run_async(work: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60.0) -> T:
    """Run ``work()`` to completion on a loop of its own in a helper thread (so it works from
    sync code and from inside a running event loop alike)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result(timeout=timeout)


@dataclass(frozen=True)
class Database:
    """One fresh schema of the test database; ``url`` has it first on the search_path."""

    url: str
    schema: str

    def fetch(self, sql: str, *args: Any) -> list[Any]:
        import asyncpg  # type: ignore[import-untyped]

        async def work() -> list[Any]:
            connection = await asyncpg.connect(self.url, timeout=5)
            try:
                return list(await connection.fetch(sql, *args))
            finally:
                await connection.close()

        return run_async(work)

    def value(self, sql: str, *args: Any) -> Any:
        rows = self.fetch(sql, *args)
        return rows[0][0] if rows else None

    def with_store(self, work: Callable[[Store], Awaitable[T]]) -> T:
        async def runner() -> T:
            store = open_store(self.url)
            try:
                await store.migrate()
                return await work(store)
            finally:
                await store.close()

        return run_async(runner)


@contextlib.contextmanager
def fresh_schema() -> Iterator[Database]:
    """A new schema ``t_<hex>`` created for the caller and dropped (CASCADE) afterwards."""
    import asyncpg

    why = reachable(POSTGRES_URL, 5432)
    if why:
        missing("PostgreSQL", why, "PROOFKEY_TEST_POSTGRES_URL")
    schema = f"t_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        run_async(lambda: admin(f"CREATE SCHEMA {schema}"))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        missing("PostgreSQL", f"{type(exc).__name__}: {exc}", "PROOFKEY_TEST_POSTGRES_URL")
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield Database(f"{POSTGRES_URL}{separator}search_path={schema}", schema)
    finally:
        run_async(lambda: admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


@pytest.fixture
def pg() -> Iterator[Database]:
    with fresh_schema() as database:
        yield database


@pytest.fixture(scope="module")
def module_pg() -> Iterator[Database]:
    with fresh_schema() as database:
        yield database


@pytest.fixture
def redis_url() -> str:
    why = reachable(REDIS_URL, 6379)
    if why:
        missing("Redis", why, "PROOFKEY_TEST_REDIS_URL")
    return REDIS_URL


def seed_database(database: Database, *,
                  public_clients: Mapping[str, Sequence[str]] | None = None,
                  confidential_clients: Mapping[str, Sequence[str]] | None = None,
                  users: Mapping[str, str] | None = None) -> dict[str, str]:
    """Register clients (id -> redirect URIs) and users (name -> password) in ``database``;
    return the confidential clients' secrets by client id."""

    async def work(store: Store) -> dict[str, str]:
        now = int(time.time())
        found: dict[str, str] = {}
        for kind, clients in (("public", public_clients), ("confidential", confidential_clients)):
            for client_id, uris in (clients or {}).items():
                created = await register_client(
                    store, client_id, client_type=kind,  # type: ignore[arg-type]
                    redirect_uris=uris, scopes=SCOPES, supported_scopes=SCOPES,
                    name=f"{client_id} (test)", now=now)
                if created.secret is not None:
                    found[client_id] = created.secret.reveal()
        for username, password in (users or {}).items():
            await register_user(store, username, password, name=username.title(),
                                email=f"{username}@example.com", now=now)
        return found

    return database.with_store(work)


_ERROR_TEXT = re.compile(r"Traceback|asyncpg|StoreUnavailable|Exception")


def assert_no_trace(text: str) -> None:
    """A response body or log that shows no stack trace or driver internals."""
    found = _ERROR_TEXT.search(text)
    assert found is None, f"leaks {found.group(0)!r}: {text[:2000]}"


async def browser_code(browser: httpx.AsyncClient, flow: Flow, *, authorize_at: str,
                       interact_at: str, username: str, password: str,
                       **extra: str | None) -> str:
    """/authorize on one instance, login and consent (when asked) on another; the code.

    ``browser`` keeps one cookie jar for both: cookies are host-scoped, not port-scoped, so
    127.0.0.1:A and 127.0.0.1:B see the same cookies, as one site behind a load balancer would.
    """
    response = await browser.get(f"{authorize_at}/authorize",
                                 params=authorize_params(flow, **extra))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    while location.startswith("/interaction/"):
        page = await browser.get(interact_at + location)
        assert page.status_code == 200, page.text
        if 'name="password"' in page.text:
            data = {"csrf": csrf_of(page.text), "username": username, "password": password}
        else:
            assert 'name="decision"' in page.text, page.text
            data = {"csrf": csrf_of(page.text), "decision": "allow"}
        response = await browser.post(interact_at + action_of(page.text), data=data)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
    query = query_of(location)
    assert "code" in query, location
    assert query["state"] == flow.state
    return query["code"]
