"""The HTML pages' defences: no caching, no framing (RFC 6749 §10.13), no referrer, no sniffing,
HttpOnly SameSite cookies (Secure on an https issuer), autoescaping, CSRF on the account
forms, and a new session on every login (no session fixation)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.models import Secret
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.cookies import BROWSER_COOKIE, SESSION_COOKIE
from tests.helpers import (
    PASSWORD,
    PUBLIC_REDIRECT,
    USERNAME,
    WEB_ID,
    WEB_REDIRECT,
    action_of,
    authorize_params,
    csrf_of,
    get_code,
    new_flow,
    query_of,
)

EVIL_ID = "evil-app"
EVIL_NAME = "<script>alert(1)</script>"
HTTPS_ISSUER = "https://idp.example.com"


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:
    """The shared clients, plus one whose display name is markup."""
    store = open_store(settings.effective_database_url)
    await store.migrate()
    scopes = settings.scopes_supported
    await register_client(store, EVIL_ID, client_type="public", redirect_uris=[PUBLIC_REDIRECT],
                          scopes=scopes, supported_scopes=scopes, name=EVIL_NAME,
                          now=int(time.time()))
    await store.close()
    return seeded


def set_cookies(response: httpx.Response, name: str) -> list[str]:
    """The Set-Cookie header lines for cookie ``name``, attributes lower-cased."""
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


def attributes(line: str) -> set[str]:
    return {part.strip().lower() for part in line.split(";")[1:]}


def cookie_value(line: str) -> str:
    return line.split(";", 1)[0].split("=", 1)[1]


async def start(http: httpx.AsyncClient, client_id: str = "native-app", **extra: str | None
                ) -> httpx.Response:
    flow = new_flow(client_id)
    response = await http.get("/authorize", params=authorize_params(flow, **extra))
    assert response.status_code == 303, response.text
    return await http.get(response.headers["location"])


async def login(http: httpx.AsyncClient, page: httpx.Response, password: str = PASSWORD
                ) -> httpx.Response:
    return await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": password})


# -- Headers of every page ------------------------------------------------------------------


async def _login_page(http: httpx.AsyncClient) -> httpx.Response:
    return await start(http)


async def _wrong_password_page(http: httpx.AsyncClient) -> httpx.Response:
    return await login(http, await start(http), password="not the password")


async def _consent_page(http: httpx.AsyncClient) -> httpx.Response:
    response = await login(http, await start(http))
    return await http.get(response.headers["location"])


async def _authorize_error_page(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/authorize", params={"client_id": "nobody"})


async def _interaction_error_page(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/interaction/" + "A" * 43)


async def _account_page(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/account")


async def _signed_in_account_page(http: httpx.AsyncClient) -> httpx.Response:
    page = await http.get("/account")
    await http.post("/account/login", data={"csrf": csrf_of(page.text), "username": USERNAME,
                                            "password": PASSWORD})
    return await http.get("/account")


async def _index_page(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/")


PAGES: dict[str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]] = {
    "login": _login_page,
    "login after a wrong password": _wrong_password_page,
    "consent": _consent_page,
    "authorize error": _authorize_error_page,
    "interaction error": _interaction_error_page,
    "account": _account_page,
    "signed-in account": _signed_in_account_page,
    "index": _index_page,
}


@pytest.mark.parametrize("page", PAGES.values(), ids=PAGES.keys())
async def test_every_html_page_is_not_cached_not_framed_and_sends_no_referrer(
        http: httpx.AsyncClient,
        page: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]) -> None:
    response = await page(http)
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    csp = [d.strip() for d in response.headers["content-security-policy"].split(";")]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in response.text


async def test_the_redirect_that_carries_a_code_is_not_cached(http: httpx.AsyncClient) -> None:
    flow = new_flow(WEB_ID, WEB_REDIRECT)  # silent second request: not a loopback public client
    await get_code(http, flow)
    response = await http.get("/authorize", params=authorize_params(flow))
    assert "code" in query_of(response.headers["location"])
    assert response.headers["cache-control"] == "no-store"


# -- Cookies --------------------------------------------------------------------------------


async def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_on_http(
        http: httpx.AsyncClient) -> None:
    response = await login(http, await start(http))
    assert response.status_code == 303
    [line] = set_cookies(response, SESSION_COOKIE)
    assert {"httponly", "samesite=lax", "path=/"} <= attributes(line)
    assert "secure" not in attributes(line)


async def test_the_browser_cookie_is_httponly_and_samesite_lax(http: httpx.AsyncClient) -> None:
    response = await http.get("/account")
    [line] = set_cookies(response, BROWSER_COOKIE)
    assert {"httponly", "samesite=lax", "path=/"} <= attributes(line)
    assert "secure" not in attributes(line)


@pytest.mark.parametrize("settings_overrides", [{"issuer": HTTPS_ISSUER}])
async def test_on_an_https_issuer_both_cookies_are_secure(http: httpx.AsyncClient) -> None:
    # Secure cookies travel back only over https, so this browser talks to the https origin.
    page = await http.get(f"{HTTPS_ISSUER}/account")
    [browser] = set_cookies(page, BROWSER_COOKIE)
    assert {"secure", "httponly", "samesite=lax"} <= attributes(browser)
    response = await http.post(f"{HTTPS_ISSUER}/account/login", data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 303, response.text
    [session] = set_cookies(response, SESSION_COOKIE)
    assert {"secure", "httponly", "samesite=lax"} <= attributes(session)
    signed_out = await http.post(f"{HTTPS_ISSUER}/account/logout",
                                 data={"csrf": csrf_of(page.text)})
    [cleared] = set_cookies(signed_out, SESSION_COOKIE)
    assert "secure" in attributes(cleared)


async def test_logging_in_issues_a_new_session_cookie_even_if_the_browser_sent_one(
        http: httpx.AsyncClient) -> None:
    planted = "attacker-chosen-session-handle"
    http.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")
    response = await login(http, await start(http))
    [line] = set_cookies(response, SESSION_COOKIE)
    first = cookie_value(line)
    assert first != planted
    # Logging in again on top of a real session replaces it, and the old one stops working.
    response = await login(http, await start(http, prompt="login"))
    [line] = set_cookies(response, SESSION_COOKIE)
    second = cookie_value(line)
    assert second not in {first, planted}
    current = await http.get("/authorize", params=authorize_params(new_flow(), prompt="none"))
    # consent_required, not login_required: the new session is the live one.
    assert query_of(current.headers["location"])["error"] == "consent_required"
    http.cookies.clear()
    http.cookies.set(SESSION_COOKIE, first, domain="127.0.0.1")
    stale = await http.get("/authorize", params=authorize_params(new_flow(), prompt="none"))
    assert query_of(stale.headers["location"])["error"] == "login_required"


async def test_a_failed_login_does_not_set_a_session_cookie(http: httpx.AsyncClient) -> None:
    response = await login(http, await start(http), password="not the password")
    assert response.status_code == 401
    assert set_cookies(response, SESSION_COOKIE) == []


# -- Autoescaping and what pages echo -------------------------------------------------------


async def test_a_client_name_with_markup_is_shown_escaped_on_the_login_page(
        http: httpx.AsyncClient) -> None:
    page = await start(http, EVIL_ID)
    assert EVIL_NAME not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_a_client_name_with_markup_is_shown_escaped_on_the_consent_page(
        http: httpx.AsyncClient) -> None:
    response = await login(http, await start(http, EVIL_ID))
    page = await http.get(response.headers["location"])
    assert 'name="decision"' in page.text
    assert EVIL_NAME not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_a_username_with_markup_is_echoed_escaped_on_the_login_page(
        http: httpx.AsyncClient) -> None:
    page = await start(http)
    response = await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": '"><script>alert(1)</script>',
        "password": "x"})
    assert response.status_code == 401
    assert "<script>" not in response.text
    assert "&#34;&gt;&lt;script&gt;" in response.text


async def test_the_login_page_does_not_echo_the_password(http: httpx.AsyncClient) -> None:
    secret = "Sup3r-secret-pa55word-that-is-wrong"
    response = await login(http, await start(http), password=secret)
    assert response.status_code == 401
    assert secret not in response.text
    assert USERNAME in response.text


async def test_an_error_page_does_not_echo_the_redirect_uri(http: httpx.AsyncClient) -> None:
    flow = new_flow(redirect_uri="https://evil.test/<script>x</script>")
    response = await http.get("/authorize", params=authorize_params(flow))
    assert response.status_code == 400
    assert "evil.test" not in response.text


# -- The account page -----------------------------------------------------------------------


async def test_the_account_page_logs_in_and_out_with_csrf(http: httpx.AsyncClient) -> None:
    page = await http.get("/account")
    assert 'name="password"' in page.text
    response = await http.post("/account/login", data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    [line] = set_cookies(response, SESSION_COOKIE)
    session_handle = cookie_value(line)
    signed_in = await http.get("/account")
    assert f'id="signed-in-user">{USERNAME}<' in signed_in.text
    response = await http.post("/account/logout", data={"csrf": csrf_of(signed_in.text)})
    assert response.status_code == 303
    [cleared] = set_cookies(response, SESSION_COOKIE)
    assert "max-age=0" in attributes(cleared)
    signed_out = await http.get("/account")
    assert 'name="password"' in signed_out.text
    assert "signed-in-user" not in signed_out.text
    # The session ended on the server too: its old cookie no longer signs anybody in.
    http.cookies.set(SESSION_COOKIE, session_handle, domain="127.0.0.1")
    assert "signed-in-user" not in (await http.get("/account")).text


async def test_the_account_login_refuses_a_missing_or_foreign_csrf_token(
        http: httpx.AsyncClient) -> None:
    await http.get("/account")
    for form in ({}, {"csrf": "x" * 43}):
        response = await http.post("/account/login", data={
            **form, "username": USERNAME, "password": PASSWORD})
        assert response.status_code == 400
        assert "<code>invalid_request</code>" in response.text
        assert set_cookies(response, SESSION_COOKIE) == []
    async with httpx.AsyncClient(transport=http._transport, base_url=str(http.base_url)) as other:
        foreign = csrf_of((await other.get("/account")).text)
    response = await http.post("/account/login", data={
        "csrf": foreign, "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 400
    assert set_cookies(response, SESSION_COOKIE) == []


async def test_the_account_logout_refuses_a_missing_csrf_token(http: httpx.AsyncClient) -> None:
    page = await http.get("/account")
    await http.post("/account/login", data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    response = await http.post("/account/logout", data={})
    assert response.status_code == 400
    assert set_cookies(response, SESSION_COOKIE) == []
    assert "signed-in-user" in (await http.get("/account")).text


async def test_the_account_login_shows_a_generic_message_on_a_wrong_password(
        http: httpx.AsyncClient) -> None:
    page = await http.get("/account")
    response = await http.post("/account/login", data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": "not the password"})
    assert response.status_code == 401
    assert "Incorrect username or password." in response.text
    assert set_cookies(response, SESSION_COOKIE) == []
