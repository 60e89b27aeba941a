"""The status page in Chromium: sign in with the admin token, see the SLIs of real traffic drawn
as inline SVG under the page's strict CSP (no script, no violation); screenshot to
test-artifacts/status-page.png."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import (
    PASSWORD,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    USERNAME,
    authorize_params,
    exchange,
    get_code,
    new_flow,
)
from tests.process.conftest import ServerProcess, running_server, seed

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

ADMIN_TOKEN = "sPOM6h5HADvu0dpErtXl8uoQ7-Q7WmKR0Dk07eDlr8I"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 15_000


async def traffic(base: str) -> None:
    """Some successes, wrong verifiers and stripped challenges for the charts to show."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        for index in range(6):
            flow = new_flow()
            code = await get_code(http, flow)
            wrong = new_flow().verifier if index % 3 == 2 else None
            await exchange(http, flow, code, **({"code_verifier": wrong} if wrong else {}))
        for _ in range(2):
            await http.get("/authorize", params=authorize_params(new_flow(),
                                                                 code_challenge=None))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("status") / "data"
    seed(data_dir, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]}, users={USERNAME: PASSWORD})
    with running_server(data_dir, settings={"admin_token": ADMIN_TOKEN}) as running:
        # On a loop of its own in a helper thread: the test session may already run one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, traffic(running.base_url)).result(timeout=120)
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


def test_an_operator_signs_in_and_sees_the_slis_drawn_without_script(
        browser: Any, server: ServerProcess, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda message: problems.append(message.text)
                if message.type in {"error", "warning"} else None)
        page.on("pageerror", lambda error: problems.append(str(error)))

        response = page.goto(f"{server.base_url}/status")
        assert response.status == 401
        assert page.title() == "Status · proofkey"
        page.get_by_label("Admin token").fill("a wrong token")
        page.get_by_role("button", name="Show status").click()
        page.wait_for_load_state()
        assert "That token is not valid." in page.inner_text("main")
        problems.clear()  # the 401 answers are logged by Chromium as failed loads

        page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Show status").click()
        page.wait_for_selector("#status")
        assert page.url == f"{server.base_url}/status"
        assert page.locator("svg.chart").count() == 8
        assert page.locator("#chart-success polyline").count() >= 1
        assert page.locator("#chart-mismatch polyline").count() >= 1
        assert "66.67 % of exchanges succeeded (4/6)" in page.inner_text("#chart-success")
        assert "25.00 % of authorization requests lacked code_challenge (2/8)" in (
            page.inner_text("#chart-param_loss"))
        # The stylesheet applied (style-src 'self'), and nothing was refused or thrown.
        background = page.eval_on_selector(".panel", "e => getComputedStyle(e).backgroundColor")
        assert background == "rgb(255, 255, 255)"
        assert problems == []

        [cookie] = [c for c in context.cookies() if c["name"] == "pk_status"]
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/status"
        assert ADMIN_TOKEN not in cookie["value"]
        page.screenshot(path=str(artifacts / "status-page.png"), full_page=True)

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        assert page.locator("svg.chart").count() == 0
        assert page.get_by_label("Admin token").is_visible()
    finally:
        context.close()
