"""Registered resources (RFC 8707) and the resources a request, a code and a grant carry, on
every backend: stored, listed in URI order, removed once; a redeemed code's resources go into
its grant in the same transaction, and a rotation hands them back with the grant."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.store.test_contract import (
    DAY,
    NOW,
    a_code,
    a_device,
    a_device_grant,
    a_grant,
    a_pending,
    a_refresh,
    the_grant_of,
)

from proofkey.crypto import digest
from proofkey.models import Resource
from proofkey.store.base import AlreadyExists, Store
from proofkey.store.resource_cache import CachedResourceDirectory

A = "https://a.example.com/api?v=1"
B = "https://b.example.com/mcp"


async def test_a_resource_round_trips_and_is_removed_once(store: Store) -> None:
    api = Resource(A, frozenset({"a:read", "a:write"}), name="Ünïcode API", created_at=NOW)
    bare = Resource(B, frozenset(), created_at=NOW)
    await store.add_resource(bare)
    await store.add_resource(api)
    assert await store.get_resource(A) == api
    assert await store.get_resource(B) == bare
    assert await store.get_resource("https://c.example.com/") is None
    assert await store.list_resources() == [api, bare]  # by URI, bytewise
    with pytest.raises(AlreadyExists):
        await store.add_resource(replace(api, name="again"))
    assert await store.remove_resource(A) is True
    assert await store.remove_resource(A) is False
    assert await store.list_resources() == [bare]


async def test_a_pending_request_keeps_its_resources(store: Store) -> None:
    pending = a_pending(resources=(B, A))
    await store.save_pending(pending)
    assert await store.get_pending(pending.handle_digest, NOW) == pending
    assert await store.take_pending(pending.handle_digest, NOW) == pending
    plain = a_pending("h2")
    await store.save_pending(plain)
    taken = await store.get_pending(plain.handle_digest, NOW)
    assert taken is not None
    assert taken.resources == ()


async def test_a_redeemed_codes_resources_go_into_its_grant(store: Store) -> None:
    code = a_code(resources=(A, B))
    await store.save_code(code)
    redeemed = await store.redeem_code(digest("c1"), NOW + 1, "g1", NOW + 1 + DAY, a_refresh())
    assert redeemed == replace(code, redeemed_at=NOW + 1, grant_id="g1")
    grant = await store.get_grant("g1")
    assert grant == replace(the_grant_of(code, "g1", NOW + 1), resources=(A, B))
    rotated = await store.rotate_refresh_for_client(digest("r1"), "app", NOW + 2, digest("r2"),
                                                    NOW + DAY)  # fmt: skip
    assert rotated == grant


async def test_a_saved_grant_keeps_its_resources(store: Store) -> None:
    grant = a_grant(resources=(B,))
    await store.save_grant(grant, a_refresh())
    assert await store.get_grant("g1") == grant
    await store.save_grant(a_grant("g2"), None)
    plain = await store.get_grant("g2")
    assert plain is not None
    assert plain.resources == ()


async def test_a_device_request_and_the_grant_it_gives_keep_their_resources(
        store: Store) -> None:
    await store.save_device(a_device(resources=(A,)))
    found = await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW)
    assert found is not None
    assert found.resources == (A,)
    await store.decide_device(digest("WDJB-MJHT"), NOW, approve=True, user_id="u1",
                              auth_time=NOW - 5)
    grant = replace(a_device_grant(), resources=(A,))
    consumed = await store.consume_device(digest("d1"), NOW + 1, grant,
                                          a_refresh(client_id="tv"))
    assert consumed is not None
    assert consumed.resources == (A,)
    assert await store.get_grant("g1") == grant


async def test_the_directory_merges_configured_resources_and_sees_changes_after_ttl(
        store: Store) -> None:
    await store.add_resource(Resource(A, frozenset({"a:read"})))
    configured = Resource(B, frozenset({"b:read"}), name="configured")
    directory = CachedResourceDirectory(store, configured=[configured], ttl=3600)
    catalog = await directory.catalog()
    assert set(catalog.resources) == {A, B}
    assert catalog.scopes == {"a:read", "b:read"}
    await store.remove_resource(A)
    assert (await directory.catalog()).get(A) is not None  # cached
    directory.forget()
    assert (await directory.catalog()).get(A) is None
    # A configured resource replaces a stored one with the same URI.
    await store.add_resource(Resource(B, frozenset({"stored"})))
    fresh = await CachedResourceDirectory(store, configured=[configured], ttl=0).catalog()
    assert fresh.get(B) == configured
