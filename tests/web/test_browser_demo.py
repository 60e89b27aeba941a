"""The browser demo at /demo in real Chromium: PKCE with WebCrypto end to end.

A person opens /demo on a freshly started ``proofkey serve`` (demo data on), signs in as the
demo user, consents, and the page exchanges the code from the browser and shows userinfo. A
verifier tampered with in sessionStorage must make the exchange fail; signing out revokes the
refresh token. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.process.conftest import ServerProcess, running_server

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 15_000
ATTEMPT_KEY = "proofkey-demo-attempt"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    with running_server(data_dir, settings={"demo": "true"}) as running:
        yield running


@pytest.fixture(scope="module")
def password(server: ServerProcess) -> str:
    return (server.data_dir / "demo-password.txt").read_text().strip()


@pytest.fixture
def page(server: ServerProcess) -> Iterator[Any]:
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


def _sign_in(page: Any, server: ServerProcess, password: str, *, tamper: bool = False) -> None:
    page.goto(f"{server.base_url}/demo")
    page.click("#login")
    page.wait_for_selector("input[name=password]")
    if tamper:  # the login page shares the demo's origin, so its sessionStorage too
        page.evaluate(
            f"""() => {{
                const attempt = JSON.parse(sessionStorage.getItem('{ATTEMPT_KEY}'));
                attempt.verifier = attempt.verifier.split('').reverse().join('');
                sessionStorage.setItem('{ATTEMPT_KEY}', JSON.stringify(attempt));
            }}""")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_the_demo_signs_in_with_pkce_exchanges_in_the_browser_and_signs_out(
    page: Any, server: ServerProcess, password: str, artifacts: Path,
) -> None:
    _sign_in(page, server, password)
    page.wait_for_selector("button[value=allow]")
    page.screenshot(path=str(artifacts / "demo-consent.png"))
    page.click("button[value=allow]")
    page.wait_for_selector("[data-claim=preferred_username]")
    assert page.text_content("[data-claim=preferred_username]") == "demo"
    assert page.url == f"{server.base_url}/demo"  # the code left the address bar
    assert page.evaluate(f"sessionStorage.getItem('{ATTEMPT_KEY}')") is None
    page.screenshot(path=str(artifacts / "demo-signed-in.png"))

    revoked: list[str] = []
    page.on("response", lambda r: revoked.append(r.url) if r.url.endswith("/revoke") else None)
    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])")
    assert any(url.endswith("/revoke") for url in revoked)
    assert page.text_content("#status") == "Signed out."
    assert page.locator("[data-claim]").count() == 0  # the display is cleared
    # The server's sign-in session ended too: signing in again asks for the password.
    page.click("#login")
    page.wait_for_selector("input[name=password]")
    assert "/interaction/" in page.url


def test_a_tampered_verifier_makes_the_exchange_fail(
    page: Any, server: ServerProcess, password: str, artifacts: Path,
) -> None:
    # Consent is remembered from the first test: after login the browser returns with a code.
    _sign_in(page, server, password, tamper=True)
    page.wait_for_selector("#error:not([hidden])")
    text = page.text_content("#error") or ""
    assert "invalid_grant" in text
    assert page.locator("[data-claim]").count() == 0
    page.screenshot(path=str(artifacts / "demo-tampered-verifier.png"))


def test_cors_lets_only_registered_origins_call_the_token_endpoint(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        allowed = client.options("/token", headers={
            "Origin": server.base_url, "Access-Control-Request-Method": "POST"})
        assert allowed.headers.get("access-control-allow-origin") == server.base_url
        foreign = client.options("/token", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in foreign.headers
        authorize = client.get("/authorize", headers={"Origin": server.base_url})
        assert "access-control-allow-origin" not in authorize.headers
        metadata = client.get("/.well-known/openid-configuration",
                              headers={"Origin": "https://evil.example"})
        assert metadata.headers.get("access-control-allow-origin") == "*"
