"""The admin API's operations and the one pipeline every call goes through.

An ``Operation`` is the single definition of an endpoint: method, path, scope, the schemas of
its query, body and answer, and its handler. ``routes`` turns the table into Starlette routes
and ``openapi`` into the document, so what is validated and what is published are the same
objects. The pipeline, in order: method (405), bearer token (401), scope (403), query (400),
media type (415), size (413), JSON and schema (400, 422), ``If-Match`` present (428); then the
handler (404, 409, 412, 422). Each call ends in one ``AdminApiCall`` event (the audit line).
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from proofkey.flows.admin_tokens import Caller
from proofkey.observability.events import AdminApiCall
from proofkey.store.base import StoreUnavailable

from ..services import Services, services_of
from .auth import authenticate, require
from .problems import Problem, problem_response
from .schema import Obj, Str, Type, check

__all__ = ["MAX_BODY", "AnyMethod", "Call", "Operation", "Reply", "call_routes"]

_log = logging.getLogger("proofkey.web")
MAX_BODY = 64 * 1024
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated, validated call, as a handler sees it."""

    services: Services
    caller: Caller
    path: Mapping[str, str]
    query: Mapping[str, Any]
    body: Mapping[str, Any]
    if_match: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any = None
    etag: str | None = None
    location: str | None = None  # a created item's path under /admin/api/v1


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # under /admin/api/v1, with {name} parameters
    operation_id: str
    summary: str
    scope: str
    handler: Handler
    responses: Mapping[int, tuple[str, Type | None]]
    body: Obj | None = None
    query: Obj | None = None
    path_params: Mapping[str, Str] = field(default_factory=dict)
    if_match: bool = False  # changes an existing item: If-Match is required
    tag: str = ""


def _depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate member")
        out[key] = value
    return out


def _constant(_: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


async def _body(request: Request, schema: Obj) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/")
                                            and media.endswith("+json")):
        raise Problem(415, "unsupported-media-type", "send the body as application/json",
                      headers={"Accept-Post": "application/json"})
    length = request.headers.get("content-length", "")
    if length and (not length.isdigit() or int(length) > MAX_BODY):
        raise Problem(413, "too-large", f"the body may have at most {MAX_BODY} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise Problem(413, "too-large", f"the body may have at most {MAX_BODY} bytes")
    try:
        text = bytes(raw).decode("utf-8")
        if _depth(text) > _MAX_DEPTH:
            raise ValueError("too deep")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_constant)
    except (ValueError, RecursionError):
        raise Problem(400, "malformed-json", "the body is not one JSON value in UTF-8 (no "
                      "duplicate members, NaN or nesting deeper than 32)") from None
    checked, errors = check(schema, value)
    if errors:
        raise Problem(422, "invalid-body", "the body does not match the schema: "
                      + "; ".join(f"{p or '/'} {d}" for p, d in errors[:3]), errors=errors)
    return dict(checked)


def _query(request: Request, schema: Obj | None) -> dict[str, Any]:
    items = request.query_params.multi_items()
    if not items:
        return {}
    if schema is None:
        raise Problem(400, "invalid-query", "this call takes no query parameters")
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise Problem(400, "invalid-query", "a query parameter is repeated")
    raw: dict[str, Any] = {}
    for name, value in items:
        prop = schema.by_name.get(name)
        if prop is not None and not isinstance(prop.type, Str):
            try:
                raw[name] = int(value) if value.isascii() and value.lstrip("-").isdigit() \
                    else value
            except ValueError:
                raw[name] = value
        else:
            raw[name] = value
    checked, errors = check(schema, raw)
    if errors:
        raise Problem(400, "invalid-query", "; ".join(
            f"{p.lstrip('/')} {d}" for p, d in errors[:3]),
            errors=[(p.lstrip("/"), d) for p, d in errors])
    return dict(checked)


