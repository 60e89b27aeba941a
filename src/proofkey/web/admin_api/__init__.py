"""The admin REST API (``/admin/api/v1``) and its OpenAPI document (``/admin/api/openapi.json``).

``admin_api()`` builds the mounted app from the operation tables of each resource module;
``web/app.py`` mounts it on the admin port when one is set, else on the main port. A module
that adds a resource exports ``OPERATIONS`` and joins ``_TABLES``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from proofkey.flows.admin_tokens import ADMIN_SCOPES

from . import audit, clients, grants, keys, registration_tokens, resources, users
from .openapi import PREFIX, document
from .problems import Problem, problem_response
from .routing import AnyMethod, Operation, call_routes

__all__ = ["MOUNT", "OPERATIONS", "admin_api", "openapi_document"]

MOUNT = "/admin/api"
_TABLES: tuple[Sequence[Operation], ...] = (
    clients.OPERATIONS, resources.OPERATIONS, registration_tokens.OPERATIONS,
    audit.OPERATIONS, users.OPERATIONS, keys.OPERATIONS, grants.OPERATIONS)
OPERATIONS: tuple[Operation, ...] = tuple(op for table in _TABLES for op in table)


def openapi_document() -> dict[str, object]:
    return document(OPERATIONS, ADMIN_SCOPES)


async def _missing(request: Request) -> Response:
    return problem_response(Problem(404, "not-found", "no such path in the admin API"))


def admin_api() -> Mount:
    """The admin API's routes under ``MOUNT`` (served by the app that mounts them, whose
    ``state.services`` the calls use); any other path under it is a 404 problem."""
    body = json.dumps(openapi_document()).encode()

    async def openapi(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return problem_response(Problem(405, "method-not-allowed", "GET only",
                                            headers={"Allow": "GET"}))
        return Response(body, media_type="application/json",
                        headers={"Cache-Control": "no-cache"})

    return Mount(MOUNT, routes=[
        Route("/openapi.json", AnyMethod(openapi)),
        Mount(PREFIX.removeprefix(MOUNT), routes=[
            *call_routes(OPERATIONS), Route("/{rest:path}", AnyMethod(_missing))]),
        Route("/{rest:path}", AnyMethod(_missing))])
