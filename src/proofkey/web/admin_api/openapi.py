"""The OpenAPI 3.1 document of the admin API, generated from the operation table: the paths,
scopes and schemas printed here are the objects the pipeline validates with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proofkey import __version__

from .problems import PROBLEM_TYPE
from .routing import Operation
from .schema import Obj, Str

__all__ = ["PREFIX", "document"]

PREFIX = "/admin/api/v1"
_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": f"{PROBLEM_TYPE}<slug>"},
        "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "rule": {"type": "string", "description": "The proofkey lint rule broken (PKLnnn)."},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["pointer", "detail"],
            "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}}}},
    },
}
_PROBLEM_REF = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schema.json()}
        for name, schema in op.path_params.items()]
    query: Obj | None = op.query
    for prop in query.props if query is not None else ():
        params.append({"name": prop.name, "in": "query", "required": prop.required,
                       "schema": prop.type.json()})
    if op.if_match:
        params.append({"name": "If-Match", "in": "header", "required": True,
                       "description": "The ETag of the item as last read (or *).",
                       "schema": Str(200, 1).json()})
    return params


def _operation(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (description, schema) in op.responses.items():
        answer: dict[str, Any] = {"description": description}
        if schema is not None:
            answer["content"] = {"application/json": {"schema": schema.json()}}
        if status in (200, 201) and (op.method != "GET" or bool(op.path_params)):
            answer["headers"] = {"ETag": {"schema": {"type": "string"}}}
        responses[str(status)] = answer
    responses["default"] = {"description": "A problem (RFC 9457).", "content": _PROBLEM_REF}
    out: dict[str, Any] = {
        "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
        "security": [{"bearer": [op.scope]}], "x-proofkey-scope": op.scope,
        "responses": responses,
    }
    params = _parameters(op)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": op.body.json()}}}
    return out


def document(operations: Sequence[Operation], scopes: Sequence[str]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "proofkey admin API", "version": __version__,
                 "description": "Manage a proofkey server. Every call needs "
                 "Authorization: Bearer <admin token or access token with admin scopes>."},
        "paths": paths,
        "components": {
            "schemas": {"Problem": _PROBLEM},
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "An admin token (proofkey admin token create) or an access "
                "token whose scopes are admin:<scope>. Scopes: " + " ".join(scopes)}},
        },
    }
