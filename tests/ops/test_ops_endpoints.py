"""/metrics and /status: where they are served, who may see the status page, and how."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from proofkey.settings import Settings, SettingsError, load_settings
from proofkey.web.app import create_app
from tests.helpers import ISSUER, exchange, get_code, new_flow

ADMIN_TOKEN = "uZ6RBJZsIus8Aa0xtnriiUJyUC1nwrtBBVibAzRoI_s"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestDefaults:
    async def test_metrics_are_on_the_main_port(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "proofkey_token_exchanges_total" in response.text

    async def test_no_admin_token_means_no_status_page(self, http: httpx.AsyncClient) -> None:
        assert (await http.get("/status")).status_code == 404
        response = await http.get("/status", headers={"Authorization": "Bearer "})
        assert response.status_code == 404
        assert (await http.post("/status/login", data={"token": ""})).status_code in {404, 405}


@asynccontextmanager
async def clients_from(settings: Settings, *addresses: str) -> AsyncIterator[
        list[httpx.AsyncClient]]:
    """One app, and a client per source address (as the ASGI server reports it)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(a, 4711)),
                                     base_url=ISSUER) for a in addresses]
        try:
            yield clients
        finally:
            for client in clients:
                await client.aclose()


class TestMetricsExposure:
    """Issue 17 item 8: the numbers are operators' data, not the public's."""

    async def test_the_main_port_answers_loopback_only_by_default(
            self, settings: Settings) -> None:
        async with clients_from(settings, "127.0.0.1", "::1", "203.0.113.9",
                                "10.1.2.3") as (v4, v6, outside, private):
            assert (await v4.get("/metrics")).status_code == 200
            assert (await v6.get("/metrics")).status_code == 200
            for stranger in (outside, private):
                refused = await stranger.get("/metrics")
                assert refused.status_code == 403
                assert "PROOFKEY_METRICS_PUBLIC" in refused.text
                assert "proofkey_" not in refused.text

    async def test_trusted_proxies_may_scrape(self, settings: Settings) -> None:
        trusting = load_settings({"data_dir": str(settings.data_dir), "issuer": ISSUER,
                                  "demo": False, "trusted_proxies": "10.0.0.0/8"}, environ={})
        async with clients_from(trusting, "10.9.8.7", "192.0.2.1") as (proxy, other):
            assert (await proxy.get("/metrics")).status_code == 200
            assert (await other.get("/metrics")).status_code == 403

    async def test_a_setting_opens_them_to_everyone(self, settings: Settings) -> None:
        public = load_settings({"data_dir": str(settings.data_dir), "issuer": ISSUER,
                                "demo": False, "metrics_public": "true"}, environ={})
        async with clients_from(public, "203.0.113.9") as (outside,):
            assert (await outside.get("/metrics")).status_code == 200

    async def test_start_up_says_who_may_scrape(self, settings: Settings,
                                                caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level("INFO", logger="proofkey")
        async with clients_from(settings):
            pass
        assert any("loopback and trusted proxies only" in r.getMessage()
                   for r in caplog.records)


class TestAdminTokenStrength:
    """Issue 17 item 7: a guessable admin token is refused at start."""

    @pytest.mark.parametrize("token", [
        "status-token-for-tests-0123456789",  # 33 chars: ~198 bits at best
        "a" * 200,  # long, but one character
        "password" * 10,  # a word repeated
        "0123456789abcdef" * 3,  # 48 hex chars: 192 bits
    ])
    def test_weak_tokens_stop_the_start(self, token: str) -> None:
        with pytest.raises(SettingsError, match="PROOFKEY_ADMIN_TOKEN: is too weak"):
            load_settings({"admin_token": token}, environ={})

    @pytest.mark.parametrize("token", [
        "uZ6RBJZsIus8Aa0xtnriiUJyUC1nwrtBBVibAzRoI_s",  # secrets.token_urlsafe(32)
        "2f9c1e0b7a6d5c4b3a29180716f5e4d3c2b1a09f8e7d6c5b4a3928170615f4e3",  # token_hex(32)
        "q3Jx9+0hK2vWmZ1eR7tY4uI8oP6aS5dF3gH1jK0lZ9x=",  # openssl rand -base64 32
    ])
    def test_random_256_bit_tokens_are_accepted(self, token: str) -> None:
        assert load_settings({"admin_token": token}, environ={}).admin_token == token


class TestMetricsPath:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"metrics_path": "/internal/prometheus"}

    async def test_the_path_moves(self, http: httpx.AsyncClient) -> None:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/internal/prometheus")).status_code == 200


class TestMetricsDisabled:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"metrics_path": ""}

    async def test_an_empty_path_disables_metrics(self, http: httpx.AsyncClient) -> None:
        assert (await http.get("/metrics")).status_code == 404


