"""The operator console with the operator flows (both stores): keys shown in their phases, and
a disabled administrator's console session ends."""

from __future__ import annotations

import time

import httpx

from proofkey.flows import key_rotation, user_admin
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.tokens.keys import keep_seconds_for
from tests.http.test_console_http import ADMIN, ADMIN_PASSWORD, seeded, sign_in

__all__ = ["seeded"]  # the console suite's fixture: shared clients, user and an administrator


async def test_the_keys_page_shows_a_published_key_beside_the_active_one(
        http: httpx.AsyncClient, settings: Settings) -> None:
    store = open_store(settings.effective_database_url)
    try:
        fresh = await key_rotation.start_rotation(
            store, now=int(time.time()), activate_after=3600,
            keep_seconds=keep_seconds_for(settings.access_token_ttl_seconds,
                                          settings.id_token_ttl_seconds))
    finally:
        await store.close()
    await sign_in(http)
    page = (await http.get("/admin/keys")).text
    assert page.count("phase-published") == len(fresh) == 2
    assert page.count("phase-active") == 2
    for view in fresh:
        assert f"<code>{view.kid}</code>" in page


async def test_disabling_an_administrator_ends_their_console_session(
        http: httpx.AsyncClient, settings: Settings) -> None:
    assert (await sign_in(http)).status_code == 303
    assert (await http.get("/admin/keys")).status_code == 200
    store = open_store(settings.effective_database_url)
    try:
        assert await user_admin.disable_user(store, ADMIN, int(time.time())) is not None
    finally:
        await store.close()
    assert (await http.get("/admin/keys")).status_code == 303
    assert (await sign_in(http, ADMIN, ADMIN_PASSWORD)).status_code != 303
