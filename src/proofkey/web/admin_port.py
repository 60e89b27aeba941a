"""The admin port: a second, minimal server for ``/metrics``, ``/status`` and the console
(``/admin``) on ``admin_port``.

It runs inside the main server's event loop (started and stopped by the app's lifespan) and
never installs signal handlers: the main server owns them. With several worker processes only
one of them can bind the port; the others log a warning and serve nothing there (each worker
keeps its own in-process numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

__all__ = ["AdminServer"]

_log = logging.getLogger("proofkey.ops")


class _QuietServer(uvicorn.Server):
    """A uvicorn server inside another one's event loop: the main server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AdminServer:
    """Serves ``app`` on ``host:port``; skipped with a warning if the port is taken."""

    def __init__(self, app: Starlette, *, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    def _bind(self) -> socket.socket | None:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            _log.warning("admin port %s:%d unavailable: %s", self.host, self.port, exc.strerror)
            return None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            _log.warning("admin port %s:%d not bound (%s); /metrics and /status are not served "
                         "by this process", self.host, self.port, exc.strerror)
            return None
        sock.set_inheritable(True)
        return sock

    async def start(self) -> None:
        sock = self._bind()
        if sock is None:
            return
        config = uvicorn.Config(self.app, lifespan="off", log_config=None, access_log=False,
                                server_header=False, proxy_headers=False)
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(200):
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        _log.info("admin server on %s:%d serves the metrics, status and console routes", self.host,
                  self.port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout=10)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
