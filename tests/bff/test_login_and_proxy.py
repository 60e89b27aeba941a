"""The gateway end to end in process: login through proofkey, the user's claims, API calls
through the proxy with the token attached (checked by introspection), logout."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from starlette.responses import JSONResponse

from proofkey.bff.app import SESSION_COOKIE
from tests.bff.conftest import World
from tests.bff.kit import (
    APP,
    BFF_ID,
    PROVIDER_HOST,
    bff_settings,
    browser,
    csrf_headers,
    gateway,
    sign_in,
)
from tests.helpers import ISSUER


def _no_token_in(text: str, tokens: list[str]) -> None:
    for token in tokens:
        assert token not in text


async def test_login_sets_a_host_cookie_with_only_an_id_and_returns_to_the_local_path(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        done = await sign_in(client, "/inbox?tab=2")
        assert done.status_code == 303
        assert done.headers["location"] == "/inbox?tab=2"
        cookie = next(v for k, v in done.headers.multi_items() if k == "set-cookie"
                      and v.startswith(SESSION_COOKIE))
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"secure", "httponly", "samesite", "path"} <= attributes
        assert "domain" not in attributes
        assert "samesite=strict" in cookie.lower()
        assert "path=/" in cookie.lower()
        user = await client.get("/bff/user")
        assert user.status_code == 200
        assert user.json()["sub"]
        assert "nonce" not in user.json()
        assert user.headers["cache-control"] == "no-store"


async def test_an_api_call_goes_through_with_the_token_and_without_the_browsers_cookies(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        await sign_in(client)
        answer = await client.get("/api/things/1?full=yes",
                                  headers={"Authorization": "Bearer forged", "TE": "trailers"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["path"] == "/things/1"
        seen = world.api.seen[-1]
        assert seen["query"] == "full=yes"
        assert "cookie" not in seen["headers"]
        assert "te" not in seen["headers"]
        assert seen["headers"]["authorization"] != "Bearer forged"
        token = seen["token"]
        _no_token_in(answer.text, [token])
        assert token not in str(client.cookies.jar)


async def test_bodies_stream_both_ways_and_the_upstream_status_passes_through(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        await sign_in(client)
        payload = b"x" * 200_000

        async def chunks():  # type: ignore[no-untyped-def]
            for i in range(0, len(payload), 50_000):
                yield payload[i:i + 50_000]

        echoed = await client.post("/api/echo", content=chunks(), headers=csrf_headers())
        assert echoed.status_code == 201
        assert echoed.content == payload
        assert echoed.headers["x-upstream"] == "yes"
        assert "set-cookie" not in echoed.headers  # an upstream sets no cookie on our origin
        assert "x-secret-hop" not in echoed.headers  # named in Connection: hop-by-hop
        teapot = await client.get("/api/teapot")
        assert teapot.status_code == 418


async def test_without_a_session_the_api_and_user_answer_401_json_never_a_redirect(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        for path in ("/api/things", "/bff/user"):
            answer = await client.get(path)
            assert answer.status_code == 401
            assert answer.json()["error"] == "login_required"
            assert answer.json()["login_url"] == "/bff/login"
            assert "location" not in answer.headers
        forged = await client.get("/bff/user", headers={"Cookie": f"{SESSION_COOKIE}=made-up"})
        assert forged.status_code == 401


async def test_logout_revokes_the_refresh_token_and_ends_the_session(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        await sign_in(client)
        assert (await client.get("/api/x")).status_code == 200
        old_cookie = client.cookies.get(SESSION_COOKIE)
        token = world.api.seen[-1]["token"]
        out = await client.post("/bff/logout", headers=csrf_headers())
        assert out.status_code == 200
        # proofkey's end_session_endpoint, naming the client (never an id_token_hint) and
        # the gateway's registered post-logout URI (docs/logout.md).
        assert out.json() == {"logout_url": f"{ISSUER}/logout?" + urlencode(
            {"client_id": BFF_ID, "post_logout_redirect_uri": f"{APP}/"})}
        assert any(r.url.path == "/revoke" for r in world.router.sent)
        assert (await client.get("/bff/user")).status_code == 401
        replay = await client.get("/api/x", headers={"Cookie": f"{SESSION_COOKIE}={old_cookie}"})
        assert replay.status_code == 401
        async with httpx.AsyncClient(transport=world.router) as rs:
            info = await rs.post("http://127.0.0.1:8000/introspect", data={"token": token},
                                 auth=("api-rs", world.api.rs_secret))
        assert info.json() == {"active": False}  # revoking the grant ends its access token too


async def test_metrics_count_logins_and_proxied_requests_by_upstream_and_status(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        await sign_in(client)
        await client.get("/api/a")
        await client.get("/api/teapot")
        metrics = (await client.get(f"{APP}/metrics")).text
        assert 'proofkey_bff_logins_total{outcome="ok"} 1.0' in metrics
        assert 'proofkey_bff_proxied_requests_total{status="2xx",upstream="/api"} 1.0' in metrics
        assert 'proofkey_bff_proxied_requests_total{status="4xx",upstream="/api"} 1.0' in metrics


async def test_logout_points_the_browser_at_the_providers_end_session_without_a_token(
    world: World, tmp_path: Path,
) -> None:
    """A provider that advertises end_session_endpoint (here one rewritten into proofkey's
    discovery document) gets the browser with client_id, never an id_token_hint."""
    provider = world.router.routes[PROVIDER_HOST]

    async def discovery_with_logout(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"].endswith("/openid-configuration"):
            request = httpx.Request("GET", f"{ISSUER}{scope['path']}")
            metadata = (await provider.handle_async_request(request))
            data = json.loads(await metadata.aread())
            data["end_session_endpoint"] = f"{ISSUER}/logout"
            await JSONResponse(data)(scope, receive, send)
            return
        await provider_app(scope, receive, send)

    provider_app = provider.app  # type: ignore[attr-defined]
    world.router.add(PROVIDER_HOST, discovery_with_logout)
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        await sign_in(client)
        out = await client.post("/bff/logout", headers=csrf_headers())
        url = out.json()["logout_url"]
        assert url.startswith(f"{ISSUER}/logout?")
        assert parse_qs(urlsplit(url).query) == {
            "client_id": ["bff-app"], "post_logout_redirect_uri": [f"{APP}/"]}


async def test_login_pushes_the_request_when_the_provider_offers_par_and_sends_pkce_without(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        pushed = await client.get("/bff/login")
        query = parse_qs(urlsplit(pushed.headers["location"]).query)
        assert set(query) == {"client_id", "request_uri"}  # RFC 9126 §4
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret, use_par=False)), \
            browser(world.router) as client:
        plain = await client.get("/bff/login")
        query = parse_qs(urlsplit(plain.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [f"{APP}/bff/callback"]
        assert {"state", "nonce", "code_challenge"} <= set(query)


async def test_a_denied_consent_comes_back_as_a_400_json_and_no_session(
    world: World, tmp_path: Path,
) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)), \
            browser(world.router) as client:
        answer = await sign_in(client, decision="deny")
        assert answer.status_code == 400
        assert answer.json()["error"] == "login_failed"
        assert "access_denied" in answer.json()["error_description"]
        assert answer.json()["login_url"] == "/bff/login"
        assert (await client.get("/bff/user")).status_code == 401


async def test_metrics_answer_loopback_callers_only(world: World, tmp_path: Path) -> None:
    async with gateway(world.router, bff_settings(tmp_path, world.bff_secret)) as app:
        outside = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=outside, base_url=APP) as client:
            answer = await client.get("/metrics")
        assert answer.status_code == 404
        assert "proofkey_bff" not in answer.text


async def test_own_answers_carry_security_headers_and_proxied_ones_keep_the_upstreams(
    world: World, tmp_path: Path,
) -> None:
    settings = bff_settings(tmp_path, world.bff_secret, static_dir="sample")
    async with gateway(world.router, settings), browser(world.router) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert 'id="login"' in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        user = await client.get("/bff/user")
        assert user.headers["x-frame-options"] == "DENY"
        await sign_in(client)
        proxied = await client.get("/api/x")
        assert "content-security-policy" not in proxied.headers
        assert "x-frame-options" not in proxied.headers
