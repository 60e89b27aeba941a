"""Clients are cached per process for ``client_cache_ms``: changes made by another process
(the CLI, another instance) show within that time; unknown ids are never cached."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.settings import Settings
from proofkey.store import open_store
from tests.helpers import WEB_ID

CC = {"grant_type": "client_credentials", "scope": "profile"}


async def _remove_elsewhere(settings: Settings, client_id: str) -> None:
    """What `proofkey client remove` does: its own store, its own connection."""
    store = open_store(settings.effective_database_url)
    try:
        assert await store.remove_client(client_id)
    finally:
        await store.close()


@pytest.mark.parametrize("settings_overrides", [{"client_cache_ms": 300}])
async def test_a_client_removed_by_another_process_is_refused_once_the_cache_time_is_over(
        http: httpx.AsyncClient, settings: Settings, web_secret: str) -> None:
    assert (await http.post("/token", data=CC, auth=(WEB_ID, web_secret))).status_code == 200
    await _remove_elsewhere(settings, WEB_ID)
    await asyncio.sleep(0.35)  # within the 300 ms cache time it may still answer
    refused = await http.post("/token", data=CC, auth=(WEB_ID, web_secret))
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize("settings_overrides", [{"client_cache_ms": 0}])
async def test_without_a_cache_a_removal_elsewhere_is_seen_by_the_next_request(
        http: httpx.AsyncClient, settings: Settings, web_secret: str) -> None:
    assert (await http.post("/token", data=CC, auth=(WEB_ID, web_secret))).status_code == 200
    await _remove_elsewhere(settings, WEB_ID)
    refused = await http.post("/token", data=CC, auth=(WEB_ID, web_secret))
    assert refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize("settings_overrides", [{"client_cache_ms": 60000}])
async def test_an_unknown_client_is_not_cached_so_a_client_added_elsewhere_works_at_once(
        http: httpx.AsyncClient, settings: Settings) -> None:
    unknown = await http.post("/token", data=CC, auth=("late-app", "whatever"))
    assert unknown.json()["error"] == "invalid_client"
    store = open_store(settings.effective_database_url)
    try:
        added = await register_client(
            store, "late-app", client_type="confidential", redirect_uris=["https://late.example/cb"],
            scopes=["profile"], supported_scopes=settings.scopes_supported,
            grant_types=["client_credentials"], now=int(time.time()))
    finally:
        await store.close()
    assert added.secret is not None
    response = await http.post("/token", data=CC, auth=("late-app", added.secret.reveal()))
    assert response.status_code == 200, response.text
