"""The loopback redirect receiver for native and CLI apps (RFC 8252 §7.3, §8.3).

Listens on 127.0.0.1 at an ephemeral port chosen by the OS, so the redirect URI is
``http://127.0.0.1:<port>/callback``; the provider matches it against the registered
``http://127.0.0.1/callback`` at any port. It accepts exactly one callback on that path,
answers the browser with a short page, and hands the full URL back to the caller.
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["LoopbackReceiver", "LoopbackTimeout"]

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title><style>body{{font:16px system-ui,sans-serif;display:grid;
place-items:center;min-height:90vh;color:#1d2330}}</style></head>
<body><main><h1>{title}</h1><p>{text}</p></main></body></html>"""


class LoopbackTimeout(TimeoutError):
    """No callback arrived in time."""


class LoopbackReceiver:
    """A one-shot HTTP server on a loopback address for the RFC 8252 §7.3 redirect of a native
    app: ``with LoopbackReceiver() as r:`` pass ``r.redirect_uri`` to the client, send the
    person to the authorization URL, then ``callback = r.wait(120)``. It answers the browser
    with a short page, takes only the first callback on ``path``, and never logs the URL (it
    carries the code). ``port=0`` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, path: str = "/callback") -> None:
        self.path = path
        self._result: str | None = None
        self._done = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != receiver.path or receiver._done.is_set():
                    self.send_error(404)
                    return
                query = parse_qs(parts.query)
                failed = "error" in query
                title = "Sign-in failed" if failed else "Signed in"
                text = (html.escape(query["error"][0]) if failed
                        else "You can close this window and return to the terminal.")
                body = _PAGE.format(title=title, text=text).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                receiver._result = f"http://{receiver.host_for_uri}:{receiver.port}{self.path}"
                receiver._done.set()

            def log_message(self, format: str, *args: object) -> None:
                return  # the callback URL carries the code: never log it

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.host_for_uri = f"[{host}]" if ":" in host else host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def redirect_uri(self) -> str:
        """``http://127.0.0.1:<port>/callback``: register ``http://127.0.0.1/callback``."""
        return f"http://{self.host_for_uri}:{self.port}{self.path}"

    def __enter__(self) -> LoopbackReceiver:
        """Start serving (in a daemon thread)."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> str:
        """The full callback URL, or LoopbackTimeout after ``timeout`` seconds."""
        if not self._done.wait(timeout):
            raise LoopbackTimeout(f"no sign-in callback within {timeout:.0f} seconds")
        assert self._result is not None
        return self._result
