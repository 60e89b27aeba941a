"""Grants and sessions through the admin API, over HTTP on SQLite and PostgreSQL: listed by user
or by client (one of them required), one revoked or ended, all of a user's or a client's
revoked or ended (the flows of ``proofkey grant|session``)."""

from __future__ import annotations

import httpx

from proofkey.settings import Settings
from tests.helpers import PUBLIC_ID, USERNAME
from tests.http.test_account import other_browser
from tests.http.test_token_code_grant import (
    assert_tokens_live,
    assert_tokens_revoked,
    public_tokens,
)

from .admin_api import admin_token, conforms, problem, send

SCOPES = ["grants:read", "grants:write", "sessions:read", "sessions:write"]


async def test_grants_are_listed_and_revoked_one_or_all(
        http: httpx.AsyncClient, settings: Settings, web_secret: str) -> None:
    token = (await admin_token(settings, SCOPES))[0]
    first = await public_tokens(http, scope="openid offline_access")
    async with other_browser(http) as fresh:
        second = await public_tokens(fresh, scope="openid offline_access")
    by_user = await send(http, "GET", f"/grants?user={USERNAME}", token)
    assert by_user.status_code == 200, by_user.text
    await conforms(http, by_user, "listGrants")
    grants = by_user.json()["items"]
    assert len(grants) == 2
    assert {g["client_id"] for g in grants} == {PUBLIC_ID}
    assert all(g["revoked_at"] is None and "offline_access" in g["scope"] for g in grants)
    by_client = (await send(http, "GET", f"/grants?client={PUBLIC_ID}&limit=1", token)).json()
    assert len(by_client["items"]) == 1
    assert by_client["next_cursor"]
    rest = (await send(http, "GET", f"/grants?client={PUBLIC_ID}&limit=1&cursor="
                       + by_client["next_cursor"], token)).json()
    assert {by_client["items"][0]["grant_id"], rest["items"][0]["grant_id"]} == \
        {g["grant_id"] for g in grants}

    await assert_tokens_live(http, first, web_secret)
    one = grants[0]["grant_id"]
    assert (await send(http, "DELETE", f"/grants/{one}", token)).status_code == 204
    assert (await send(http, "DELETE", f"/grants/{one}", token)).status_code == 204  # again
    left = (await send(http, "GET", f"/grants?user={USERNAME}", token)).json()["items"]
    assert [g["grant_id"] for g in left] == [grants[1]["grant_id"]]
    problem(await send(http, "DELETE", "/grants/no-such-grant", token), 404, "not-found")

    revoked = await send(http, "POST", "/grants/revoke-all", token, {"client": PUBLIC_ID})
    assert revoked.status_code == 200, revoked.text
    await conforms(http, revoked, "revokeAllGrants")
    assert revoked.json() == {"revoked": 1}
    await assert_tokens_revoked(http, first, web_secret)
    await assert_tokens_revoked(http, second, web_secret)
    assert (await send(http, "GET", f"/grants?user={USERNAME}", token)).json()["items"] == []
    again = await send(http, "POST", "/grants/revoke-all", token, {"user": USERNAME})
    assert again.json() == {"revoked": 0}


async def test_sessions_are_listed_and_ended_one_or_all(
        http: httpx.AsyncClient, settings: Settings, web_secret: str) -> None:
    token = (await admin_token(settings, SCOPES))[0]
    tokens = await public_tokens(http, scope="openid offline_access")
    async with other_browser(http) as fresh:
        await public_tokens(fresh, scope="openid")
        listed = await send(http, "GET", f"/sessions?user={USERNAME}", token)
        assert listed.status_code == 200, listed.text
        await conforms(http, listed, "listSessions")
        sessions = listed.json()["items"]
        assert len(sessions) == 2
        assert all(len(s["session_id"]) == 64 for s in sessions)
        by_client = (await send(http, "GET", f"/sessions?client={PUBLIC_ID}", token)).json()
        assert {s["session_id"] for s in by_client["items"]} == \
            {s["session_id"] for s in sessions}
        one = sessions[0]["session_id"]
        assert (await send(http, "DELETE", f"/sessions/{one}", token)).status_code == 204
        problem(await send(http, "DELETE", f"/sessions/{one}", token), 404, "not-found")
        ended = await send(http, "POST", "/sessions/end-all", token, {"user": USERNAME})
        assert ended.status_code == 200, ended.text
        await conforms(http, ended, "endAllSessions")
        assert ended.json() == {"ended": 1}
        assert 'id="signed-in-user"' not in (await fresh.get("/account")).text
    assert 'id="signed-in-user"' not in (await http.get("/account")).text
    assert (await send(http, "GET", f"/sessions?user={USERNAME}", token)).json() == {
        "items": [], "next_cursor": None}
    await assert_tokens_live(http, tokens, web_secret)  # ending sessions leaves grants


async def test_bad_selectors_and_scopes_are_problems(http: httpx.AsyncClient,
                                                     settings: Settings) -> None:
    token = (await admin_token(settings, SCOPES))[0]
    for what in ("grants", "sessions"):
        problem(await send(http, "GET", f"/{what}", token), 400, "invalid-query")
        problem(await send(http, "GET", f"/{what}?user={USERNAME}&client={PUBLIC_ID}", token),
                400, "invalid-query")
        problem(await send(http, "GET", f"/{what}?user=nobody", token), 404, "not-found")
        problem(await send(http, "GET", f"/{what}?client=nobody", token), 404, "not-found")
        problem(await send(http, "GET", f"/{what}?user=a%20b", token), 400, "invalid-query")
        problem(await send(http, "GET", f"/{what}?user={USERNAME}&cursor=abc", token), 400,
                "invalid-cursor")
    for path in ("/grants/revoke-all", "/sessions/end-all"):
        problem(await send(http, "POST", path, token, {}), 422, "invalid-body")
        problem(await send(http, "POST", path, token, {"user": USERNAME, "client": PUBLIC_ID}),
                422, "invalid-body")
        problem(await send(http, "POST", path, token, {"user": USERNAME, "all": True}), 422,
                "invalid-body")
        problem(await send(http, "POST", path, token, {"user": "nobody"}), 404, "not-found")
    problem(await send(http, "DELETE", "/sessions/not-a-digest", token), 404, "not-found")
    problem(await send(http, "DELETE", "/sessions/" + "0" * 64, token), 404, "not-found")
    problem(await send(http, "GET", "/grants/revoke-all", token), 405, "method-not-allowed")

    reader = (await admin_token(settings, ["grants:read", "sessions:read"]))[0]
    assert (await send(http, "GET", f"/grants?user={USERNAME}", reader)).status_code == 200
    assert (await send(http, "GET", f"/sessions?user={USERNAME}", reader)).status_code == 200
    for method, path, scope in (("POST", "/grants/revoke-all", "grants:write"),
                                ("DELETE", "/grants/x", "grants:write"),
                                ("POST", "/sessions/end-all", "sessions:write"),
                                ("DELETE", "/sessions/" + "0" * 64, "sessions:write")):
        body = problem(await send(http, method, path, reader,
                                  {"user": USERNAME} if method == "POST" else None), 403,
                       "insufficient-scope")
        assert scope in body["detail"]
    none = (await admin_token(settings, ["users:read"]))[0]
    problem(await send(http, "GET", f"/grants?user={USERNAME}", none), 403,
            "insufficient-scope")
    problem(await send(http, "GET", f"/sessions?user={USERNAME}", none), 403,
            "insufficient-scope")
