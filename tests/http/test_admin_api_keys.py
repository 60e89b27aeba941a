"""Signing keys through the admin API, over HTTP on SQLite and PostgreSQL: listed with their
phase and dates, rotated in phases (the flows of ``proofkey keys``: published now, signing after
``activate_after``), retired — never the only key that can sign."""

from __future__ import annotations

import httpx

from proofkey.flows.key_rotation import DEFAULT_ACTIVATE_AFTER
from proofkey.settings import Settings
from tests.helpers import TestClock
from tests.http.test_key_phases import instance, published

from .admin_api import admin_token, conforms, problem, send


async def _keys(http: httpx.AsyncClient, token: str) -> dict[str, dict[str, object]]:
    response = await send(http, "GET", "/keys", token)
    assert response.status_code == 200, response.text
    await conforms(http, response, "listKeys")
    return {k["kid"]: k for k in response.json()["items"]}


async def test_a_rotation_goes_through_its_phases_over_the_api(settings: Settings) -> None:
    clock = TestClock()
    token = (await admin_token(settings, ["keys:read", "keys:write"]))[0]
    async with instance(settings, clock) as http:
        before = await _keys(http, token)
        assert before
        assert {k["phase"] for k in before.values()} == {"active"}
        assert all(k["retired_at"] is None and k["leaves_jwks_at"] is None
                   for k in before.values())
        only = next(iter(before))
        body = problem(await send(http, "POST", f"/keys/{only}/retire", token), 409,
                       "only-signing-key")
        assert "only" in body["detail"]
        assert "rotate first" in body["detail"]

        rotated = await send(http, "POST", "/keys/rotate", token, {"activate_after": 600})
        assert rotated.status_code == 201, rotated.text
        await conforms(http, rotated, "rotateKeys")
        fresh = {k["kid"]: k for k in rotated.json()["items"]}
        assert len(fresh) == len(before)
        assert {k["phase"] for k in fresh.values()} == {"published"}
        assert all(k["activates_at"] == k["created_at"] + 600 for k in fresh.values())
        assert set(fresh) <= await published(http)  # in the JWKS before it signs
        body = problem(await send(http, "POST", "/keys/rotate", token, {}), 409,
                       "rotation-pending")
        assert "under way" in body["detail"]

        clock.offset += 601
        now = await _keys(http, token)
        assert {now[k]["phase"] for k in fresh} == {"active"}
        assert {now[k]["phase"] for k in before} == {"retiring"}
        assert all(isinstance(now[k]["signing_ended_at"], int)
                   and isinstance(now[k]["leaves_jwks_at"], int) for k in before)

        retired = await send(http, "POST", f"/keys/{only}/retire", token)
        assert retired.status_code == 200, retired.text
        await conforms(http, retired, "retireKey")
        assert retired.json()["phase"] == "retiring"
        assert isinstance(retired.json()["retired_at"], int)
        assert only in await published(http)  # still verifies its tokens
        problem(await send(http, "POST", f"/keys/{only}/retire", token), 409,
                "already-retired")

        default = await send(http, "POST", "/keys/rotate", token, {})
        assert default.status_code == 201, default.text
        assert all(k["activates_at"] - k["created_at"] == DEFAULT_ACTIVATE_AFTER
                   for k in default.json()["items"])


async def test_bad_key_calls_are_problems(http: httpx.AsyncClient, settings: Settings) -> None:
    token = (await admin_token(settings, ["keys:read", "keys:write"]))[0]
    problem(await send(http, "POST", "/keys/no-such-kid/retire", token), 404, "not-found")
    problem(await send(http, "POST", "/keys/a%20b/retire", token), 404, "not-found")
    problem(await send(http, "POST", "/keys/rotate", token, {"activate_after": -1}), 422,
            "invalid-body")
    problem(await send(http, "POST", "/keys/rotate", token,
                       {"activate_after": 91 * 24 * 3600}), 422, "invalid-body")
    body = problem(await send(http, "POST", "/keys/rotate", token, {"alg": "RS256"}), 422,
                   "invalid-body")
    assert body["errors"] == [{"pointer": "/alg", "detail": "is not a known field"}]
    problem(await send(http, "POST", "/keys/rotate", token), 415, "unsupported-media-type")
    problem(await send(http, "DELETE", "/keys", token), 405, "method-not-allowed")
    problem(await send(http, "GET", "/keys?phase=active", token), 400, "invalid-query")
    listed = (await send(http, "GET", "/keys", token)).json()
    assert all("private" not in str(k) and "d" not in k for k in listed["items"])


async def test_keys_scopes_are_enforced(http: httpx.AsyncClient, settings: Settings) -> None:
    reader = (await admin_token(settings, ["keys:read"]))[0]
    assert (await send(http, "GET", "/keys", reader)).status_code == 200
    body = problem(await send(http, "POST", "/keys/rotate", reader, {}), 403,
                   "insufficient-scope")
    assert "keys:write" in body["detail"]
    problem(await send(http, "POST", "/keys/x/retire", reader), 403, "insufficient-scope")
    users = (await admin_token(settings, ["users:read"]))[0]
    body = problem(await send(http, "GET", "/keys", users), 403, "insufficient-scope")
    assert "keys:read" in body["detail"]
