"""The reverse proxy: one configured upstream per path prefix, bodies streamed both ways.

The upstream request gets ``Authorization: Bearer`` and loses the browser's cookies, its own
Authorization header and the hop-by-hop headers (RFC 9110 §7.6.1); the answer keeps its
status, loses hop-by-hop headers and ``Set-Cookie`` (an upstream must not set cookies on the
gateway's origin). An upstream that cannot be reached is a 502, one that does not answer in
time a 504.
"""

from __future__ import annotations

import logging

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from proofkey.bff.gateway import BffProblem
from proofkey.bff.settings import Upstream

__all__ = ["forward"]

_log = logging.getLogger("proofkey.bff")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})
_NOT_FORWARDED = HOP_BY_HOP | {"cookie", "authorization", "host", "x-csrf", "content-length"}
_NOT_RETURNED = HOP_BY_HOP | {"set-cookie", "set-cookie2"}


def _named_in_connection(headers: httpx.Headers | dict[str, str]) -> set[str]:
    value = headers.get("connection") or ""
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def upstream_request_headers(request: Request, access_token: str) -> dict[str, str]:
    drop = _NOT_FORWARDED | _named_in_connection(dict(request.headers))
    headers = {k: v for k, v in request.headers.items() if k.lower() not in drop}
    headers["authorization"] = f"Bearer {access_token}"
    if "content-length" in request.headers:
        headers["content-length"] = request.headers["content-length"]
    return headers


def _response_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    drop = _NOT_RETURNED | _named_in_connection(response.headers)
    return [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in drop]


def _target(upstream: Upstream, request: Request) -> str:
    """The upstream URL: its base + the rest of the path as the browser encoded it. A dot
    segment, even percent-encoded, could climb out of the base path (RFC 3986 §5.2.4): 400."""
    rest = str(request.scope["path"])[len(upstream.prefix):]
    if any(segment in {".", ".."} for segment in rest.split("/")):
        raise BffProblem(400, "invalid_request", "the path has dot segments")
    raw = bytes(request.scope.get("raw_path") or b"").decode("latin-1")
    if raw.startswith(upstream.prefix):
        rest = raw[len(upstream.prefix):]
    query = request.url.query
    return f"{upstream.url}{rest}" + (f"?{query}" if query else "")


async def forward(http: httpx.AsyncClient, upstream: Upstream, request: Request,
                  access_token: str) -> Response:
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    outgoing = http.build_request(
        request.method, _target(upstream, request),
        headers=upstream_request_headers(request, access_token),
        content=request.stream() if has_body else None)
    try:
        answer = await http.send(outgoing, stream=True)
    except httpx.TimeoutException:
        _log.warning("upstream %s timed out", upstream.prefix)
        raise BffProblem(504, "upstream_timeout", "the API did not answer in time") from None
    except httpx.TransportError as exc:
        _log.warning("upstream %s unavailable (%s)", upstream.prefix, type(exc).__name__)
        raise BffProblem(502, "upstream_unavailable", "the API cannot be reached") from None
    response = StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                                 background=BackgroundTask(answer.aclose))
    response.raw_headers = _response_headers(answer)
    return response
