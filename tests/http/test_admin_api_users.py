"""Users through the admin API, over HTTP on SQLite and PostgreSQL: created with a single-use
password-set link (never a password), listed by prefix with cursors, changed under If-Match,
disabled and enabled (the flows take back sessions and grants), removed (a refresh token of the
removed user fails at /token, its access token at userinfo and introspection)."""

from __future__ import annotations

import re

import httpx

from proofkey.observability.events import AdminApiCall
from proofkey.settings import Settings
from tests.conftest import Recorder
from tests.helpers import ISSUER, PASSWORD, USERNAME, csrf_of
from tests.http.test_account import other_browser
from tests.http.test_token_code_grant import (
    assert_oauth_error,
    assert_tokens_live,
    assert_tokens_revoked,
    public_tokens,
    refresh,
)
from tests.http.test_user_lifecycle import NEW_PASSWORD, sign_in

from .admin_api import admin_token, conforms, problem, send


async def _set_password(http: httpx.AsyncClient, url: str, password: str) -> httpx.Response:
    page = await http.get(url.removeprefix(ISSUER))
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None, page.text
    return await http.post("/account/password/set", data={
        "csrf": csrf_of(page.text), "token": token.group(1), "password": password,
        "confirm": password})


async def _token(settings: Settings) -> str:
    return (await admin_token(settings, ["users:read", "users:write"]))[0]


async def test_a_user_is_created_with_a_link_and_sets_a_password(
        http: httpx.AsyncClient, settings: Settings, events: Recorder) -> None:
    token = await _token(settings)
    created = await send(http, "POST", "/users", token,
                         {"username": "bob", "name": "Bob", "email": "bob@example.com"})
    assert created.status_code == 201, created.text
    await conforms(http, created, "createUser")
    body = created.json()
    url = body["password_link"]["url"]
    assert url.startswith(f"{ISSUER}/account/password/set?token=")
    assert body["user"]["username"] == "bob"
    assert body["user"]["has_password"] is False
    assert body["user"]["disabled"] is False
    assert created.headers["location"] == f"/admin/api/v1/users/{body['user']['id']}"
    assert created.headers["cache-control"] == "no-store"
    # shown once: a read has no link, by id or by username
    read = await send(http, "GET", f"/users/{body['user']['id']}", token)
    assert read.json() == body["user"]
    assert (await send(http, "GET", "/users/bob", token)).json() == body["user"]
    await conforms(http, read, "getUser")
    assert "password" not in read.text.replace("has_password", "")
    problem(await send(http, "POST", "/users", token, {"username": "bob"}), 409, "exists")

    # a new link replaces the first one
    again = await send(http, "POST", "/users/bob/password-link", token,
                       {"link_ttl_seconds": 600})
    assert again.status_code == 201, again.text
    await conforms(http, again, "issueUserPasswordLink")
    new_url = again.json()["password_link"]["url"]
    assert new_url != url
    assert (await http.get(url.removeprefix(ISSUER))).status_code == 400
    done = await _set_password(http, new_url, NEW_PASSWORD)
    assert done.status_code in (200, 303), done.text
    async with other_browser(http) as fresh:
        assert await sign_in(fresh, "bob", NEW_PASSWORD) == 303
    assert (await send(http, "GET", "/users/bob", token)).json()["has_password"] is True
    # the link never reaches the audit line
    calls = [e for e in events.of(AdminApiCall) if isinstance(e, AdminApiCall)]
    assert ("createUser", 201) in [(c.operation, c.status) for c in calls]
    assert all(new_url not in repr(c) and url not in repr(c) for c in calls)


async def test_no_password_and_no_unknown_field_is_taken(http: httpx.AsyncClient,
                                                         settings: Settings) -> None:
    token = await _token(settings)
    body = problem(await send(http, "POST", "/users", token,
                              {"username": "eve", "password": "hunter2hunter2"}), 422,
                   "invalid-body")
    assert body["errors"] == [{"pointer": "/password", "detail": "is not a known field"}]
    assert "hunter2" not in str(body)
    problem(await send(http, "POST", "/users", token, {"username": "no spaces"}), 422,
            "invalid-body")
    problem(await send(http, "POST", "/users", token, {"username": "x" * 129}), 422,
            "invalid-body")
    problem(await send(http, "POST", "/users", token,
                       {"username": "eve", "link_ttl_seconds": 5}), 422, "invalid-body")
    problem(await send(http, "GET", "/users/nobody", token), 404, "not-found")
    problem(await send(http, "GET", "/users/a%20b", token), 404, "not-found")
    problem(await send(http, "POST", "/users/nobody/password-link", token, {}), 404,
            "not-found")
    problem(await send(http, "PATCH", "/users/nobody", token, {"name": "x"},
                       **{"if-match": "*"}), 404, "not-found")
    problem(await send(http, "DELETE", "/users/nobody", token, **{"if-match": "*"}), 404,
            "not-found")
    problem(await send(http, "PATCH", f"/users/{USERNAME}", token, {"role": "admin"},
                       **{"if-match": "*"}), 422, "invalid-body")
    problem(await send(http, "PUT", f"/users/{USERNAME}", token), 405, "method-not-allowed")


