"""The replay role on every backend: a one-time id is accepted once while its record lives,
again only after it expired, per kind; of concurrent first uses on one database exactly one
wins; expired records are purged."""

from __future__ import annotations

import asyncio

from tests.store.conftest import Backend

from proofkey.store.base import Store

NOW = 1_800_000_000


async def test_an_id_is_first_used_once_while_its_record_lives(store: Store) -> None:
    assert await store.first_use("dpop", "a" * 64, NOW + 60, NOW) is True
    assert await store.first_use("dpop", "a" * 64, NOW + 60, NOW + 59) is False
    assert await store.first_use("client_assertion", "a" * 64, NOW + 60, NOW) is True  # per kind
    assert await store.first_use("dpop", "b" * 64, NOW + 60, NOW) is True


async def test_an_expired_record_is_taken_over_and_then_guards_again(store: Store) -> None:
    assert await store.first_use("dpop", "a" * 64, NOW + 60, NOW) is True
    assert await store.first_use("dpop", "a" * 64, NOW + 200, NOW + 60) is True
    assert await store.first_use("dpop", "a" * 64, NOW + 300, NOW + 199) is False


async def test_expired_records_are_purged(store: Store) -> None:
    await store.first_use("dpop", "a" * 64, NOW + 10, NOW)
    await store.first_use("dpop", "b" * 64, NOW + 1000, NOW)
    assert await store.purge_expired(NOW + 20) >= 1
    assert await store.first_use("dpop", "b" * 64, NOW + 1000, NOW + 20) is False


async def test_of_concurrent_first_uses_exactly_one_wins(shared_backend: Backend) -> None:
    stores = [shared_backend.open() for _ in range(8)]
    try:
        for opened in stores:
            await opened.migrate()
        won = await asyncio.gather(*(s.first_use("dpop", "r" * 64, NOW + 60, NOW)
                                     for s in stores))
        assert sum(won) == 1
    finally:
        for opened in stores:
            await opened.close()
