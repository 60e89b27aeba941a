"""CSRF: state-changing calls need X-CSRF: 1 and the gateway's own origin; returnUrl must be
a local path, so the gateway is never an open redirector."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bff.conftest import World
from tests.bff.kit import APP, bff_settings, browser, csrf_headers, gateway, sign_in


@pytest.mark.parametrize(("headers", "why"), [
    ({}, "X-CSRF"),
    ({"X-CSRF": "0", "Origin": APP}, "X-CSRF"),
    ({"X-CSRF": "1"}, "Origin or Sec-Fetch-Site"),
    ({"X-CSRF": "1", "Origin": "https://evil.example"}, "Origin"),
    ({"X-CSRF": "1", "Origin": "null"}, "Origin"),
    ({"X-CSRF": "1", "Sec-Fetch-Site": "same-site"}, "same-origin"),
    ({"X-CSRF": "1", "Origin": APP, "Sec-Fetch-Site": "cross-site"}, "same-origin"),
])
async def test_state_changing_calls_without_the_header_and_same_origin_are_refused(
    world: World, tmp_path: Path, headers: dict[str, str], why: str,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        await sign_in(client)
        calls_before = len(world.api.seen)
        for method, path in (("POST", "/api/things"), ("DELETE", "/api/things/1"),
                             ("POST", "/bff/logout")):
            answer = await client.request(method, path, headers=headers, content=b"{}")
            assert answer.status_code == 403, (method, path)
            assert answer.json()["error"] == "csrf_refused"
            assert why in answer.json()["error_description"]
        assert len(world.api.seen) == calls_before  # nothing reached the API
        assert (await client.get("/bff/user")).status_code == 200  # logout did not happen
        allowed = await client.post("/api/things", headers=csrf_headers(), content=b"{}")
        assert allowed.status_code == 200


@pytest.mark.parametrize("return_url", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "evil.example", "/ok\r\nSet-Cookie: x=1", "http:/evil.example",
])
async def test_login_refuses_a_return_url_that_is_not_a_local_path(
    world: World, tmp_path: Path, return_url: str,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        answer = await client.get("/bff/login", params={"returnUrl": return_url})
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_request"
        assert "location" not in answer.headers


async def test_the_callback_without_the_login_cookie_of_this_browser_is_refused(
    world: World, tmp_path: Path,
) -> None:
    """Login CSRF: a callback URL from someone else's login does not log this browser in."""
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as attacker, browser(world.router) as victim:
        started = await attacker.get("/bff/login")
        assert started.status_code == 302
        answer = await victim.get("/bff/callback?code=abc&state=xyz")
        assert answer.status_code == 400
        assert answer.json()["error"] == "login_expired"
        assert (await victim.get("/bff/user")).status_code == 401


async def test_a_callback_with_a_wrong_state_is_refused(world: World, tmp_path: Path) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        assert (await client.get("/bff/login")).status_code == 302
        answer = await client.get("/bff/callback?code=abc&state=not-the-one")
        assert answer.status_code == 400
        assert answer.json()["error"] == "login_failed"
        assert "state_mismatch" in answer.json()["error_description"]
