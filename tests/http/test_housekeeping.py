"""Housekeeping purges expired rows in small batches, yielding to requests between them, until
none is left (a backlog never builds up under load)."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest

from proofkey.crypto import digest
from proofkey.models import AuthorizationCode
from proofkey.store._rows import CODE_REPLAY_WINDOW
from proofkey.web import app as app_module
from tests.http.test_token_code_grant import app_services

EXPIRED = 230


@pytest.fixture(autouse=True)
def fast_housekeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "HOUSEKEEPING_SECONDS", 0.05)
    monkeypatch.setattr(app_module, "PURGE_BATCH", 50)


async def test_expired_codes_are_purged_in_batches_until_none_is_left(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store = app_services(http).store
    now = int(time.time())
    gone = now - CODE_REPLAY_WINDOW - 10
    live = AuthorizationCode(digest("live"), "app", "https://app.example/cb", "c" * 43,
                             ("openid",), None, "u1", now, now, now + 60)
    expired = [digest(secrets.token_hex(16)) for _ in range(EXPIRED)]
    for code_digest in expired:
        await store.save_code(AuthorizationCode(
            code_digest, "app", "https://app.example/cb", "c" * 43,
            ("openid",), None, "u1", now, now - 100, gone))
    await store.save_code(live)
    batches: list[int] = []
    purge = store.purge_expired

    async def counting(now: int, batch: int = 1000) -> int:
        deleted = await purge(now, batch=batch)
        batches.append(batch)
        # Between two batches the event loop serves requests.
        assert (await http.get("/healthz")).status_code == 200
        return deleted

    monkeypatch.setattr(store, "purge_expired", counting)
    for _ in range(200):
        if len(batches) >= EXPIRED // 50 + 1:
            break
        await asyncio.sleep(0.05)
    assert set(batches) == {50}
    assert len(batches) >= EXPIRED // 50 + 1  # 5 batches and one that found nothing left
    assert await store.find_code(live.code_digest) == live
    assert [d for d in expired if await store.find_code(d) is not None] == []
