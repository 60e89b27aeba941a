"""Reach the end of an authorization request in a real browser (Playwright driving Chromium):
sign in on the provider's login page, approve its consent page, and capture the navigation back
to the client without loading it (RFC 6749 §4.1.2).

Playwright calls a route handler only for the first URL of a redirect chain, so every main-frame
navigation is fetched by the handler itself with redirects off: a redirect that leaves the
provider is captured and answered with an empty page; one inside the provider is answered the
same way and then opened with a fresh navigation, which the handler sees again. Playwright is
imported when a browser is started, so it stays an optional dependency of the checker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from .login_driver import (
    MAX_STEPS,
    REDIRECT_STATUSES,
    AuthzOutcome,
    LoginSettings,
    Step,
    parse_forms,
    plan_step,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "BrowserNavigator"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic")
_BLANK = "<!doctype html><title>proofkey check</title>"


class BrowserNavigator:
    """One headless Chromium context (its cookies are the user's session) for every request."""

    def __init__(self, settings: LoginSettings, *, executable: str = CHROMIUM,
                 timeout: float = 10.0) -> None:
        self.settings = settings
        self.executable = executable
        self.timeout_ms = timeout * 1000
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._stop: Callable[[str], bool] = lambda url: False
        self._captured: tuple[str, int | None] | None = None
        self._hop: str | None = None
        self._status: int | None = None

    async def start(self) -> BrowserNavigator:
        try:
            from playwright.async_api import async_playwright
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError("--login browser needs Playwright: pip install playwright") from None
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=self.executable, headless=True, args=list(CHROMIUM_ARGS))
            self._context = await self._browser.new_context()
            self._page = await self._context.new_page()
            self._page.set_default_timeout(self.timeout_ms)
            await self._page.route("**/*", self._route)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _route(self, route: Route) -> None:
        request = route.request
        page = self._page
        if page is None or not request.is_navigation_request() or request.frame != page.main_frame:
            await route.continue_()
            return
        if self._stop(request.url):  # a direct navigation back to the client
            self._captured = (request.url, None)
            await route.abort()
            return
        from playwright.async_api import Error as PlaywrightError

        try:
            response = await route.fetch(max_redirects=0, timeout=self.timeout_ms)
        except PlaywrightError:  # unreachable or timed out: let the navigation fail now
            await route.abort("failed")
            return
        location = response.headers.get("location")
        if response.status in REDIRECT_STATUSES and location is not None:
            target = urljoin(request.url, location)
            if self._stop(target):
                self._captured = (target, response.status)
            else:
                self._hop = target
            await route.fulfill(status=200, content_type="text/html", body=_BLANK)
            return
        self._status = response.status
        await route.fulfill(response=response)

    async def authorize(self, url: str, stop: Callable[[str], bool]) -> AuthzOutcome:
        from playwright.async_api import Error as PlaywrightError

        page = self._page
        if page is None:
            await self.start()
            page = self._page
            assert page is not None
        self._stop = stop
        target: str | None = url
        step: Step | None = None
        submitted: set[str] = set()
        for _ in range(MAX_STEPS):
            self._captured, self._hop, self._status = None, None, None
            try:
                if target is not None:
                    await page.goto(target, wait_until="load")
                elif step is not None:  # the previous page offered a form to submit
                    async with page.expect_navigation(wait_until="load"):
                        await self._perform(step)
            except PlaywrightError as exc:
                if self._captured is None:
                    return AuthzOutcome(None, self._status, f"browser: {exc.message[:120]}")
            if self._captured is not None:
                return AuthzOutcome(*self._captured)
            if self._hop is not None:
                target = self._hop
                continue
            found = plan_step(parse_forms(await self._content(), page.url), self.settings)
            if found is None or isinstance(found, str):
                return AuthzOutcome(None, self._status,
                                    found or "a page without a login or consent form")
            if found.kind in submitted:
                return AuthzOutcome(None, self._status,
                                    f"the {found.kind} form came back after it was submitted")
            submitted.add(found.kind)
            step, target = found, None
        return AuthzOutcome(None, None, f"no outcome after {MAX_STEPS} steps")

    async def _content(self) -> str:
        """The page's DOM; a page that navigates by script is given time to settle once."""
        from playwright.async_api import Error as PlaywrightError

        page = self._page
        assert page is not None
        try:
            return await page.content()
        except PlaywrightError:
            await page.wait_for_load_state("load")
            return await page.content()

    async def _perform(self, step: Step) -> None:
        page = self._page
        assert page is not None
        form = page.locator("form").nth(step.form.index)
        if step.kind == "login":
            assert step.user_field is not None
            assert step.password_field is not None
            await form.locator(f'[name="{_css(step.user_field)}"]').first.fill(
                self.settings.username or "")
            await form.locator(f'[name="{_css(step.password_field)}"]').first.fill(
                self.settings.password or "")
        elif step.submit is None and self.settings.consent_field is not None:
            field = form.locator(f'[name="{_css(self.settings.consent_field)}"]').first
            if await field.get_attribute("type") in {"radio", "checkbox"}:
                value = _css(self.settings.consent_value or "")
                await form.locator(f'[name="{_css(self.settings.consent_field)}"]'
                                   f'[value="{value}"]').first.check()
            else:
                await field.fill(self.settings.consent_value or "")
        if step.submit is None:
            await form.evaluate("f => f.requestSubmit ? f.requestSubmit() : f.submit()")
            return
        submits = form.locator("button, input[type=submit], input[type=image]")
        candidates = [c for c in step.form.controls if c.is_submit or c.tag == "button"]
        await submits.nth(candidates.index(step.submit)).click()

    async def aclose(self) -> None:
        for closing in (self._context, self._browser):
            if closing is not None:
                await closing.close()
        if self._playwright is not None:
            await self._playwright.stop()
        self._page = self._context = self._browser = self._playwright = None


def _css(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')
