"""The sample SPA, served by a real ``proofkey bff``, in Chromium against a real ``proofkey
serve``: login, API calls through the proxy (the API introspects the token at proofkey), a
token refresh during the session, logout; and no token anywhere the browser could see it.

proofkey issues access tokens for 20 s and the gateway refreshes 30 s before expiry, so every
API call here refreshes: two calls, two different access tokens at the API.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from proofkey.bff.sessions import Sealer, SessionTokens
from proofkey.store.base import Store
from tests.bff.processes import IntrospectingApi, running_bff, serving_in_thread
from tests.process.conftest import free_port, running_server, seed, with_store

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 15_000
USERNAME, PASSWORD = "ada", "analytical engine 1843"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("bff-browser")
    bff_port, api_port, idp_port = free_port(), free_port(), free_port()
    # The gateway at "127.0.0.1", the provider at "localhost": two sites, so neither's
    # cookies ever go to the other.
    bff_url = f"http://127.0.0.1:{bff_port}"
    issuer = f"http://localhost:{idp_port}"
    secrets = seed(root / "data", confidential_clients={
        "spa-gateway": [f"{bff_url}/bff/callback"], "api-rs": ["http://127.0.0.1/unused"]},
        users={USERNAME: PASSWORD}, resource_servers=["api-rs"])

    async def register_bye(store: Store) -> None:  # where proofkey's /logout may send it
        gateway = await store.get_client("spa-gateway")
        assert gateway is not None
        await store.update_client(replace(gateway, post_logout_redirect_uris=(f"{bff_url}/",)))

    with_store(root / "data", register_bye)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    store = root / "bff" / "sessions.db"
    with running_server(root / "data", port=idp_port, settings={
            "access_token_ttl_seconds": "20", "issuer": issuer}) as idp:
        api = IntrospectingApi(issuer, "api-rs", secrets["api-rs"])
        with serving_in_thread(api.app(), api_port) as api_url, running_bff(
            root / "bff",
            ["--issuer", issuer, "--client-id", "spa-gateway",
             "--upstream", f"/api={api_url}", "--listen", f"127.0.0.1:{bff_port}",
             "--public-url", bff_url, "--static-dir", "sample",
             "--session-store-url", f"sqlite:///{store}"],
            secrets["spa-gateway"], bff_url, {"PROOFKEY_BFF_SESSION_KEY": key},
        ) as bff:
            yield {"idp": idp, "issuer": issuer, "api": api, "bff": bff, "key": key,
                   "store": store}


def _stored_tokens(world: dict[str, Any]) -> list[SessionTokens]:
    """The sessions in the gateway's store, opened with its key (as its operator could)."""
    sealer = Sealer(base64.urlsafe_b64decode(world["key"] + "="))
    with contextlib.closing(sqlite3.connect(world["store"])) as db:
        rows = db.execute("SELECT digest, sealed FROM bff_sessions").fetchall()
    opened = [sealer.open(bytes(sealed), digest) for digest, sealed in rows]
    return [SessionTokens.from_json(data) for data in opened if data]


@pytest.fixture
def page(world: dict[str, Any]) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=LAUNCH_ARGS)
        context = browser.new_context()
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def test_the_sample_spa_logs_in_calls_the_api_refreshes_and_logs_out_without_seeing_a_token(
    page: Any, world: dict[str, Any], artifacts: Path,
) -> None:
    bff, api = world["bff"], world["api"]
    pending: list[Any] = []
    seen_by_browser: list[str] = []
    unread: list[str] = []
    page.on("response", lambda response: pending.append(response))

    def drain() -> None:
        """Keep what the browser received so far: every URL and header, and the gateway's
        bodies (read while the page that fetched them is still open)."""
        while pending:
            response = pending.pop(0)
            seen_by_browser.append(f"{response.url} {response.all_headers()}")
            if response.url.startswith(bff.url) and not 300 <= response.status < 400:
                try:
                    seen_by_browser.append(response.body().decode(errors="replace"))
                except sync_api.Error:  # the page navigated away first (after logout)
                    unread.append(response.url)

    page.goto(f"{bff.url}/")
    page.wait_for_selector("#login:not([hidden])")
    drain()
    page.click("#login")
    page.wait_for_selector("input[name=password]")
    assert page.url.startswith(world["issuer"])
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("button[value=allow]")
    page.click("button[value=allow]")
    page.wait_for_selector("#call:not([hidden])")
    drain()
    assert page.url == f"{bff.url}/"  # no code, state or token left in the address bar
    stored = _stored_tokens(world)  # the tokens of the login, before any refresh
    assert page.text_content("#status") == "Logged in as ada."  # claims from the gateway
    page.screenshot(path=str(artifacts / "bff-signed-in.png"))

    for _ in range(3):
        page.evaluate("() => document.querySelector('#result').removeAttribute('data-status')")
        page.click("#call")
        page.wait_for_selector("#result[data-status='200']")
        drain()
    assert '"echo":"{\\"hello\\":\\"world\\"}"' in (page.text_content("#result") or "")
    access_tokens = {seen["token"] for seen in api.seen}
    assert len(access_tokens) >= 2  # refreshed during the session
    assert all("cookie" not in seen["headers"] for seen in api.seen)
    stored += _stored_tokens(world)
    assert len(stored) == 2  # one session, read twice
    secrets = access_tokens | {t for tokens in stored for t in (
        tokens.access_token, tokens.refresh_token, tokens.id_token) if t}
    assert len(secrets) >= 6
    with httpx.Client() as http:
        metrics = http.get(f"{bff.url}/metrics").text
    assert 'proofkey_bff_refreshes_total{outcome="ok"}' in metrics
    assert 'proofkey_bff_refreshes_total{outcome="ok"} 0.0' not in metrics

    storage = page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}])")
    cookies = page.context.cookies()
    gateway_cookies = [c for c in cookies if c["domain"] == "127.0.0.1"]
    assert [c["name"] for c in gateway_cookies] == ["__Host-bff-session"]
    assert gateway_cookies[0]["httpOnly"]
    assert gateway_cookies[0]["secure"]

    page.click("#logout")
    # The gateway sends the browser to proofkey's end_session_endpoint without an ID token
    # hint (docs/logout.md), so proofkey asks the person before signing them out there.
    page.wait_for_selector("#confirm-logout")
    assert page.url.startswith(f"{world['issuer']}/logout?")
    page.click("#confirm-logout")
    page.wait_for_selector("#login:not([hidden])")
    assert page.url == f"{bff.url}/"
    drain()
    status = page.evaluate("() => fetch('/api/after', {method: 'POST', headers: {'X-CSRF': "
                           "'1'}}).then(async r => { await r.text(); return r.status; })")
    assert status == 401
    page.screenshot(path=str(artifacts / "bff-signed-out.png"))

    drain()
    seen_by_browser += [storage, str(cookies), str(page.context.cookies())]
    # The logout answer is {"logout_url": "/"} (tests/bff/test_login_and_proxy.py); the SPA
    # leaves the page on reading it, which takes its body out of Chromium's reach.
    assert set(unread) <= {f"{bff.url}/bff/logout"}
    everything = "\n".join(seen_by_browser)
    logs = bff.output()
    for secret in secrets:
        assert secret not in everything
        assert secret not in logs
