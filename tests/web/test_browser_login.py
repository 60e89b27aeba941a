"""A person in a real browser: Chromium (through Playwright) signs in to a real ``proofkey
serve``, sees the consent page, and lands on a native app's loopback callback.

The callback is a tiny HTTP server on another loopback port, as a native app would run
(RFC 8252 §7.3: the registered ``http://127.0.0.1/callback`` matches any port). Screenshots of
the login and consent pages go to ``test-artifacts/``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from proofkey.protocol import pkce
from tests.process.conftest import ServerProcess, running_server, seed

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CLIENT_ID = "browser-app"
REGISTERED_REDIRECT = "http://127.0.0.1/callback"
USERNAME = "grace"
PASSWORD = "cobol compiler 1959"
GENERIC_FAILURE = "Incorrect username or password."
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 15_000


# -- the native app's loopback callback ----------------------------------------------------


@dataclass
class Callback:
    """A loopback HTTP server: records /callback hits; serves a page framing the server."""

    target: str = ""  # the proofkey page /frame tries to embed
    hits: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"


def _handler(callback: Callback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/callback":
                callback.hits.append(self.path)
                body = "<h1>Signed in: you can close this window.</h1>"
            elif path == "/frame":
                body = (f'<iframe id="victim" src="{callback.target}"></iframe>'
                        '<iframe id="control" src="/frameable"></iframe>')
            elif path == "/frameable":
                body = '<p id="framed">a page that allows framing</p>'
            else:
                self.send_error(404)
                return
            data = f"<!doctype html><html><body>{body}</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def callback() -> Iterator[Callback]:
    result = Callback()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(result))
    httpd.daemon_threads = True
    result.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield result
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# -- the server and the browser ------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    seed(data_dir, public_clients={CLIENT_ID: [REGISTERED_REDIRECT]}, users={USERNAME: PASSWORD})
    with running_server(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=LAUNCH_ARGS, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in a fresh context: no cookies, no session."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class Attempt:
    verifier: str
    state: str
    url: str


def start_authorization(server: ServerProcess, callback: Callback, **extra: str) -> Attempt:
    verifier = pkce.new_verifier()
    state = pkce.new_verifier()[:22]
    params = {"response_type": "code", "client_id": CLIENT_ID,
              "redirect_uri": callback.redirect_uri, "scope": "openid profile email",
              "state": state, "nonce": pkce.new_verifier()[:22],
              "code_challenge": pkce.challenge_s256(verifier), "code_challenge_method": "S256",
              **extra}
    return Attempt(verifier, state, f"{server.base_url}/authorize?{urlencode(params)}")


def sign_in(page: Any, password: str = PASSWORD, username: str = USERNAME) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# -- scenarios -----------------------------------------------------------------------------


def test_a_user_signs_in_consents_and_the_app_receives_a_code_it_can_redeem(
        page: Any, server: ServerProcess, callback: Callback, artifacts: Path) -> None:
    attempt = start_authorization(server, callback)
    page.goto(attempt.url)
    assert page.url.startswith(f"{server.base_url}/interaction/")
    assert page.title() == "Sign in · proofkey"
    assert f"{CLIENT_ID} (test)" in page.inner_text("main")
    page.screenshot(path=str(artifacts / "browser-login.png"), full_page=True)

    sign_in(page)
    assert page.title() == "Allow access · proofkey"
    scopes = page.locator("ul.scopes code").all_inner_texts()
    assert scopes == ["openid", "profile", "email"]
    page.screenshot(path=str(artifacts / "browser-consent.png"), full_page=True)

    with page.expect_navigation(url=f"{callback.redirect_uri}?**"):
        page.get_by_role("button", name="Allow").click()
    returned = query_of(page.url)
    assert page.url.startswith(callback.redirect_uri + "?")
    assert returned["state"] == attempt.state
    assert returned["iss"] == server.base_url
    assert callback.hits[-1] == urlsplit(page.url).path + "?" + urlsplit(page.url).query
    assert "Signed in" in page.inner_text("h1")

    token = httpx.post(f"{server.base_url}/token", timeout=10, data={
        "grant_type": "authorization_code", "code": returned["code"], "client_id": CLIENT_ID,
        "redirect_uri": callback.redirect_uri, "code_verifier": attempt.verifier})
    assert token.status_code == 200, token.text
    assert {"access_token", "id_token", "refresh_token"} <= set(token.json())


def test_a_wrong_password_shows_only_the_generic_message(
        page: Any, server: ServerProcess, callback: Callback, artifacts: Path) -> None:
    page.goto(start_authorization(server, callback).url)
    sign_in(page, password="not the password")
    alert = page.get_by_role("alert")
    assert alert.inner_text() == GENERIC_FAILURE
    assert page.get_by_label("Password").input_value() == "", "the password is not echoed"
    page.screenshot(path=str(artifacts / "browser-login-failed.png"), full_page=True)

    sign_in(page, username="nobody-by-this-name", password="not the password")
    assert page.get_by_role("alert").inner_text() == GENERIC_FAILURE
    assert page.title() == "Sign in · proofkey"


def test_denying_consent_returns_access_denied_to_the_app(
        page: Any, server: ServerProcess, callback: Callback) -> None:
    attempt = start_authorization(server, callback, prompt="consent")
    page.goto(attempt.url)
    sign_in(page)
    with page.expect_navigation(url=f"{callback.redirect_uri}?**"):
        page.get_by_role("button", name="Deny").click()
    returned = query_of(page.url)
    assert returned["error"] == "access_denied"
    assert returned["state"] == attempt.state
    assert returned["iss"] == server.base_url
    assert "code" not in returned


def test_the_login_page_cannot_be_framed_by_another_site(
        page: Any, server: ServerProcess, callback: Callback) -> None:
    page.goto(start_authorization(server, callback).url)
    login_url = page.url
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))
    callback.target = login_url
    page.goto(f"http://127.0.0.1:{callback.port}/frame", wait_until="load")

    control = page.frame_locator("#control").locator("#framed")
    assert control.inner_text() == "a page that allows framing", "framing works in general"
    victim = page.frame(url=login_url)
    assert victim is None or victim.query_selector('input[name="password"]') is None
    assert any("frame-ancestors 'none'" in text for text in refusals), refusals
