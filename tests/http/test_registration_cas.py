"""RFC 7592 updates against operator changes made meanwhile, over HTTP on both stores: the
update is a compare-and-swap on the client's version, so a ``proofkey client set`` (or admin
API) change that lands between the update's read and its write is not overwritten with the
values read before it; the update is made again from the new read."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from proofkey.flows import registration
from proofkey.settings import Settings
from proofkey.store import open_store

WEB = {"redirect_uris": ["https://app.example/cb"], "client_name": "Web",
       "token_endpoint_auth_method": "client_secret_basic",
       "grant_types": ["authorization_code", "refresh_token"]}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"registration": "open", "client_cache_ms": 0}


async def test_an_operator_change_made_during_an_update_is_kept(
        http: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    made = await http.post("/register", content=json.dumps(WEB),
                           headers={"content-type": "application/json"})
    assert made.status_code == 201, made.text
    body = made.json()
    client_id, token = body["client_id"], body["registration_access_token"]
    real, calls = registration._build, []

    def build_after_an_operator_change(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # between the update's read and its write, the operator acts
            _operator_sets_revoke_on_logout(settings, client_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(registration, "_build", build_after_an_operator_change)
    updated = await http.put(body["registration_client_uri"], content=json.dumps({
        **WEB, "client_id": client_id, "client_name": "Renamed"}), headers={
        "authorization": f"Bearer {token}", "content-type": "application/json"})
    assert updated.status_code == 200, updated.text
    assert len(calls) == 2  # the first write lost the compare-and-swap and was made again
    store = open_store(settings.effective_database_url)
    try:
        stored = await store.get_client(client_id)
    finally:
        await store.close()
    assert stored is not None
    assert stored.name == "Renamed"
    assert stored.revoke_on_logout  # the operator's change survived the update
    assert stored.version == 2


def _operator_sets_revoke_on_logout(settings: Settings, client_id: str) -> None:
    import asyncio
    import threading

    async def change() -> None:
        store = open_store(settings.effective_database_url)
        try:
            client = await store.get_client(client_id)
            assert client is not None
            assert await store.update_client(replace(client, revoke_on_logout=True))
        finally:
            await store.close()

    done = threading.Thread(target=lambda: asyncio.run(change()))  # its own loop, like the CLI
    done.start()
    done.join()
