"""DPoP on every backend (RFC 9449): key bindings (``dpop_jkt``) round-trip on pending
authorizations, codes and refresh tokens, the one-call refresh rotates only unbound tokens, and
the nonce secret (§8) is created once by whichever caller comes first, the same for every
caller and every store on the database after that."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.store.conftest import Backend
from tests.store.test_contract import HOUR, a_code, a_grant, a_pending, a_refresh
from tests.store.test_contract import NOW as THEN

from proofkey.crypto import digest
from proofkey.store.base import Store

NOW = 1_800_000_000
JKT = "k" * 43


async def test_a_bound_refresh_token_keeps_its_key_and_skips_the_one_call_rotation(
        store: Store) -> None:
    bound = a_refresh(dpop_jkt=JKT)
    await store.save_grant(a_grant(), bound)
    assert await store.find_refresh(digest("r1")) == bound
    assert await store.rotate_refresh_for_client(digest("r1"), "app", THEN + 5, digest("r2"),
                                                 THEN + 5 + HOUR) is None  # fmt: skip
    assert await store.find_refresh(digest("r2")) is None
    successor = a_refresh("r2", parent_digest=digest("r1"), dpop_jkt=JKT)
    assert await store.rotate_refresh(digest("r1"), THEN + 5, successor) is not None
    assert await store.find_refresh(digest("r2")) == successor


async def test_the_code_and_the_pending_request_keep_their_dpop_jkt(store: Store) -> None:
    code = replace(a_code(), dpop_jkt=JKT)
    await store.save_code(code)
    assert await store.find_code(code.code_digest) == code
    pending = replace(a_pending(), dpop_jkt=JKT)
    await store.save_pending(pending)
    assert await store.get_pending(pending.handle_digest, pending.created_at) == pending


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
