"""If-Match across server instances, over HTTP on one SQLite file and on one PostgreSQL
database: the conditional write is a compare-and-swap on the client's stored version, so of
two changes made from the same ETag on two instances (each with its own process lock) exactly
one gets 200 and the other 412; a change made behind the API (the CLI, RFC 7592) moves the
ETag too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import httpx
import pytest

from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.admin_api import clients as client_ops
from proofkey.web.app import create_app
from tests.helpers import ISSUER, TestClock

from .admin_api import admin_token, send

CLIENT = {"client_id": "billing", "type": "confidential", "name": "Billing",
          "redirect_uris": ["https://billing.example/cb"], "scopes": ["openid"],
          "grant_types": ["authorization_code", "refresh_token", "client_credentials"]}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"client_cache_ms": 0}


@pytest.fixture
async def token(settings: Settings) -> str:
    return (await admin_token(settings, ["clients:read", "clients:write"]))[0]


@pytest.fixture
async def instances(settings: Settings, seeded: object) -> AsyncIterator[
        list[httpx.AsyncClient]]:
    """Two apps (two server instances: two stores, two client caches, two write locks) on
    the one database."""
    async with AsyncExitStack() as stack:
        out = []
        for _ in range(2):
            app = create_app(settings, clock=TestClock())
            await stack.enter_async_context(app.router.lifespan_context(app))
            out.append(await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=ISSUER)))
        yield out


def _meet_after_the_check(monkeypatch: pytest.MonkeyPatch, parties: int) -> None:
    """Hold each change after its If-Match check until ``parties`` changes have passed theirs:
    every change then writes from the same read, the race a load balancer makes possible."""
    arrived = 0
    everyone = asyncio.Event()
    real = client_ops.known_scopes

    async def meet(*args: Any) -> Iterable[str]:
        nonlocal arrived
        arrived += 1
        if arrived >= parties:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 10)
        return await real(*args)

    monkeypatch.setattr(client_ops, "known_scopes", meet)


async def test_of_two_changes_on_two_instances_with_one_etag_exactly_one_wins(
        instances: list[httpx.AsyncClient], token: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = instances
    created = await send(one, "POST", "/clients", token, CLIENT)
    assert created.status_code == 201, created.text
    etag = (await send(two, "GET", "/clients/billing", token)).headers["etag"]
    assert etag == created.headers["etag"]
    _meet_after_the_check(monkeypatch, 2)
    answers = await asyncio.gather(*(
        send(http, "PATCH", "/clients/billing", token, {"name": f"from {i}"},
             **{"if-match": etag}) for i, http in enumerate(instances)))
    assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
    [won] = [i for i, a in enumerate(answers) if a.status_code == 200]
    [lost] = [a for a in answers if a.status_code == 412]
    assert lost.json()["type"] == "urn:proofkey:problem:precondition-failed"
    for http in instances:  # both instances read the winner's change and its ETag
        read = await send(http, "GET", "/clients/billing", token)
        assert read.json()["name"] == f"from {won}"
        assert read.headers["etag"] == answers[won].headers["etag"]
        assert read.headers["etag"] != etag


async def test_of_two_secret_rotations_on_two_instances_exactly_one_wins(
        instances: list[httpx.AsyncClient], token: str) -> None:
    one, two = instances
    etag = (await send(one, "POST", "/clients", token, CLIENT)).headers["etag"]
    answers = await asyncio.gather(*(
        send(http, "POST", "/clients/billing/secret", token, **{"if-match": etag})
        for http in (one, two, one, two)))
    assert sorted(a.status_code for a in answers) == [200, 412, 412, 412]
    [won] = [a for a in answers if a.status_code == 200]
    issued = await two.post("/token", data={"grant_type": "client_credentials"},
                            auth=("billing", won.json()["client_secret"]))
    assert issued.status_code == 200, issued.text


async def test_a_change_behind_the_api_moves_the_etag(http: httpx.AsyncClient, token: str,
                                                      settings: Settings) -> None:
    etag = (await send(http, "POST", "/clients", token, CLIENT)).headers["etag"]
    store = open_store(settings.effective_database_url)
    try:  # what `proofkey client set` and an RFC 7592 update do: a whole-row update
        stored = await store.get_client("billing")
        assert stored is not None
        assert stored.version == 0
        assert await store.update_client(replace(stored, revoke_on_logout=True))
        assert (await store.get_client("billing")).version == 1  # type: ignore[union-attr]
        assert not await store.update_client(stored, expected_version=0)  # a stale CAS
        assert await store.update_client(stored, expected_version=1)
    finally:
        await store.close()
    stale = await send(http, "PATCH", "/clients/billing", token, {"name": "x"},
                       **{"if-match": etag})
    assert stale.status_code == 412, stale.text
    read = await send(http, "GET", "/clients/billing", token)
    assert read.headers["etag"] != etag
    fresh = await send(http, "PATCH", "/clients/billing", token, {"name": "x"},
                       **{"if-match": read.headers["etag"]})
    assert fresh.status_code == 200, fresh.text
    anything = await send(http, "PATCH", "/clients/billing", token, {"name": "y"},
                          **{"if-match": "*"})
    assert anything.status_code == 200, anything.text
