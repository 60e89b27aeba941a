"""The user lifecycle over HTTP, on both stores (docs/admin.md): a user created with a
single-use password-set link, disabled (no sign-in; what they held is revoked at once) and
removed (nothing of theirs left that could become a token)."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import httpx
import pytest

from proofkey.flows import user_admin
from proofkey.flows.user_admin import PasswordLink
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.store.base import Store
from tests.helpers import ISSUER, PASSWORD, USERNAME, csrf_of
from tests.http.test_account import other_browser
from tests.http.test_token_code_grant import assert_oauth_error, public_tokens, refresh

NEW_PASSWORD = "a long enough new password"


async def with_store(settings: Settings) -> Store:
    store = open_store(settings.effective_database_url)
    await store.migrate()
    return store


async def create(settings: Settings, username: str = "bob", *, now: int | None = None,
                 ttl: int = 3600) -> PasswordLink:
    store = await with_store(settings)
    try:
        return await user_admin.create_user(store, username, issuer=ISSUER, ttl=ttl,
                                            now=int(time.time()) if now is None else now)
    finally:
        await store.close()


def path_of(link: PasswordLink) -> str:
    parts = urlsplit(link.url.reveal())
    return f"{parts.path}?{parts.query}"


async def sign_in(http: httpx.AsyncClient, username: str, password: str) -> int:
    page = await http.get("/account")
    response = await http.post("/account/login", data={
        "csrf": csrf_of(page.text), "username": username, "password": password})
    return response.status_code


async def set_password(http: httpx.AsyncClient, link: PasswordLink, password: str,
                       confirm: str | None = None) -> httpx.Response:
    page = await http.get(path_of(link))
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    return await http.post("/account/password/set", data={
        "csrf": csrf_of(page.text), "token": token.group(1) if token else "",
        "password": password, "confirm": password if confirm is None else confirm})


async def test_a_created_user_sets_a_password_with_the_link_once(
        http: httpx.AsyncClient, settings: Settings) -> None:
    link = await create(settings)
    assert link.url.reveal().startswith(f"{ISSUER}/account/password/set?token=")
    assert await sign_in(http, "bob", "") != 303
    page = await http.get(path_of(link))
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert 'id="password-user">bob<' in page.text

    token = urlsplit(link.url.reveal()).query.removeprefix("token=")
    refused = await http.post("/account/password/set", data={
        "token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert refused.status_code == 400  # no CSRF token
    differ = await set_password(http, link, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")
    assert differ.status_code == 400
    assert "differ" in differ.text
    short = await set_password(http, link, "short")
    assert short.status_code == 400
    assert "at least 8" in short.text

    done = await set_password(http, link, NEW_PASSWORD)
    assert done.status_code == 200, done.text
    assert 'id="password-set-done"' in done.text
    assert await sign_in(http, "bob", NEW_PASSWORD) == 303

    # Once only: the link is used up, the page says so and a replayed post does nothing.
    again = await http.get(path_of(link))
    assert again.status_code == 400
    assert 'id="password-link-invalid"' in again.text
    replay = await http.post("/account/password/set", data={
        "csrf": csrf_of(page.text), "token": token, "password": "an attacker's password",
        "confirm": "an attacker's password"})
    assert replay.status_code == 400
    async with other_browser(http) as other:
        assert await sign_in(other, "bob", "an attacker's password") != 303


async def test_an_expired_or_replaced_link_does_not_work(
        http: httpx.AsyncClient, settings: Settings) -> None:
    expired = await create(settings, "carol", now=int(time.time()) - 7200, ttl=3600)
    assert (await http.get(path_of(expired))).status_code == 400
    store = await with_store(settings)
    try:
        first = await user_admin.issue_password_link(store, expired.user, issuer=ISSUER,
                                                     now=int(time.time()))
        second = await user_admin.issue_password_link(store, expired.user, issuer=ISSUER,
                                                      now=int(time.time()))
    finally:
        await store.close()
    assert (await http.get(path_of(first))).status_code == 400  # replaced by the newer one
    csrf = csrf_of((await http.get(path_of(second))).text)
    for stale in (expired, first):
        posted = await http.post("/account/password/set", data={
            "csrf": csrf, "token": urlsplit(stale.url.reveal()).query.removeprefix("token="),
            "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        assert posted.status_code == 400
    assert (await set_password(http, second, NEW_PASSWORD)).status_code == 200
    bogus = await http.get("/account/password/set?token=" + "A" * 43)
    assert bogus.status_code == 400
    assert (await http.get("/account/password/set")).status_code == 400


async def test_a_disabled_user_cannot_sign_in_and_loses_sessions_and_refresh_tokens(
        http: httpx.AsyncClient, settings: Settings) -> None:
    tokens = await public_tokens(http, scope="openid offline_access")
    assert 'id="signed-in-user"' in (await http.get("/account")).text
    store = await with_store(settings)
    try:
        ended = await user_admin.disable_user(store, USERNAME, int(time.time()))
    finally:
        await store.close()
    assert ended is not None
    assert ended.sessions_ended >= 1
    assert ended.grants_revoked >= 1
    assert ended.user.disabled_at is not None
    assert_oauth_error(await refresh(http, tokens["refresh_token"]), "invalid_grant")
    assert 'id="signed-in-user"' not in (await http.get("/account")).text
    async with other_browser(http) as fresh:
        assert await sign_in(fresh, USERNAME, PASSWORD) == 401
        link_page = await fresh.get("/account")
        assert "Sign in" in link_page.text

    store = await with_store(settings)
    try:
        assert await user_admin.enable_user(store, USERNAME) is not None
    finally:
        await store.close()
    async with other_browser(http) as fresh:
        assert await sign_in(fresh, USERNAME, PASSWORD) == 303
    assert_oauth_error(await refresh(http, tokens["refresh_token"]), "invalid_grant")


async def test_a_disabled_users_link_does_not_work(
        http: httpx.AsyncClient, settings: Settings) -> None:
    link = await create(settings, "dave")
    store = await with_store(settings)
    try:
        await user_admin.disable_user(store, "dave", int(time.time()))
    finally:
        await store.close()
    page = await http.get(path_of(link))
    assert page.status_code == 400


async def test_a_removed_user_leaves_no_session_and_no_live_token(
        http: httpx.AsyncClient, settings: Settings) -> None:
    tokens = await public_tokens(http, scope="openid offline_access")
    store = await with_store(settings)
    try:
        removed = await user_admin.remove_user(store, USERNAME, int(time.time()))
        assert removed is not None
        assert await store.get_user_by_username(USERNAME) is None
        assert await store.list_sessions(removed.user_id, int(time.time())) == []
        assert await store.list_grants(removed.user_id, int(time.time())) == []
        assert await user_admin.remove_user(store, USERNAME, int(time.time())) is None
    finally:
        await store.close()
    assert_oauth_error(await refresh(http, tokens["refresh_token"]), "invalid_grant")
    assert 'id="signed-in-user"' not in (await http.get("/account")).text
    info = await http.get("/userinfo",
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


@pytest.mark.parametrize("username", ["", "no spaces", "x" * 129])
async def test_bad_usernames_are_refused(settings: Settings, username: str) -> None:
    from proofkey.flows.admin import AdminError

    with pytest.raises(AdminError):
        await create(settings, username)
