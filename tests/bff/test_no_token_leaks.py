"""No token in any log line, response body, header or redirect URL across a whole session:
login, API calls, a refresh, logout."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.bff.conftest import World
from tests.bff.kit import (
    Clock,
    bff_settings,
    browser,
    csrf_headers,
    gateway,
    session_tokens,
    sign_in,
)


async def test_no_token_reaches_a_log_line_or_anything_the_browser_receives(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    settings = bff_settings(tmp_path, world.bff_secret)
    received: list[str] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        received.append(f"{response.url} {response.headers} {response.text}")

    secrets: set[str] = set()
    async with gateway(world.router, settings, clock=clock), browser(world.router) as client:
        client.event_hooks["response"] = [record]
        await sign_in(client)
        first = await session_tokens(settings, client)
        await client.get("/bff/user")
        await client.get("/api/one")
        clock.offset = 590
        await client.get("/api/two")
        second = await session_tokens(settings, client)
        await client.post("/bff/logout", headers=csrf_headers())
        cookies = str(client.cookies.jar)
    for tokens in (first, second):
        secrets |= {t for t in (tokens.access_token, tokens.refresh_token, tokens.id_token) if t}
    assert first.access_token != second.access_token  # a refresh happened
    gateway_received = [r for r in received if r.startswith("https://app.example")]
    assert gateway_received
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert secret not in logs
        assert secret not in cookies
        for text in gateway_received:
            assert secret not in text
