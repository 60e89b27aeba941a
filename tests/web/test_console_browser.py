"""The operator console in a real browser (Debian's Chromium through Playwright) at a real
``proofkey serve``: an admin signs in (a user without the role is refused), every page renders
with data and without a CSP violation or any console error, each page's screenshot is saved
under the test's tmp dir, a keyboard-only pass signs in and ends a user's session, a 360 px
window never scrolls sideways, and a form without its CSRF token is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proofkey.protocol import pkce
from proofkey.store.base import Store
from tests.helpers import action_of, authorize_params, csrf_of, new_flow, query_of
from tests.process.conftest import ServerProcess, running_server, seed, with_store
from tests.web.test_browser_login import CHROMIUM, LAUNCH_ARGS, TIMEOUT_MS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CLIENT_ID = "console-app"
REDIRECT = "http://127.0.0.1/callback"
ADMIN, ADMIN_PASSWORD = "operator", "operator password 7"
USER, USER_PASSWORD = "ada", "analytical engine 1843"
PAGES = {"clients": "/admin/clients", "users": "/admin/users",
         "sessions": f"/admin/sessions?user={USER}", "keys": "/admin/keys",
         "audit": "/admin/audit"}


def _sign_in_and_exchange(server: ServerProcess, *, verifier: str | None = None) -> int:
    """The user signs in to the app (a login session) and the app exchanges the code, with a
    wrong verifier when ``verifier`` is given; the token endpoint's status."""
    flow = new_flow(CLIENT_ID, REDIRECT)
    base = server.base_url
    with httpx.Client(base_url=base, timeout=10) as browser:
        location = browser.get("/authorize", params=authorize_params(flow)).headers["location"]
        page = browser.get(location)
        if 'name="password"' in page.text:
            response = browser.post(action_of(page.text), data={
                "csrf": csrf_of(page.text), "username": USER, "password": USER_PASSWORD})
            location = response.headers["location"]
        if location.startswith("/interaction/"):
            page = browser.get(location)
            location = browser.post(action_of(page.text), data={
                "csrf": csrf_of(page.text), "decision": "allow"}).headers["location"]
        code = query_of(location)["code"]
        return browser.post("/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": CLIENT_ID, "code_verifier": verifier or flow.verifier}).status_code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("browser-console")
    data_dir = root / "data"
    seed(data_dir, public_clients={CLIENT_ID: [REDIRECT, "com.example.console:/cb"]},
         confidential_clients={"console-web": ["https://app.example.com/cb"]},
         users={ADMIN: ADMIN_PASSWORD, USER: USER_PASSWORD})

    async def promote(store: Store) -> None:
        assert await store.set_role(ADMIN, "admin")

    with_store(data_dir, promote)
    with running_server(data_dir, settings={"audit_log": str(root / "audit.jsonl")}) as running:
        assert _sign_in_and_exchange(running) == 200
        assert _sign_in_and_exchange(running, verifier=pkce.new_verifier()) == 400
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=LAUNCH_ARGS, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser: Any, errors: list[str], **options: Any) -> Any:
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def _sign_in(page: Any, server: ServerProcess, username: str = ADMIN,
             password: str = ADMIN_PASSWORD) -> None:
    page.goto(f"{server.base_url}/admin")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _shot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_a_user_without_the_admin_role_is_refused(browser: Any, server: ServerProcess,
                                                   tmp_path: Path) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    _sign_in(page, server, USER, USER_PASSWORD)
    assert "no admin role" in page.locator("#console-message").inner_text()
    assert page.locator("#console-admin").count() == 0
    _shot(page, tmp_path / "refused.png")
    page.goto(f"{server.base_url}/admin/clients")
    assert page.url == f"{server.base_url}/admin/login"
    assert not [e for e in errors if "403" not in e]  # only the refusal's own status


def test_every_page_renders_with_data_and_without_csp_violations(
        browser: Any, server: ServerProcess, tmp_path: Path) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    _sign_in(page, server)
    assert page.url == f"{server.base_url}/admin/clients"
    assert page.locator("#console-admin").inner_text() == ADMIN
    _shot(page, tmp_path / "login-done.png")
    for name, path in PAGES.items():
        page.goto(server.base_url + path)
        assert page.title().endswith("· proofkey console")
        _shot(page, tmp_path / f"{name}.png")
    page.goto(server.base_url + PAGES["clients"])
    row = page.locator("tr.client", has_text=CLIENT_ID)
    rates = re.search(r"success ([0-9.]+) %\s+verifier mismatch ([0-9.]+) %", row.inner_text())
    assert rates is not None, row.inner_text()
    assert 0 < float(rates[1]) < 100  # one good exchange, one wrong verifier (and later ones)
    assert 0 < float(rates[2]) < 100
    assert row.locator(".kind-custom-scheme").count() == 1
    assert page.locator("tr.client").count() == 2
    page.goto(server.base_url + PAGES["users"])
    assert page.locator("tr.user").count() == 2
    page.goto(server.base_url + PAGES["sessions"])
    assert page.locator("#sessions li.session").count() >= 1
    page.goto(server.base_url + PAGES["keys"])
    assert page.locator("tr.key").count() >= 2
    page.goto(server.base_url + PAGES["audit"])
    assert page.locator("tr.entry").count() >= 1
    assert page.locator("tr.entry", has_text="TokenExchangeFailed").count() >= 1
    page.goto(f"{server.base_url}/admin/audit?event=LoginSucceeded")
    assert page.locator("tr.entry").count() >= 1
    assert page.locator("tr.entry", has_text="TokenExchanged").count() == 0
    assert errors == []


def test_keyboard_only_sign_in_and_session_end(browser: Any, server: ServerProcess,
                                               tmp_path: Path) -> None:
    _sign_in_and_exchange(server)  # one more session to end
    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(f"{server.base_url}/admin/login")
    assert page.evaluate("document.activeElement.id") == "username"  # autofocus
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(ADMIN_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{server.base_url}/admin/clients"

    page.goto(server.base_url + PAGES["sessions"])
    before = page.locator("#sessions li.session").count()
    assert before >= 1
    for _ in range(40):
        page.keyboard.press("Tab")
        label = page.evaluate("document.activeElement.textContent || ''")
        if label.startswith("End session"):
            break
    else:
        pytest.fail("Tab never reached an End session button")
    _shot(page, tmp_path / "keyboard-focus.png")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#sessions li.session").count() == before - 1
    assert errors == []


def test_a_narrow_window_never_scrolls_sideways(browser: Any, server: ServerProcess,
                                                tmp_path: Path) -> None:
    errors: list[str] = []
    page = _page(browser, errors, viewport={"width": 360, "height": 740})
    page.goto(f"{server.base_url}/admin/login")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    _shot(page, tmp_path / "narrow-login.png")
    _sign_in(page, server)
    for name, path in PAGES.items():
        page.goto(server.base_url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{name} is {width} px wide"
        _shot(page, tmp_path / f"narrow-{name}.png")
    assert errors == []


def test_a_form_without_its_csrf_token_is_refused(browser: Any, server: ServerProcess) -> None:
    _sign_in_and_exchange(server)
    errors: list[str] = []
    page = _page(browser, errors)
    _sign_in(page, server)
    page.goto(server.base_url + PAGES["sessions"])
    before = page.locator("#sessions li.session").count()
    form = page.locator("#sessions form").first
    form.locator("input[name=csrf]").evaluate("input => input.remove()")
    with page.expect_navigation():
        form.get_by_role("button").click()
    assert "form has expired" in page.content()
    page.goto(server.base_url + PAGES["sessions"])
    assert page.locator("#sessions li.session").count() == before
