"""A real https server on loopback for client ID metadata documents, with a private CA
(``trustme``): tests script each path's answer and count the requests that reach it."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme

HOST_NAMES = ("localhost", "127.0.0.1", "docs.test")


@dataclass
class Answer:
    """What the server sends for one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    drip: float = 0.0  # between body bytes (the body is then sent one byte at a time)
    declare_length: bool = True


class DocServer:
    """``url(path)`` is https://localhost:<port><path>; ``answers[path]`` says what to send."""

    def __init__(self, ca: trustme.CA, ca_file: Path) -> None:
        self.ca = ca
        self.ca_file = ca_file
        self.answers: dict[str, Answer] = {}
        self.hits: Counter[str] = Counter()
        self.host_headers: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*HOST_NAMES).configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    def url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    def document(self, path: str, host: str = "localhost", *, headers: dict[str, str] | None
                 = None, **members: object) -> str:
        """Serve a public client's metadata document at ``path``; return its URL."""
        url = self.url(path, host)
        doc: dict[str, object] = {
            "client_id": url, "client_name": "Tool", "redirect_uris": [
                "http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none", "scope": "openid profile"}
        doc.update(members)
        self.answers[path] = Answer(json.dumps(doc).encode(), headers=headers or {})
        return url

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def count(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(server: DocServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            server.count(self.path)
            server.host_headers.append(self.headers.get("Host", ""))
            answer = server.answers.get(self.path, Answer(b"not found", status=404))
            time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.declare_length:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if answer.drip:
                    for i in range(len(answer.body)):
                        self.wfile.write(answer.body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(answer.drip)
                else:
                    self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the fetcher gave up, as it should

    return Handler


def running_docserver(tmp: Path) -> Iterator[DocServer]:
    """Generator for a fixture: a started server, stopped afterwards."""
    ca = trustme.CA()
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = DocServer(ca, ca_file)
    server.start()
    try:
        yield server
    finally:
        server.stop()
