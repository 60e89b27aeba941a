"""A misbehaving gateway for chaos tests (failure F2): an HTTP/1.1 reverse proxy on a free
loopback port that strips or truncates query parameters of ``GET /authorize`` on the way to a
real ``proofkey serve``, and changes nothing else.

What it forwards: the request line (only the ``/authorize`` query is touched, and only the
named parameters in it: every other ``name=value`` pair keeps its bytes and its place), every
header in its order and spelling with ``Host`` set to the upstream, and the body. Responses
come back byte for byte: status line, headers (``Location``, ``Set-Cookie`` …) and body,
framed by the upstream's own ``Content-Length`` or chunked encoding. Each client connection is
paired with one upstream connection, so keep-alive works end to end and no hop-by-hop header
has to be rewritten.

It runs an asyncio loop in a thread of its own, so sync tests, async tests and the
``CliRunner`` (whose commands call ``asyncio.run``) can all send traffic through it. Every
wait is bounded by ``timeout``; ``close()`` cancels open connections and stops the thread.
A chunked *request* body is answered with 501: no client in this suite sends one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote_plus, unquote_plus

__all__ = [
    "PASS_THROUGH",
    "Forwarded",
    "Mode",
    "StrippingProxy",
    "strip",
    "stripping",
    "truncate",
]

_HEAD_LIMIT = 64 * 1024
_BODY_LIMIT = 1 << 20
_PIECE = 64 * 1024
_NO_BODY = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class Mode:
    """What the gateway does to ``GET /authorize``: nothing, drop ``names``, or cut the value
    of each of ``names`` to ``length`` characters (decoded, then re-encoded)."""

    kind: Literal["pass", "strip", "truncate"] = "pass"
    names: frozenset[str] = frozenset()
    length: int = 0

    def apply(self, query: str) -> str:
        if self.kind == "pass" or not query:
            return query
        out = []
        for pair in query.split("&"):
            raw_name, sep, raw_value = pair.partition("=")
            if unquote_plus(raw_name) not in self.names:
                out.append(pair)
            elif self.kind == "truncate":
                cut = unquote_plus(raw_value)[:self.length]
                out.append(f"{raw_name}{sep or '='}{quote_plus(cut)}")
        return "&".join(out)

    def __str__(self) -> str:
        names = ",".join(sorted(self.names))
        return {"pass": "pass-through", "strip": f"strip {names}",
                "truncate": f"truncate {names} to {self.length}"}[self.kind]


PASS_THROUGH = Mode()


def strip(*names: str) -> Mode:
    return Mode("strip", frozenset(names))


def truncate(name: str, length: int) -> Mode:
    return Mode("truncate", frozenset({name}), length)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """One request as the client sent it and as the upstream got it (request targets)."""

    method: str
    sent: str
    forwarded: str

    @property
    def path(self) -> str:
        return self.sent.partition("?")[0]

    @property
    def rewritten(self) -> bool:
        return self.sent != self.forwarded


class _Closed(Exception):
    """The conversation on this connection is over."""


@dataclass
class StrippingProxy:
    """``StrippingProxy(upstream_port).start()``; set ``mode`` at any time (it applies to the
    next request); ``url`` is the address clients use; ``log`` lists what went through."""

    upstream_port: int
    upstream_host: str = "127.0.0.1"
    timeout: float = 10.0
    mode: Mode = PASS_THROUGH
    log: list[Forwarded] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _server: asyncio.Server | None = field(default=None, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def upstream(self) -> str:
        return f"{self.upstream_host}:{self.upstream_port}"

    def authorize_requests(self) -> list[Forwarded]:
        return [f for f in self.log if f.method == "GET" and f.path == "/authorize"]

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> StrippingProxy:
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, daemon=True,
                                        name=f"stripping-proxy->{self.upstream_port}")
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_HEAD_LIMIT),
            loop).result(self.timeout)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(stop(), loop).result(self.timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(self.timeout)
            self._thread = self._loop = None
            loop.close()

    def __enter__(self) -> StrippingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def mode_set(self, mode: Mode) -> Iterator[StrippingProxy]:
        """``mode`` for the length of a ``with`` block, then pass-through again."""
        self.mode = mode
        try:
            yield self
        finally:
            self.mode = PASS_THROUGH

    # --- one client connection ------------------------------------------------------------
    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                head = await self._read(client.readuntil(b"\r\n\r\n"), eof_ok=True)
                method, target, lines, length = self._parse_request(head)
                if length < 0:
                    to_client.write(b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\n"
                                    b"connection: close\r\n\r\n")
                    await to_client.drain()
                    return
                body = await self._read(client.readexactly(length)) if length else b""
                forwarded = self._rewrite(method, target)
                self.log.append(Forwarded(method, target, forwarded))
                if upstream is None:
                    try:
                        upstream = await asyncio.wait_for(asyncio.open_connection(
                            self.upstream_host, self.upstream_port), self.timeout)
                    except (OSError, TimeoutError):
                        to_client.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n"
                                        b"connection: close\r\n\r\n")
                        await to_client.drain()
                        return
                version = head.split(b"\r\n", 1)[0].rsplit(b" ", 1)[1]
                upstream[1].write(b"%s %s %s\r\n" % (method.encode(), forwarded.encode(),
                                                     version) + self._headers(lines) + body)
                await upstream[1].drain()
                if not await self._relay_response(method, upstream[0], to_client):
                    return
        except (_Closed, ConnectionError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError, IndexError):
            return
        finally:
            self._tasks.discard(task)
            for writer in (to_client, *(upstream[1:] if upstream else ())):
                writer.close()

    async def _read(self, reading: Awaitable[bytes], *, eof_ok: bool = False) -> bytes:
        try:
            data = await asyncio.wait_for(reading, self.timeout)
        except asyncio.IncompleteReadError as exc:
            if eof_ok and not exc.partial:
                raise _Closed from None
            raise
        return bytes(data)

    def _parse_request(self, head: bytes) -> tuple[str, str, list[bytes], int]:
        request_line, *lines = head[:-4].split(b"\r\n")
        method, target, _version = request_line.decode("latin-1").split(" ")
        length = 0
        for line in lines:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"transfer-encoding":
                return method, target, lines, -1
            if lowered == b"content-length":
                length = int(value.strip())
                if not 0 <= length <= _BODY_LIMIT:
                    raise ValueError("request body too large")
        return method, target, lines, length

    def _headers(self, lines: list[bytes]) -> bytes:
        out = []
        for line in lines:
            name, sep, _value = line.partition(b":")
            if name.strip().lower() == b"host":
                line = name + sep + b" " + self.upstream.encode()
            out.append(line + b"\r\n")
        return b"".join(out) + b"\r\n"

    def _rewrite(self, method: str, target: str) -> str:
        path, sep, query = target.partition("?")
        if method != "GET" or path != "/authorize" or not sep:
            return target
        rewritten = self.mode.apply(query)
        return f"{path}?{rewritten}" if rewritten else path

    async def _relay_response(self, method: str, upstream: asyncio.StreamReader,
                              to_client: asyncio.StreamWriter) -> bool:
        """Copy one response verbatim; True if both sides may go on with the connection."""
        while True:
            head = await self._read(upstream.readuntil(b"\r\n\r\n"))
            to_client.write(head)
            status_line, *lines = head[:-4].split(b"\r\n")
            status = int(status_line.split(b" ", 2)[1])
            if status >= 200 or status == 101:
                break  # 1xx interim responses are relayed and the final one follows
        fields: dict[bytes, bytes] = {}
        for line in lines:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        keep = b"close" not in fields.get(b"connection", b"") and status_line.startswith(
            b"HTTP/1.1")
        if method == "HEAD" or status in _NO_BODY or status < 200:
            pass
        elif b"chunked" in fields.get(b"transfer-encoding", b""):
            await self._relay_chunks(upstream, to_client)
        elif b"content-length" in fields:
            await self._relay_exactly(int(fields[b"content-length"]), upstream, to_client)
        else:  # delimited by the end of the connection
            while piece := await self._read(upstream.read(_PIECE)):
                to_client.write(piece)
            keep = False
        await to_client.drain()
        return keep

    async def _relay_exactly(self, remaining: int, upstream: asyncio.StreamReader,
                             to_client: asyncio.StreamWriter) -> None:
        while remaining > 0:
            piece = await self._read(upstream.readexactly(min(remaining, _PIECE)))
            to_client.write(piece)
            remaining -= len(piece)
            await to_client.drain()

    async def _relay_chunks(self, upstream: asyncio.StreamReader,
                            to_client: asyncio.StreamWriter) -> None:
        while True:
            size_line = await self._read(upstream.readuntil(b"\r\n"))
            to_client.write(size_line)
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (trailer := await self._read(upstream.readuntil(b"\r\n"))) != b"\r\n":
                    to_client.write(trailer)
                to_client.write(b"\r\n")
                return
            await self._relay_exactly(size + 2, upstream, to_client)  # data and its CRLF


@contextlib.contextmanager
def stripping(upstream_port: int, timeout: float = 10.0) -> Iterator[StrippingProxy]:
    """A started proxy for the length of a ``with`` block."""
    with StrippingProxy(upstream_port, timeout=timeout) as proxy:
        yield proxy