class TestStatusPage:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"admin_token": ADMIN_TOKEN}

    async def test_without_credentials_it_shows_a_login_form(
            self, http: httpx.AsyncClient) -> None:
        response = await http.get("/status")
        assert response.status_code == 401
        assert 'action="/status/login"' in response.text
        assert "<svg" not in response.text
        assert response.headers["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("header", ["Bearer wrong", f"Basic {ADMIN_TOKEN}", "Bearer",
                                        f"Bearer {ADMIN_TOKEN}x"])
    async def test_a_wrong_bearer_is_refused(self, http: httpx.AsyncClient,
                                             header: str) -> None:
        response = await http.get("/status", headers={"Authorization": header})
        assert response.status_code == 401

    async def test_the_admin_bearer_sees_charts_of_real_traffic(
            self, http: httpx.AsyncClient) -> None:
        flow = new_flow()
        assert (await exchange(http, flow, await get_code(http, flow))).status_code == 200
        response = await http.get("/status",
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert response.status_code == 200
        assert response.text.count("<svg") == 8
        assert "100.00 % of exchanges succeeded (1/1)" in response.text
        assert "<script" not in response.text
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src" not in csp
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"

    async def test_the_login_form_sets_an_httponly_cookie_that_expires(
            self, http: httpx.AsyncClient) -> None:
        wrong = await http.post("/status/login", data={"token": "nope"})
        assert wrong.status_code == 401
        assert "not valid" in wrong.text
        response = await http.post("/status/login", data={"token": ADMIN_TOKEN})
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("pk_status=")
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/status", "Max-Age=28800"):
            assert attribute.lower() in cookie.lower()
        assert ADMIN_TOKEN not in cookie
        assert (await http.get("/status")).status_code == 200

        value = http.cookies["pk_status"]
        expires, _, mac = value.partition(".")
        http.cookies.clear()
        for forged in (f"{int(expires) + 3600}.{mac}", f"{expires}.{mac[:-2]}AA",
                       f"{int(time.time()) - 10}.{mac}", "garbage", ""):
            http.cookies.set("pk_status", forged)
            response = await http.get("/status")
            assert response.status_code == 401, forged

        http.cookies.set("pk_status", value)
        response = await http.post("/status/logout")
        assert response.status_code == 303
        assert "pk_status=" in response.headers["set-cookie"]
        assert "max-age=0" in response.headers["set-cookie"].lower()

    async def test_guessing_the_token_is_throttled(self, http: httpx.AsyncClient) -> None:
        statuses = [(await http.post("/status/login", data={"token": f"guess{i}"})).status_code
                    for i in range(22)]
        assert statuses[:20] == [401] * 20
        assert statuses[-1] == 429
        # Even the right token waits out the minute.
        assert (await http.post("/status/login",
                                data={"token": ADMIN_TOKEN})).status_code == 429

    async def test_guessing_the_bearer_is_throttled_too(self, http: httpx.AsyncClient) -> None:
        """Issue 17 item 7: the header was an unthrottled way to guess."""
        statuses = [(await http.get("/status", headers={"Authorization": f"Bearer guess{i}"})
                     ).status_code for i in range(21)]
        assert statuses[:20] == [401] * 20
        assert statuses[20] == 429
        right = await http.get("/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) >= 1
        # The form shares the same count: the two ways in are one budget.
        assert (await http.post("/status/login", data={"token": ADMIN_TOKEN})).status_code == 429

    async def test_the_throttle_is_per_address(self, settings: Settings) -> None:
        async with clients_from(settings, "203.0.113.9", "198.51.100.7") as (guesser, other):
            for i in range(21):
                await guesser.get("/status", headers={"Authorization": f"Bearer guess{i}"})
            assert (await guesser.get("/status", headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}"})).status_code == 429
            assert (await other.get("/status", headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}"})).status_code == 200


class TestAdminPort:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"admin_port": free_port(), "admin_token": ADMIN_TOKEN}

    async def test_metrics_and_status_move_to_the_admin_port(
            self, http: httpx.AsyncClient, settings_overrides: dict[str, object]) -> None:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/status")).status_code == 404
        port = settings_overrides["admin_port"]
        flow = new_flow()
        assert (await exchange(http, flow, await get_code(http, flow))).status_code == 200
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as admin:
            metrics = await admin.get("/metrics")
            assert metrics.status_code == 200
            assert 'outcome="success"} 1.0' in metrics.text
            status = await admin.get("/status",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert status.status_code == 200
            assert (await admin.get("/static/status.css")).status_code == 200
            assert (await admin.get("/authorize")).status_code == 404
