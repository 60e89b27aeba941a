"""Security headers on the gateway's own answers (its endpoints and the SPA's files); proxied
answers keep exactly the headers their upstream chose.

Every own answer: ``nosniff``, no framing (clickjacking on a signed-in SPA), and a referrer
kept on this origin. The bundled sample SPA also gets a strict Content-Security-Policy; a
team's own SPA sets its CSP itself (its scripts and CDNs are not the gateway's to guess).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SAMPLE_CSP", "SecurityHeaders"]

_ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"same-origin"))
SAMPLE_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
              b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
              b"form-action 'self'; object-src 'none'")
_FRAMING = b"frame-ancestors 'none'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, proxied: Sequence[str], *, sample: bool) -> None:
        self.app = app
        self.proxied = tuple(proxied)
        self.csp = SAMPLE_CSP if sample else _FRAMING

    def _is_proxied(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.proxied)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_proxied(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [*_ALWAYS, (b"content-security-policy", self.csp)]
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