async def test_users_are_listed_by_prefix_with_cursors(http: httpx.AsyncClient,
                                                       settings: Settings) -> None:
    token = await _token(settings)
    for name in ("team.c", "team.a", "team.b", "other"):
        assert (await send(http, "POST", "/users", token, {"username": name})).status_code == 201
    first = await send(http, "GET", "/users?username_prefix=team.&limit=2", token)
    await conforms(http, first, "listUsers")
    page1 = first.json()
    assert [u["username"] for u in page1["items"]] == ["team.a", "team.b"]
    page2 = (await send(http, "GET", "/users?username_prefix=team.&limit=2&cursor="
                        + page1["next_cursor"], token)).json()
    assert [u["username"] for u in page2["items"]] == ["team.c"]
    assert page2["next_cursor"] is None
    everyone = (await send(http, "GET", "/users", token)).json()["items"]
    assert {USERNAME, "other", "team.a"} <= {u["username"] for u in everyone}
    problem(await send(http, "GET", "/users?cursor=!!", token), 400, "invalid-query")
    problem(await send(http, "GET", "/users?cursor=abc", token), 400, "invalid-cursor")
    problem(await send(http, "GET", "/users?limit=0", token), 400, "invalid-query")
    problem(await send(http, "GET", "/users?sort=name", token), 400, "invalid-query")


async def test_patch_changes_the_profile_under_if_match(http: httpx.AsyncClient,
                                                        settings: Settings) -> None:
    token = await _token(settings)
    read = await send(http, "GET", f"/users/{USERNAME}", token)
    etag = read.headers["etag"]
    problem(await send(http, "PATCH", f"/users/{USERNAME}", token, {"name": "A"}), 428,
            "precondition-required")
    changed = await send(http, "PATCH", f"/users/{USERNAME}", token,
                         {"name": "Alice A.", "email": "alice@example.org"},
                         **{"if-match": etag})
    assert changed.status_code == 200, changed.text
    await conforms(http, changed, "updateUser")
    assert changed.json()["name"] == "Alice A."
    assert changed.json()["email"] == "alice@example.org"
    assert changed.headers["etag"] != etag
    problem(await send(http, "PATCH", f"/users/{USERNAME}", token, {"name": "B"},
                       **{"if-match": etag}), 412, "precondition-failed")
    assert (await send(http, "GET", f"/users/{USERNAME}", token)).headers["etag"] == \
        changed.headers["etag"]


async def test_disable_takes_back_sessions_and_grants_and_enable_lets_in_again(
        http: httpx.AsyncClient, settings: Settings, web_secret: str) -> None:
    token = await _token(settings)
    tokens = await public_tokens(http, scope="openid offline_access")
    await assert_tokens_live(http, tokens, web_secret)
    etag = (await send(http, "GET", f"/users/{USERNAME}", token)).headers["etag"]
    off = await send(http, "PATCH", f"/users/{USERNAME}", token, {"disabled": True},
                     **{"if-match": etag})
    assert off.status_code == 200, off.text
    assert off.json()["disabled"] is True
    assert isinstance(off.json()["disabled_at"], int)
    await assert_tokens_revoked(http, tokens, web_secret)
    assert 'id="signed-in-user"' not in (await http.get("/account")).text
    async with other_browser(http) as fresh:
        assert await sign_in(fresh, USERNAME, PASSWORD) == 401
    problem(await send(http, "POST", f"/users/{USERNAME}/password-link", token, {}), 409,
            "user-disabled")
    on = await send(http, "PATCH", f"/users/{USERNAME}", token, {"disabled": False},
                    **{"if-match": off.headers["etag"]})
    assert on.status_code == 200, on.text
    assert on.json()["disabled"] is False
    assert on.json()["disabled_at"] is None
    async with other_browser(http) as fresh:
        assert await sign_in(fresh, USERNAME, PASSWORD) == 303
    assert_oauth_error(await refresh(http, tokens["refresh_token"]), "invalid_grant")


async def test_a_removed_user_leaves_no_live_token(http: httpx.AsyncClient, settings: Settings,
                                                  web_secret: str) -> None:
    token = await _token(settings)
    tokens = await public_tokens(http, scope="openid offline_access")
    await assert_tokens_live(http, tokens, web_secret)
    problem(await send(http, "DELETE", f"/users/{USERNAME}", token), 428,
            "precondition-required")
    problem(await send(http, "DELETE", f"/users/{USERNAME}", token,
                       **{"if-match": '"stale"'}), 412, "precondition-failed")
    etag = (await send(http, "GET", f"/users/{USERNAME}", token)).headers["etag"]
    removed = await send(http, "DELETE", f"/users/{USERNAME}", token, **{"if-match": etag})
    assert removed.status_code == 204, removed.text
    await assert_tokens_revoked(http, tokens, web_secret)  # /token, userinfo, introspection
    assert 'id="signed-in-user"' not in (await http.get("/account")).text
    problem(await send(http, "GET", f"/users/{USERNAME}", token), 404, "not-found")


async def test_scopes_are_enforced(http: httpx.AsyncClient, settings: Settings) -> None:
    reader = (await admin_token(settings, ["users:read"]))[0]
    assert (await send(http, "GET", "/users", reader)).status_code == 200
    body = problem(await send(http, "POST", "/users", reader, {"username": "zed"}), 403,
                   "insufficient-scope")
    assert "users:write" in body["detail"]
    for method, path in (("PATCH", f"/users/{USERNAME}"), ("DELETE", f"/users/{USERNAME}"),
                         ("POST", f"/users/{USERNAME}/password-link")):
        problem(await send(http, method, path, reader, {} if method != "DELETE" else None,
                           **{"if-match": "*"}), 403, "insufficient-scope")
    other = (await admin_token(settings, ["keys:read"]))[0]
    body = problem(await send(http, "GET", f"/users/{USERNAME}", other), 403,
                   "insufficient-scope")
    assert "users:read" in body["detail"]
