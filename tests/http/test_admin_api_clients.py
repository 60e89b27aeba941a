"""Clients through the admin API, over HTTP on SQLite and PostgreSQL: the registration policy
(errors name the PKL rule), secrets shown once, cursor pages, ETag and If-Match (428, 412),
changes, removal and secret rotation."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from proofkey.settings import Settings
from tests.helpers import PUBLIC_ID, WEB_ID

from .admin_api import admin_token, conforms, problem, send

CONFIDENTIAL = {"client_id": "billing", "type": "confidential", "name": "Billing",
                "redirect_uris": ["https://billing.example/cb"], "scopes": ["openid", "profile"],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"]}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"client_cache_ms": 0}


@pytest.fixture
async def token(settings: Settings) -> str:
    return (await admin_token(settings, ["clients:read", "clients:write"]))[0]


async def test_a_confidential_client_gets_its_secret_once(http: httpx.AsyncClient,
                                                          token: str) -> None:
    created = await send(http, "POST", "/clients", token, CONFIDENTIAL)
    assert created.status_code == 201, created.text
    await conforms(http, created, "createClient")
    body = created.json()
    secret = body.pop("client_secret")
    assert len(secret) >= 43
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert created.headers["cache-control"] == "no-store"
    assert created.headers["location"] == "/admin/api/v1/clients/billing"
    read = await send(http, "GET", "/clients/billing", token)
    assert read.status_code == 200
    await conforms(http, read, "getClient")
    assert "client_secret" not in read.json()
    assert secret not in read.text
    assert read.headers["etag"] == created.headers["etag"]
    issued = await http.post("/token", data={"grant_type": "client_credentials"},
                             auth=("billing", secret))
    assert issued.status_code == 200, issued.text
    problem(await send(http, "POST", "/clients", token, CONFIDENTIAL), 409, "exists")


async def test_a_public_client_has_no_secret(http: httpx.AsyncClient, token: str) -> None:
    created = await send(http, "POST", "/clients", token, {
        "client_id": "cli-tool", "type": "public", "redirect_uris": ["http://127.0.0.1/cb"]})
    assert created.status_code == 201, created.text
    assert created.json()["client_secret"] is None
    assert created.json()["token_endpoint_auth_method"] == "none"


@pytest.mark.parametrize(("change", "rule"), [
    ({"redirect_uris": ["https://billing.example/cb#frag"]}, "PKL014"),
    ({"redirect_uris": []}, "PKL017"),
    ({"scopes": ["openid", "launch-missiles"]}, "PKL058"),
    ({"type": "public", "token_endpoint_auth_method": "client_secret_basic"}, "PKL031"),
])
async def test_registration_refuses_what_the_policy_refuses_naming_the_rule(
        http: httpx.AsyncClient, token: str, change: dict[str, object], rule: str) -> None:
    body = problem(await send(http, "POST", "/clients", token, {**CONFIDENTIAL, **change}),
                   422, "policy")
    assert body["rule"] == rule
    assert f"[{rule}]" in body["detail"]


async def test_pages_follow_opaque_cursors_to_the_end(http: httpx.AsyncClient,
                                                      token: str) -> None:
    for n in range(5):
        assert (await send(http, "POST", "/clients", token, {
            "client_id": f"c{n}", "type": "public",
            "redirect_uris": ["http://127.0.0.1/cb"]})).status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        answer = await send(http, "GET", "/clients" + query, token)
        await conforms(http, answer, "listClients")
        page = answer.json()
        assert len(page["items"]) <= 2
        seen += [c["client_id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)
    assert {"c0", "c1", "c2", "c3", "c4", PUBLIC_ID, WEB_ID} <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages == (len(seen) + 1) // 2


async def test_a_change_needs_the_current_etag(http: httpx.AsyncClient, token: str) -> None:
    created = await send(http, "POST", "/clients", token, CONFIDENTIAL)
    etag = created.headers["etag"]
    change = {"name": "Billing 2", "revoke_on_logout": True}
    problem(await send(http, "PATCH", "/clients/billing", token, change), 428,
            "precondition-required")
    problem(await send(http, "PATCH", "/clients/billing", token, change,
                       **{"if-match": '"stale"'}), 412, "precondition-failed")
    changed = await send(http, "PATCH", "/clients/billing", token, change,
                         **{"if-match": etag})
    assert changed.status_code == 200, changed.text
    await conforms(http, changed, "updateClient")
    assert changed.json()["name"] == "Billing 2"
    assert changed.json()["revoke_on_logout"] is True
    assert changed.headers["etag"] != etag
    problem(await send(http, "PATCH", "/clients/billing", token, {"name": "3"},
                       **{"if-match": etag}), 412, "precondition-failed")
    read = await send(http, "GET", "/clients/billing", token)
    assert read.headers["etag"] == changed.headers["etag"]
    assert read.json()["created_at"] == created.json()["created_at"]


async def test_of_two_changes_with_the_same_etag_one_wins(http: httpx.AsyncClient,
                                                          token: str) -> None:
    etag = (await send(http, "POST", "/clients", token, CONFIDENTIAL)).headers["etag"]
    answers = await asyncio.gather(*(
        send(http, "PATCH", "/clients/billing", token, {"name": f"n{i}"}, **{"if-match": etag})
        for i in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 412, 412, 412]


async def test_a_change_goes_through_the_registration_policy(http: httpx.AsyncClient,
                                                             token: str) -> None:
    etag = (await send(http, "POST", "/clients", token, CONFIDENTIAL)).headers["etag"]
    body = problem(await send(http, "PATCH", "/clients/billing", token,
                              {"post_logout_redirect_uris": ["http://evil.example/out"]},
                              **{"if-match": etag}), 422, "policy")
    assert body["rule"].startswith("PKL01")
    problem(await send(http, "PATCH", "/clients/billing", token, {"type": "public"},
                       **{"if-match": etag}), 422, "invalid-body")
    unchanged = await send(http, "GET", "/clients/billing", token)
    assert unchanged.headers["etag"] == etag


async def test_rotating_a_secret_ends_the_old_one(http: httpx.AsyncClient, token: str) -> None:
    created = await send(http, "POST", "/clients", token, CONFIDENTIAL)
    old = created.json()["client_secret"]
    problem(await send(http, "POST", "/clients/billing/secret", token), 428,
            "precondition-required")
    rotated = await send(http, "POST", "/clients/billing/secret", token,
                         **{"if-match": created.headers["etag"]})
    assert rotated.status_code == 200, rotated.text
    await conforms(http, rotated, "rotateClientSecret")
    new = rotated.json()["client_secret"]
    assert new != old
    form = {"grant_type": "client_credentials"}
    assert (await http.post("/token", data=form, auth=("billing", old))).status_code == 401
    assert (await http.post("/token", data=form, auth=("billing", new))).status_code == 200
    public = await send(http, "GET", f"/clients/{PUBLIC_ID}", token)
    problem(await send(http, "POST", f"/clients/{PUBLIC_ID}/secret", token,
                       **{"if-match": public.headers["etag"]}), 409, "public-client")


async def test_removing_a_client(http: httpx.AsyncClient, token: str) -> None:
    created = await send(http, "POST", "/clients", token, CONFIDENTIAL)
    problem(await send(http, "DELETE", "/clients/billing", token), 428,
            "precondition-required")
    removed = await send(http, "DELETE", "/clients/billing", token, **{"if-match": "*"})
    assert removed.status_code == 204
    assert not removed.content
    problem(await send(http, "GET", "/clients/billing", token), 404, "not-found")
    problem(await send(http, "DELETE", "/clients/billing", token,
                       **{"if-match": created.headers["etag"]}), 404, "not-found")
    secret = created.json()["client_secret"]
    refused = await http.post("/token", data={"grant_type": "client_credentials"},
                              auth=("billing", secret))
    assert refused.status_code == 401


async def test_a_path_that_cannot_name_a_client_is_a_404(http: httpx.AsyncClient,
                                                         token: str) -> None:
    problem(await send(http, "GET", "/clients/" + "x" * 129, token), 404, "not-found")
    problem(await send(http, "GET", "/clients/%C3%A9", token), 404, "not-found")
