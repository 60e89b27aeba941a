"""The DPoP nonce secret on every backend (RFC 9449 §8): created once by whichever caller comes
first, the same for every caller and every store on the database after that."""

from __future__ import annotations

import asyncio

from tests.store.conftest import Backend

from proofkey.store.base import Store

NOW = 1_800_000_000


async def test_the_first_candidate_is_kept_and_returned_to_everyone(store: Store) -> None:
    assert await store.dpop_nonce_secret("aa" * 32, NOW) == "aa" * 32
    assert await store.dpop_nonce_secret("bb" * 32, NOW + 1) == "aa" * 32


async def test_of_concurrent_first_callers_every_one_gets_the_same_secret(
        shared_backend: Backend) -> None:
    stores = [shared_backend.open() for _ in range(6)]
    try:
        for opened in stores:
            await opened.migrate()
        secrets = await asyncio.gather(*(s.dpop_nonce_secret(f"{i:02d}" * 32, NOW)
                                         for i, s in enumerate(stores)))
        assert len(set(secrets)) == 1
        assert secrets[0] in {f"{i:02d}" * 32 for i in range(6)}
    finally:
        for opened in stores:
            await opened.close()
