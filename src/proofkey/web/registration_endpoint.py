"""``POST /register`` (RFC 7591 §3) and ``GET|PUT|DELETE /register/{client_id}`` (RFC 7592 §2).

The edge's part: JSON only (``application/json``), the body bounded by ``max_body_bytes``
before it is parsed (``middleware``: 413 ``invalid_request`` as soon as it grows past the
bound, whether it declared its length or streams), strict JSON (no duplicate members, no NaN;
nesting too deep for the parser is refused like any other bad JSON), then one flow call.
Answers are ``no-store``; errors are RFC 7591 §3.2.2 JSON (400; ``invalid_request`` for another
content type), 401 ``invalid_token`` with ``WWW-Authenticate: Bearer`` (RFC 6750 §3) for a
missing or wrong token, 429 with ``Retry-After``, and 404 when registration is ``off`` (the
endpoint is not advertised then either). Management (RFC 7592) answers whatever the mode: it
needs the client's own registration access token.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proofkey.errors import InvalidClientMetadata, InvalidRequest, InvalidToken, OAuthError
from proofkey.flows import registration as flow
from proofkey.protocol.responses import NO_STORE_HEADERS

from .endpoints import client_ip
from .middleware import error_response
from .services import services_of

__all__ = ["manage", "register"]

_JSON = "application/json"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


async def _read_json(request: Request) -> object:
    """The request's JSON body; refusals name their rule."""
    if (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower() != _JSON:
        raise InvalidRequest("the request body must be application/json (RFC 7591 §3.1)",
                             redirectable=False)
    body = await request.body()  # bounded by the middleware: 413 beyond max_body_bytes
    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidClientMetadata("the request body is not a JSON object of client "
                                    "metadata [PKL050]") from None


def _error(error: OAuthError) -> Response:
    if isinstance(error, InvalidToken):
        challenge = f'Bearer error="invalid_token", error_description="{error.description}"'
        return error_response(error, {"WWW-Authenticate": challenge})
    return error_response(error)


def _answer(registered: flow.Registered, request: Request, status: int) -> JSONResponse:
    issuer = services_of(request).settings.effective_issuer
    return JSONResponse(flow.client_information(registered, issuer), status_code=status,
                        headers=dict(NO_STORE_HEADERS))


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "not_found", "error_description": "dynamic client "
                         "registration is not enabled on this server"}, status_code=404,
                        headers=dict(NO_STORE_HEADERS))


async def register(request: Request) -> Response:
    services = services_of(request)
    if services.settings.registration == "off":
        return _not_found()
    try:
        doc = await _read_json(request)
        registered = await flow.register(
            doc, authorization=request.headers.get("authorization"),
            address=client_ip(request), clients=services.clients, registry=services.store,
            limiter=services.limiter, ctx=services.ctx, resources=services.resources)
    except flow.NotEnabled:
        return _not_found()
    except OAuthError as error:
        return _error(error)
    return _answer(registered, request, 201)


async def manage(request: Request) -> Response:
    services = services_of(request)
    client_id = request.path_params["client_id"]
    authorization = request.headers.get("authorization")
    try:
        if request.method == "GET":
            registered = await flow.read(client_id, authorization=authorization,
                                         clients=services.store)
        elif request.method == "PUT":
            doc = await _read_json(request)
            registered = await flow.update(client_id, doc, authorization=authorization,
                                           clients=services.store, registry=services.store,
                                           ctx=services.ctx, resources=services.resources)
        else:
            await flow.delete(client_id, authorization=authorization, clients=services.clients,
                              ctx=services.ctx)
            return Response(status_code=204, headers=dict(NO_STORE_HEADERS))
    except OAuthError as error:
        return _error(error)
    return _answer(registered, request, 200)
