"""Signing keys in phases over HTTP, on both stores (docs/admin.md): a rotation publishes a key
that signs only from ``activates_at``; the key it supersedes keeps verifying and stays in the
JWKS until its tokens have expired, then leaves it. Every instance agrees from the key table
and the clock alone, without a restart."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from proofkey.flows import key_rotation
from proofkey.flows.admin import AdminError
from proofkey.models import Secret
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.tokens.keys import keep_seconds_for
from proofkey.web.app import create_app
from tests.helpers import ISSUER, TestClock
from tests.http.test_discovery import kid_of
from tests.http.test_token_code_grant import introspect, public_tokens

DELAY = 3600


@contextlib.asynccontextmanager
async def instance(settings: Settings, clock: TestClock) -> AsyncIterator[httpx.AsyncClient]:
    """One running app (its own process state) on the shared database."""
    app = create_app(settings, clock=clock)
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                  base_url=ISSUER) as client):
        yield client


def browser(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """A fresh browser on the same app (no session: each token needs a login at the clock)."""
    return httpx.AsyncClient(transport=http._transport, base_url=ISSUER)


async def tokens_from(http: httpx.AsyncClient) -> dict[str, Any]:
    async with browser(http) as fresh:
        return await public_tokens(fresh)


async def published(http: httpx.AsyncClient) -> set[str]:
    response = await http.get("/jwks")
    assert response.status_code == 200
    return {k["kid"] for k in response.json()["keys"]}


def keep(settings: Settings) -> int:
    return keep_seconds_for(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)


async def rotate(settings: Settings, clock: TestClock, delay: int = DELAY) -> set[str]:
    store = open_store(settings.effective_database_url)
    try:
        fresh = await key_rotation.start_rotation(store, now=int(clock()), activate_after=delay,
                                                  keep_seconds=keep(settings))
    finally:
        await store.close()
    assert {v.phase for v in fresh} == {"published" if delay else "active"}
    return {v.kid for v in fresh}


async def phases(settings: Settings, clock: TestClock) -> dict[str, str]:
    store = open_store(settings.effective_database_url)
    try:
        views = await key_rotation.list_keys(store, now=int(clock()), keep_seconds=keep(settings))
    finally:
        await store.close()
    return {v.kid: v.phase for v in views}


async def userinfo_ok(http: httpx.AsyncClient, token: str) -> bool:
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


async def test_a_rotation_goes_through_every_phase_and_tokens_keep_verifying(
        settings: Settings, seeded: Secret) -> None:
    clock = TestClock()
    async with instance(settings, clock) as http:
        old = await published(http)
        assert len(old) == 2  # one ES256, one RS256
        fresh = await rotate(settings, clock)

        # Published: in the JWKS at once, not signing.
        assert await published(http) == old | fresh
        before = await tokens_from(http)
        assert kid_of(before["access_token"]) in old
        assert kid_of(before["id_token"]) in old
        assert set((await phases(settings, clock)).values()) == {"active", "published"}

        # A token signed just before the switch ...
        clock.advance(DELAY - 30)
        last_old = await tokens_from(http)
        assert kid_of(last_old["access_token"]) in old
        # ... active: the new key signs, with no reload and no restart.
        clock.advance(60)
        after = await tokens_from(http)
        assert kid_of(after["access_token"]) in fresh
        assert kid_of(after["id_token"]) in fresh
        state = await phases(settings, clock)
        assert {state[k] for k in old} == {"retiring"}
        assert {state[k] for k in fresh} == {"active"}

        # Retiring: still in the JWKS, and its last tokens verify at userinfo and
        # introspection (and with the JWKS, as a relying party checks an ID token).
        assert await published(http) == old | fresh
        assert await userinfo_ok(http, last_old["access_token"])
        assert (await introspect(http, last_old["access_token"], seeded.reveal()))["active"]
        jwt.decode(last_old["id_token"], KeySet.import_key_set((await http.get("/jwks")).json()))

        # Retired: once every token it signed has expired, it leaves the JWKS.
        clock.advance(keep(settings))
        assert await published(http) == fresh
        state = await phases(settings, clock)
        assert {state[k] for k in old} == {"retired"}
        assert await userinfo_ok(http, after["access_token"]) is False  # expired by now
        newest = await tokens_from(http)
        assert await userinfo_ok(http, newest["access_token"])


async def test_two_instances_agree_on_the_signing_key_at_every_moment(
        settings: Settings, seeded: Secret) -> None:
    clock = TestClock()
    async with instance(settings, clock) as a, instance(settings, clock) as b:
        old = await published(a)
        assert await published(b) == old
        fresh = await rotate(settings, clock)
        for http in (a, b):  # both pick the new key up (the JWKS reloads the key table)
            assert await published(http) == old | fresh
        for http in (a, b):
            assert kid_of((await tokens_from(http))["access_token"]) in old
        clock.advance(DELAY + 1)
        from_a, from_b = await tokens_from(a), await tokens_from(b)
        assert kid_of(from_a["access_token"]) == kid_of(from_b["access_token"])
        assert kid_of(from_a["access_token"]) in fresh
        assert kid_of(from_a["id_token"]) == kid_of(from_b["id_token"])
        # Each verifies the other's tokens.
        assert await userinfo_ok(b, from_a["access_token"])
        assert await userinfo_ok(a, from_b["access_token"])
        clock.advance(keep(settings))
        assert await published(a) == await published(b) == fresh


async def test_a_second_rotation_waits_for_the_first_and_the_only_signer_is_not_retired(
        settings: Settings, seeded: Secret) -> None:
    clock = TestClock()
    async with instance(settings, clock) as http:
        old = await published(http)
        fresh = await rotate(settings, clock)
        with pytest.raises(AdminError, match="rotation is under way"):
            await rotate(settings, clock)
        store = open_store(settings.effective_database_url)
        try:
            for kid in old:
                with pytest.raises(AdminError, match="only") as refused:
                    await key_rotation.retire_key(store, kid, now=int(clock()),
                                                  keep_seconds=keep(settings))
                assert refused.value.rule == "only_signing_key"
            # A published key may be withdrawn (it never signed), then a rotation may start.
            for kid in fresh:
                view = await key_rotation.retire_key(store, kid, now=int(clock()),
                                                     keep_seconds=keep(settings))
                assert view.phase == "retiring"
        finally:
            await store.close()
        assert kid_of((await tokens_from(http))["access_token"]) in old
        clock.advance(keep(settings) + 1)
        assert await published(http) == old
        await rotate(settings, clock, delay=0)  # immediate: the old keys retire at once ...
        await published(http)  # ... and instances follow on their next reload of the table
        now_signing = kid_of((await tokens_from(http))["access_token"])
        assert now_signing not in old
