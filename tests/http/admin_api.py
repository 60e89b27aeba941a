"""What the admin API tests share: tokens made straight in the store, and calls with them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import httpx

from proofkey.flows.admin_tokens import ADMIN_SCOPES, create_admin_token
from proofkey.settings import Settings
from proofkey.store import open_store

API = "/admin/api/v1"


async def admin_token(settings: Settings, scopes: Iterable[str] = ADMIN_SCOPES, *,
                      lifetime: int | None = None, now: int | None = None) -> tuple[str, str]:
    """(token, token id) of a new admin token."""
    store = open_store(settings.effective_database_url)
    await store.migrate()
    try:
        made = await create_admin_token(store, scopes=scopes, lifetime=lifetime,
                                        now=int(time.time()) if now is None else now)
    finally:
        await store.close()
    return made.token.reveal(), made.record.token_id


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **headers}


async def send(http: httpx.AsyncClient, method: str, path: str, token: str,
               body: Any = None, **headers: str) -> httpx.Response:
    sent = bearer(token, **headers)
    content = None
    if body is not None:
        sent.setdefault("content-type", "application/json")
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.request(method, API + path, headers=sent, content=content)


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The RFC 9457 body of a refusal, after checking its status, media type and slug."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:proofkey:problem:{slug}", body
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


async def conforms(http: httpx.AsyncClient, response: httpx.Response,
                   operation_id: str) -> None:
    """``response``'s body matches the schema the published document gives it."""
    import jsonschema

    doc = (await http.get("/admin/api/openapi.json")).json()
    [operation] = [op for path in doc["paths"].values() for op in path.values()
                   if op["operationId"] == operation_id]
    schema = operation["responses"][str(response.status_code)]["content"][
        "application/json"]["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)
