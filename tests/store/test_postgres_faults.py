"""PostgreSQL specifics: outages become StoreUnavailable and heal without a new store; URLs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from test_contract import NOW, a_client, a_code
from tests.scale.pgproxy import PgProxy, running_proxy, via

from proofkey.crypto import digest
from proofkey.store import open_store
from proofkey.store.base import StoreUnavailable
from proofkey.store.postgres import PostgresStore

if TYPE_CHECKING:
    from conftest import Backend

TIMEOUT = 1.0  # connect and command timeout of the stores under test
SLACK = 1.5  # scheduling noise allowed on top of the timeouts


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def proxy(postgres_backend: Backend) -> Iterator[PgProxy]:
    assert postgres_backend.url is not None
    with running_proxy(postgres_backend.url) as running:
        yield running


@contextlib.asynccontextmanager
async def store_on(url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(url, connect_timeout=TIMEOUT, command_timeout=TIMEOUT)
    try:
        yield opened
    finally:
        await opened.close()


async def unavailable_soon(call: Callable[[], Awaitable[object]], limit: float) -> None:
    """``call`` raises StoreUnavailable (never a driver error) within ``limit`` seconds."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        await call()
    assert time.monotonic() - started < limit
    assert "PostgreSQL unavailable" in str(raised.value)


# -- outages -----------------------------------------------------------------------------------


async def test_a_port_where_nothing_listens_is_unavailable() -> None:
    async with store_on(f"postgresql://postgres@127.0.0.1:{free_port()}/test") as store:
        for call in (store.migrate, store.ping, lambda: store.get_client("app")):
            await unavailable_soon(call, TIMEOUT + SLACK)
            await unavailable_soon(call, TIMEOUT + SLACK)  # and again: no broken pool is kept


async def test_a_server_that_never_answers_is_unavailable_after_the_connect_timeout(
    proxy: PgProxy, postgres_backend: Backend
) -> None:
    assert postgres_backend.url is not None
    proxy.blackhole = True
    async with store_on(via(postgres_backend.url, proxy.port)) as store:
        await unavailable_soon(store.ping, TIMEOUT + SLACK)


async def test_an_outage_is_unavailable_and_the_same_store_recovers(
    proxy: PgProxy, postgres_backend: Backend
) -> None:
    assert postgres_backend.url is not None
    async with store_on(via(postgres_backend.url, proxy.port)) as store:
        await store.migrate()
        await store.save_code(a_code("before"))

        proxy.stop()  # every pooled connection is cut, and nothing listens
        await unavailable_soon(store.ping, TIMEOUT + SLACK)
        await unavailable_soon(lambda: store.save_code(a_code("during")), TIMEOUT + SLACK)
        redeem = lambda: store.redeem_code(digest("before"), NOW, "g1", NOW + 1, None)  # noqa: E731
        await unavailable_soon(redeem, TIMEOUT + SLACK)

        proxy.blackhole = True  # back, but hanging: bounded by the connect timeout
        proxy.start()
        await unavailable_soon(lambda: store.find_code(digest("before")), TIMEOUT + SLACK)
        proxy.stop()

        proxy.blackhole = False
        proxy.start()  # the database is back: the next call works
        await store.ping()
        assert await store.find_code(digest("during")) is None
        assert await store.redeem_code(digest("before"), NOW, "g1", NOW + 1, None) is not None
        await store.add_client(a_client())
        assert await store.get_client("app") == a_client()


async def test_terminated_server_connections_are_replaced_on_the_next_call(
    postgres_backend: Backend,
) -> None:
    import asyncpg  # type: ignore[import-untyped]

    assert postgres_backend.url is not None
    name = f"proofkey-fault-{os.getpid()}-{time.monotonic_ns()}"
    async with store_on(f"{postgres_backend.url}&application_name={name}") as store:
        await store.migrate()
        await store.save_code(a_code())
        admin = await asyncpg.connect(postgres_backend.url)
        try:  # what an administrator (or a server restart) does to the idle pooled connections
            sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            assert await admin.fetchval(f"{sql} WHERE application_name = $1", name) >= 1
        finally:
            await admin.close()
        await asyncio.sleep(0.2)  # the server's goodbye reaches the idle connections
        assert await store.redeem_code(digest("c1"), NOW, "g1", NOW + 1, None) is not None


async def test_a_server_that_stops_answering_mid_operation_is_unavailable(
    proxy: PgProxy, postgres_backend: Backend
) -> None:
    assert postgres_backend.url is not None
    async with store_on(via(postgres_backend.url, proxy.port)) as store:
        await store.migrate()
        await store.save_code(a_code())
        proxy.blackhole = True  # the open connection goes silent; new ones hang
        # The statement times out, then asyncpg's cancel request gets a command timeout too.
        await unavailable_soon(lambda: store.find_code(digest("c1")), 2 * TIMEOUT + SLACK)
        await unavailable_soon(lambda: store.find_code(digest("c1")), TIMEOUT + SLACK)
        proxy.blackhole = False
        assert await store.redeem_code(digest("c1"), NOW, "g1", NOW + 1, None) is not None


# -- URLs --------------------------------------------------------------------------------------


def test_pool_options_are_taken_from_the_url_and_removed_from_the_dsn() -> None:
    store = open_store(
        "postgresql://proofkey:s3cret@db.example:6432/idp?pool_min=0&pool_max=3"
        "&command_timeout=2.5&connect_timeout=1&sslmode=disable&search_path=auth"
    )
    assert isinstance(store, PostgresStore)
    assert (store.min_size, store.max_size) == (0, 3)
    assert (store.command_timeout, store.connect_timeout) == (2.5, 1.0)
    assert repr(store) == (
        "PostgresStore('postgresql://proofkey:***@db.example:6432/idp"
        "?sslmode=disable&search_path=auth')"
    )
    defaults = open_store("postgres://db.example/idp")
    assert isinstance(defaults, PostgresStore)
    assert (defaults.min_size, defaults.max_size) == (1, 10)
    assert (defaults.command_timeout, defaults.connect_timeout) == (5.0, 5.0)


@pytest.mark.parametrize(
    "query", ["pool_max=lots", "pool_min=5&pool_max=2", "connect_timeout=0", "pool_max=0"]
)
def test_bad_pool_options_are_refused_when_the_store_is_opened(query: str) -> None:
    with pytest.raises(ValueError, match="bad pool option"):
        open_store(f"postgresql://db.example/idp?{query}")


def test_opening_a_store_imports_only_its_own_driver() -> None:
    script = (
        "import sys; from proofkey.store import open_store\n"
        "assert 'asyncpg' not in sys.modules and 'sqlite3' not in sys.modules\n"
        "open_store('postgresql://127.0.0.1:1/none')\n"
        "assert 'asyncpg' in sys.modules and 'sqlite3' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
