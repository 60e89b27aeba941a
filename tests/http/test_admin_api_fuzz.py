"""Schema-driven fuzzing of the admin API: schemathesis generates calls from the OpenAPI
document the server publishes (valid and invalid ones) against a real proofkey process; no
call may end in a 5xx. Bounded to a few examples per operation so it runs in the normal
suite in well under two minutes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from proofkey.flows.admin import register_client
from proofkey.flows.user_admin import create_user
from proofkey.settings import load_settings
from proofkey.store import open_store
from proofkey.web.app import create_app

from .admin_api import admin_token

# No 5xx; and every answer (success or problem) has the media type and the schema the
# document gives it.
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
EXAMPLES = 15  # per operation and mode: 28 operations x 2 modes x 15 ~ 850 calls


class _ThreadServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # not the main thread
        yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, admin token with every scope) of a proofkey server on a thread."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = load_settings({"data_dir": str(tmp_path), "issuer": base, "demo": False,
                              "client_cache_ms": 0}, environ={})

    async def seed() -> str:
        store = open_store(settings.effective_database_url)
        await store.migrate()
        scopes = settings.scopes_supported
        await register_client(store, "seeded", client_type="confidential",
                              redirect_uris=["https://seeded.example/cb"], scopes=scopes,
                              supported_scopes=scopes, now=int(time.time()))
        await create_user(store, "seeded-user", issuer=base, now=int(time.time()))
        await store.close()
        return (await admin_token(settings))[0]

    token = asyncio.run(seed())
    server = _ThreadServer(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                          log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    try:
        yield base, token
    finally:
        server.should_exit = True
        thread.join(10)


def test_no_call_generated_from_the_openapi_document_ends_in_a_server_error(
        served: tuple[str, str]) -> None:
    base, token = served
    document = httpx.get(base + "/admin/api/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28
    assert {"listUsers", "createUser", "updateUser", "deleteUser", "issueUserPasswordLink",
            "listKeys", "rotateKeys", "retireKey", "listGrants", "revokeAllGrants",
            "revokeGrant", "listSessions", "endAllSessions", "endSession"} <= {
        op.definition.raw["operationId"] for op in operations}
    for operation in operations:
        strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                             operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

        @given(case=strategy)
        @hypothesis_settings(max_examples=2 * EXAMPLES, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: "
                                f"{response.status_code} {response.text[:200]}")
            case.validate_response(response, checks=CHECKS)

        run()
    assert not failures
