"""/account over HTTP, on both stores: the signed-in user's sessions and the apps holding
their grants; ending a session and disconnecting an app (CSRF-protected posts)."""

from __future__ import annotations

import re

import httpx

from proofkey.observability.events import LoggedOut
from tests.conftest import Recorder
from tests.helpers import (
    ISSUER,
    PASSWORD,
    PUBLIC_ID,
    USERNAME,
    authorize_params,
    csrf_of,
    new_flow,
)
from tests.http.test_token_code_grant import assert_oauth_error, public_tokens, refresh

_SESSION = re.compile(r'name="session" value="([0-9a-f]+)"')


async def account_login(http: httpx.AsyncClient) -> None:
    page = await http.get("/account")
    response = await http.post("/account/login", data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 303, response.text


def other_browser(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """A second browser (its own cookies) on the same running app."""
    return httpx.AsyncClient(transport=http._transport, base_url=ISSUER)


async def test_the_account_page_lists_the_users_sessions_with_this_one_marked(
        http: httpx.AsyncClient) -> None:
    await account_login(http)
    async with other_browser(http) as laptop:
        await account_login(laptop)
        page = await http.get("/account")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert len(_SESSION.findall(page.text)) == 2
        assert page.text.count('class="current"') == 1


async def test_ending_another_session_signs_that_browser_out(
        http: httpx.AsyncClient, events: Recorder) -> None:
    await account_login(http)
    async with other_browser(http) as laptop:
        await account_login(laptop)
        mine = _SESSION.findall((await laptop.get("/account")).text)
        page = await http.get("/account")
        current = re.search(r'this browser</strong>\s*<form[^>]*>\s*<input type="hidden" '
                            r'name="csrf" value="[^"]+">\s*<input type="hidden" name="session" '
                            r'value="([0-9a-f]+)"', page.text)
        assert current is not None
        other = next(s for s in mine if s != current.group(1))
        refused = await http.post("/account/sessions/end", data={"session": other})
        assert refused.status_code == 400  # no CSRF token
        assert "Sign in" not in (await laptop.get("/account")).text
        ended = await http.post("/account/sessions/end",
                                data={"csrf": csrf_of(page.text), "session": other})
        assert ended.status_code == 303
        assert 'action="/account/login"' in (await laptop.get("/account")).text
        assert 'id="signed-in-user"' in (await http.get("/account")).text
        again = await http.post("/account/sessions/end",
                                data={"csrf": csrf_of(page.text), "session": other})
        assert again.status_code == 400
    assert [e.how for e in events.of(LoggedOut) if isinstance(e, LoggedOut)] == [
        "session_ended"]


async def test_ending_this_session_signs_out_here(http: httpx.AsyncClient) -> None:
    await account_login(http)
    page = await http.get("/account")
    [session] = _SESSION.findall(page.text)
    response = await http.post("/account/sessions/end",
                               data={"csrf": csrf_of(page.text), "session": session})
    assert response.status_code == 303
    assert 'action="/account/login"' in (await http.get("/account")).text


async def test_a_session_of_another_user_cannot_be_ended(http: httpx.AsyncClient) -> None:
    await account_login(http)
    page = await http.get("/account")
    response = await http.post("/account/sessions/end",
                               data={"csrf": csrf_of(page.text), "session": "0" * 64})
    assert response.status_code == 400


async def test_apps_holding_grants_are_listed_and_can_be_disconnected(
        http: httpx.AsyncClient) -> None:
    tokens = await public_tokens(http)  # the browser is signed in through the login
    page = await http.get("/account")
    assert "Native App" in page.text
    assert f"<code>{PUBLIC_ID}</code>" in page.text
    refused = await http.post("/account/apps/disconnect", data={"client_id": PUBLIC_ID})
    assert refused.status_code == 400
    assert (await refresh(http, tokens["refresh_token"])).status_code == 200  # live
    fresh = await public_tokens(http)
    response = await http.post("/account/apps/disconnect",
                               data={"csrf": csrf_of(page.text), "client_id": PUBLIC_ID})
    assert response.status_code == 303
    assert_oauth_error(await refresh(http, fresh["refresh_token"]), "invalid_grant")
    after = await http.get("/account")
    assert "No app holds access" in after.text
    # The consent is forgotten too: the next authorization asks again.
    flow = new_flow()
    answer = await http.get("/authorize", params=authorize_params(flow, prompt="none"))
    assert "error=consent_required" in answer.headers["location"]


async def test_signed_out_the_account_page_offers_the_sign_in_form(
        http: httpx.AsyncClient) -> None:
    page = await http.get("/account")
    assert 'action="/account/login"' in page.text
    response = await http.post("/account/apps/disconnect",
                               data={"csrf": csrf_of(page.text), "client_id": PUBLIC_ID})
    assert response.status_code == 400
