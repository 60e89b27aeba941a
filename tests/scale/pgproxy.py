"""A loopback TCP proxy in front of PostgreSQL that tests can switch off and on again.

It runs on an event loop of its own in a daemon thread, so the servers behind it keep working
while a test blocks (``time.sleep``, a synchronous HTTP client, starting a process) and the
same proxy serves sync and async tests alike.

``stop()`` closes the listener and cuts every forwarded connection (a database restart or a
network break); ``start()`` listens on the same port again. With ``blackhole`` set, new
connections are accepted and never answered, and open ones carry nothing more (a database
that hangs, or a network that silently drops packets).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

__all__ = ["PgProxy", "running_proxy", "via"]

T = TypeVar("T")
_TIMEOUT = 10.0


def via(url: str, port: int) -> str:
    """``url`` pointed at 127.0.0.1:``port`` instead of its own host and port."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(
        parts._replace(netloc=f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"))


class PgProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``start``/``stop`` from any thread."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.blackhole = False
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pgproxy",
                                        daemon=True)
        self._thread.start()

    def url_for(self, url: str) -> str:
        """``url`` (a PostgreSQL URL) through this proxy."""
        return via(url, self.port)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        self._call(self._start())

    def stop(self) -> None:
        self._call(self._stop())

    def close(self) -> None:
        """Stop forwarding and end the proxy's thread (idempotent)."""
        if self._loop.is_closed():
            return
        if self._server is not None:
            self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_TIMEOUT)
        self._loop.close()

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(_TIMEOUT)

    async def _start(self) -> None:
        assert self._server is None, "the proxy runs already"
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()
        await self._server.wait_closed()
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._links.add(writer)
        if self.blackhole:
            return  # keep the socket open and say nothing
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.blackhole:
                    writer.write(data)
                    await writer.drain()
        except OSError:
            pass
        finally:
            self._links.discard(writer)
            writer.transport.abort()


@contextlib.contextmanager
def running_proxy(database_url: str) -> Iterator[PgProxy]:
    """A started proxy in front of the server of ``database_url``; closed afterwards."""
    parts = urlsplit(database_url)
    proxy = PgProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.close()