def _path(request: Request, op: Operation) -> dict[str, str]:
    values = {k: str(v) for k, v in request.path_params.items()}
    errors = []
    for name, schema in op.path_params.items():
        _, found = check(schema, values.get(name, ""))
        errors += [(name, d) for _, d in found]
    if errors:
        raise Problem(404, "not-found", "no such item (the path parameter cannot name one)")
    return values


def _reply(reply: Reply) -> Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if reply.etag:
        headers["ETag"] = reply.etag
    if reply.location:
        headers["Location"] = "/admin/api/v1" + reply.location
    if reply.body is None:
        return Response(status_code=reply.status, headers=headers)
    return Response(json.dumps(reply.body), status_code=reply.status,
                    media_type="application/json", headers=headers)


def _failure(path: str, exc: Exception) -> Problem:
    if isinstance(exc, StoreUnavailable):
        _log.error("store unavailable at %s: %s", path, type(exc).__name__)
        return Problem(503, "unavailable", "the service is temporarily unavailable; retry "
                       "later", headers={"Retry-After": "5"})
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    _log.error("unexpected %s at %s (%s)", type(exc).__name__, path,
               f"{frame.filename}:{frame.lineno}" if frame else "?")
    return Problem(500, "internal", "the call failed unexpectedly; it was logged")


class AnyMethod:
    """An ASGI endpoint that takes every method (Starlette's routing would answer a method it
    was not told about with its own 405, not a problem)."""

    def __init__(self, handle: Callable[[Request], Awaitable[Response]]) -> None:
        self._handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._handle(Request(scope, receive))
        await response(scope, receive, send)


class _Endpoint:
    """Every operation of one path, dispatched by method."""

    def __init__(self, ops: Sequence[Operation], writes: asyncio.Lock) -> None:
        self.ops = {op.method: op for op in ops}
        self.writes = writes

    async def handle(self, request: Request) -> Response:
        op = self.ops.get(request.method)
        actor, target, name = "anonymous", "", f"{request.method} {request.url.path}"[:200]
        try:
            if op is None:
                raise Problem(405, "method-not-allowed", "this path does not take "
                              f"{request.method[:10]}", headers={"Allow": ", ".join(self.ops)})
            name = op.operation_id
            services = services_of(request)
            caller = await authenticate(request, services)
            actor = caller.actor
            path = _path(request, op)
            target = next(iter(path.values()), "")[:300]
            require(caller, op.scope)
            query = _query(request, op.query)
            body = await _body(request, op.body) if op.body is not None else {}
            if_match = request.headers.get("if-match")
            if op.if_match and if_match is None:
                raise Problem(428, "precondition-required", "send If-Match with the ETag of "
                              "the item as you last read it")
            call = Call(services, caller, path, query, body, if_match)
            if op.if_match:  # the If-Match check and the write, with no other change between
                async with self.writes:
                    response = _reply(await op.handler(call))
            else:
                response = _reply(await op.handler(call))
            problem = ""
        except Problem as refusal:
            response, problem = problem_response(refusal), refusal.slug
        except Exception as exc:
            failure = _failure(request.url.path[:200], exc)
            response, problem = problem_response(failure), failure.slug
        try:
            services_of(request).ctx.bus.emit(AdminApiCall(
                actor, name, target, response.status_code, problem))
        except Exception:  # no services (the lifespan failed): nothing to audit with
            _log.error("admin API call not audited: no event bus")
        return response


def call_routes(operations: Sequence[Operation]) -> list[Route]:
    """One route per path, in table order. Conditional writes (``If-Match``) of this process
    run one at a time, so two callers holding the same ETag cannot both change the item:
    the second gets 412. Across server processes, a client change or secret rotation is
    also a compare-and-swap on the client's stored version (``update_client(client,
    expected_version)``), so the second write there gets 412 too; the removals of
    resources, registration tokens and clients rely on this lock alone."""
    writes = asyncio.Lock()
    paths: dict[str, list[Operation]] = {}
    for op in operations:
        paths.setdefault(op.path, []).append(op)
    return [Route(path, AnyMethod(_Endpoint(ops, writes).handle))
            for path, ops in paths.items()]
