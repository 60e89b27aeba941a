"""The proxy never leaves an upstream's base path: dot segments (even percent-encoded) are
refused, a prefix matches only whole segments, and the query passes unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bff.conftest import World
from tests.bff.kit import API_HOST, bff_settings, browser, gateway, sign_in


@pytest.mark.parametrize("path", [
    "/api/v1/%2e%2e/admin", "/api/%2E%2E/x", "/api/a/%2e/b", "/api/..%2fadmin",
])
async def test_a_path_with_dot_segments_is_refused_and_never_reaches_the_upstream(
    world: World, tmp_path: Path, path: str,
) -> None:
    settings = bff_settings(tmp_path, world.bff_secret, upstreams=f"/api=http://{API_HOST}/v1")
    async with gateway(world.router, settings), browser(world.router) as client:
        await sign_in(client)
        answer = await client.get(path)
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_request"
        assert world.api.seen == []


async def test_the_upstream_base_path_is_kept_and_a_prefix_matches_whole_segments(
    world: World, tmp_path: Path,
) -> None:
    settings = bff_settings(tmp_path, world.bff_secret, upstreams=f"/api=http://{API_HOST}/v1")
    async with gateway(world.router, settings), browser(world.router) as client:
        await sign_in(client)
        answer = await client.get("/api/items/7?q=a%20b&q=c")
        assert answer.status_code == 200
        assert answer.json()["path"] == "/v1/items/7"
        assert world.api.seen[-1]["query"] == "q=a%20b&q=c"
        assert (await client.get("/api")).json()["path"] == "/v1"
        assert (await client.get("/apix/items")).status_code == 404
