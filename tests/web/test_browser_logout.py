"""A person in a real browser (Debian's Chromium through Playwright) at a real ``proofkey
serve``: a logout request without an ID token hint asks them first, confirming lands on the
relying party's registered post-logout URI with its state, and /account lists the session
and ends it. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from proofkey.store.base import Store
from tests.process.conftest import ServerProcess, running_server, seed, with_store
from tests.web.test_browser_login import (
    CHROMIUM,
    LAUNCH_ARGS,
    TIMEOUT_MS,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CLIENT_ID = "logout-app"
USERNAME, PASSWORD = "ada", "analytical engine 1843"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("browser-logout") / "data"
    seed(data_dir, public_clients={CLIENT_ID: ["http://127.0.0.1/callback"]},
         users={USERNAME: PASSWORD})
    with running_server(data_dir) as running:
        bye = f"{running.base_url}/account"  # a page the browser can load afterwards

        async def register_bye(store: Store) -> None:
            client = await store.get_client(CLIENT_ID)
            assert client is not None
            await store.update_client(replace(client, post_logout_redirect_uris=(bye,)))

        with_store(data_dir, register_bye)
        yield running


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=LAUNCH_ARGS, timeout=30_000)
        try:
            context = chromium.new_context()
            context.set_default_timeout(TIMEOUT_MS)
            context.set_default_navigation_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            chromium.close()


def test_a_logout_without_a_hint_is_confirmed_and_the_account_page_ends_sessions(
        page: Any, server: ServerProcess, artifacts: Path) -> None:
    page.goto(f"{server.base_url}/account")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.locator("#signed-in-user").inner_text() == USERNAME
    assert page.locator("#sessions li.session").count() == 1
    assert page.locator("#sessions strong.current").count() == 1
    page.screenshot(path=str(artifacts / "account-sessions.png"), full_page=True)

    bye = f"{server.base_url}/account"
    page.goto(f"{server.base_url}/logout?" + urlencode(
        {"client_id": CLIENT_ID, "post_logout_redirect_uri": bye, "state": "st-1"}))
    assert page.title() == "Sign out? · proofkey"
    assert "logout-app (test)" in page.locator("#logout-client").inner_text()
    page.screenshot(path=str(artifacts / "logout-confirm.png"), full_page=True)
    with page.expect_navigation(url=f"{bye}?state=st-1"):
        page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("button", name="Sign in").count() == 1  # signed out

    # Signed in again, the session is ended from the account page itself.
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="End this session").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Sign in").count() == 1
