"""The strict test server of ``proofkey client-check``: proofkey's own app on loopback,
wrapped in an ASGI recorder that keeps every request the client makes (and the parts of the
answers the checks need), optionally signs the test user in for the client
(``--auto-approve``), and answers chosen attempts the way an attacker or a broken server
would: a wrong ``iss`` (RFC 9207 mix-up), an ``error`` beside the code, and a ``307`` from
the token endpoint to an unregistered URI (``DECOY_PATH``) that a client must not follow."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from proofkey.ops.client_check_grades import DECOY_PATH, INJECTED_ERROR, MIXUP_ISSUER
from proofkey.ops.client_check_record import RECORDED_HEADERS, Exchange
from proofkey.ops.login_driver import FormNavigator, LoginSettings

__all__ = ["Recorder", "serving"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON_PATHS = ("/par", "/token")
_MAX_BODY = 1 << 16


class Recorder:
    """ASGI middleware: records each HTTP exchange into ``exchanges`` (in the order the
    answers were sent; ``seq`` numbers them from 1)."""

    def __init__(self, app: ASGIApp, *, issuer: str, mixup_at: int = 0, error_at: int = 0,
                 redirect_at: int = 0, login: LoginSettings | None = None) -> None:
        self.app = app
        self.issuer = issuer
        self.mixup_at = mixup_at  # the n-th redirect carrying a code gets a wrong iss; 0: none
        self.error_at = error_at  # the n-th gets error=access_denied beside its code; 0: none
        self.redirect_at = redirect_at  # the n-th code's redemption gets a 307 to DECOY_PATH
        self.login = login  # sign in and consent for the client (--auto-approve)
        self.exchanges: list[Exchange] = []
        self._codes_sent = 0
        self._redirected_code: str | None = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        answer: dict[str, Any] = {"status": 0, "location": "", "json": b""}
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                fixed = []
                for name, value in message.get("headers", []):
                    if name.lower() == b"location":
                        value = self._answer_location(path, value.decode("latin-1")).encode()
                        answer["location"] = value.decode("latin-1")
                    fixed.append((name, value))
                message = {**message, "headers": fixed}
            elif (message["type"] == "http.response.body" and path in _JSON_PATHS
                  and len(answer["json"]) < _MAX_BODY):
                answer["json"] += message.get("body", b"")
            # Recorded before the answer can be complete at the client (a redirect's empty body
            # is complete with its headers), so a client that grades as soon as its request
            # returns finds it recorded; JSON answers once their body is read.
            if (message["type"] == "http.response.start" and path not in _JSON_PATHS) or (
                    message["type"] == "http.response.body" and not message.get("more_body")):
                record()
            await send(message)

        def record() -> None:
            if not answer.get("recorded"):
                answer["recorded"] = True
                self._record(scope, query, headers, body, answer)

        try:
            if self.login is not None and path == "/authorize" and scope["method"] == "GET":
                await self._approve(query, capture)
            elif path == DECOY_PATH or self._redirects(path, headers, body):
                await self._answer_elsewhere(path, capture)
            else:
                await self.app(scope, replay, capture)
        finally:  # a request that broke the server is recorded too
            record()

    def _record(self, scope: Scope, query: str, headers: dict[str, str], body: bytes,
                answer: dict[str, Any]) -> None:
        form: tuple[tuple[str, str], ...] = ()
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = tuple(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        with self._lock:
            self.exchanges.append(Exchange(
                len(self.exchanges) + 1, scope["method"], scope["path"],
                tuple(parse_qsl(query, keep_blank_values=True)), form,
                {k: headers[k] for k in RECORDED_HEADERS if k in headers},
                answer["status"], answer["location"], _json_of(answer["json"])))

    def _answer_location(self, path: str, location: str) -> str:
        """The Location sent on: the ``mixup_at``-th redirect with a code gets a wrong iss,
        the ``error_at``-th an ``error`` (a client must not redeem a code beside an error)."""
        if not (path == "/authorize" or path.startswith("/interaction/")):
            return location
        parts = urlsplit(location)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not any(name == "code" for name, _ in query):
            return location
        with self._lock:
            self._codes_sent += 1
            count = self._codes_sent
        if count == self.redirect_at:
            self._redirected_code = dict(query).get("code")
        if count == self.mixup_at:
            query = [(n, v) for n, v in query if n != "iss"] + [("iss", MIXUP_ISSUER)]
        elif count == self.error_at:
            query += [("error", INJECTED_ERROR),
                      ("error_description", "client-check: this answer is an error")]
        else:
            return location
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _redirects(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        """Whether this is the token request redeeming the ``redirect_at``-th code."""
        if path != "/token" or self._redirected_code is None or not headers.get(
                "content-type", "").startswith("application/x-www-form-urlencoded"):
            return False
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        return (form.get("grant_type") == "authorization_code"
                and form.get("code") == self._redirected_code)

    async def _answer_elsewhere(self, path: str, send: Send) -> None:
        """The token endpoint's ``307`` to ``DECOY_PATH`` (a client that follows it sends the
        code and verifier to a URI it never registered nor discovered), and the decoy's own
        answer: an OAuth error, so a client that followed gets no tokens either."""
        if path == DECOY_PATH:
            body = json.dumps({"error": "invalid_request", "error_description":
                               "client-check: this URI is not registered; a client must not "
                               "follow a redirect from the token endpoint"}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 307,
                    "headers": [(b"location", f"{self.issuer}{DECOY_PATH}".encode()),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})

    async def _approve(self, query: str, send: Send) -> None:
        """--auto-approve: sign the test user in and consent, answer with where that ends."""
        assert self.login is not None
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=self.issuer) as http:
            outcome = await FormNavigator(http, self.login).authorize(
                f"{self.issuer}/authorize?{query}",
                lambda url: not url.startswith(self.issuer + "/"))
        if outcome.redirect is None:
            text = f"auto-approve stopped: {outcome.note}".encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": text})
            return
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", outcome.redirect.encode())]})
        await send({"type": "http.response.body", "body": b""})


def _json_of(raw: bytes) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        data = json.loads(raw) if raw else None
        return data if isinstance(data, dict) else None
    return None


@contextlib.contextmanager
def serving(app: ASGIApp, sock: socket.socket, timeout: float = 30.0) -> Iterator[None]:
    """Run ``app`` with uvicorn in a thread (lifespan on) on the bound socket ``sock``
    until the block ends."""
    import uvicorn

    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False,
                            server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout)
