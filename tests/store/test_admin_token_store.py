"""Admin tokens on every backend: found by digest only, listed in creation order with their
scopes and expiry, revoked once (and still listed), a digest stored once."""

from __future__ import annotations

import pytest
from tests.store.test_contract import NOW

from proofkey.crypto import digest
from proofkey.models import AdminToken
from proofkey.store.base import AlreadyExists, Store


def a_token(token_id: str, **changes: object) -> AdminToken:
    values: dict[str, object] = {
        "token_id": token_id, "token_digest": digest("pka_" + token_id),
        "scopes": ("clients:read", "clients:write"), "created_at": NOW,
        "expires_at": NOW + 3600, "revoked_at": None, "description": "ci"}
    values.update(changes)
    return AdminToken(**values)  # type: ignore[arg-type]


async def test_admin_tokens_round_trip_and_are_found_by_digest(store: Store) -> None:
    first = a_token("aaa")
    second = a_token("bbb", created_at=NOW + 1, expires_at=None, scopes=("keys:read",))
    await store.add_admin_token(second)
    await store.add_admin_token(first)
    assert await store.find_admin_token(digest("pka_aaa")) == first
    assert await store.find_admin_token(digest("pka_bbb")) == second
    assert await store.find_admin_token("pka_aaa") is None
    assert await store.list_admin_tokens() == [first, second]


async def test_revoking_marks_the_token_once(store: Store) -> None:
    await store.add_admin_token(a_token("aaa"))
    assert await store.revoke_admin_token("aaa", NOW + 5)
    assert not await store.revoke_admin_token("aaa", NOW + 6)
    assert not await store.revoke_admin_token("nope", NOW)
    found = await store.find_admin_token(digest("pka_aaa"))
    assert found is not None
    assert found.revoked_at == NOW + 5


async def test_a_digest_or_id_is_stored_once(store: Store) -> None:
    await store.add_admin_token(a_token("aaa"))
    with pytest.raises(AlreadyExists):
        await store.add_admin_token(a_token("aaa", token_digest=digest("other")))
    with pytest.raises(AlreadyExists):
        await store.add_admin_token(a_token("ccc", token_digest=digest("pka_aaa")))
