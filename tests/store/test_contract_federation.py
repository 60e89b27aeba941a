"""The federation roles on every backend: connectors round-trip (secret only sealed), links
are unique per (connector, subject) and go with their connector, an upstream transaction is
taken exactly once and never after it expires, and expired ones are purged."""

from __future__ import annotations

import asyncio

import pytest
from tests.store.conftest import Backend

from proofkey.models import Connector, UpstreamLogin, User
from proofkey.store.base import AlreadyExists, Store

NOW = 1_800_000_000


def a_connector(name: str = "corp") -> Connector:
    return Connector(name, "oauth2", "https://gh.example", "cid", "sealed-bytes",
                     ("read:user", "user:email"), True, "https://gh.example/authorize",
                     "https://gh.example/token", "https://api.gh.example/user",
                     (("sub", "id"), ("username", "login")), NOW)


def a_user(user_id: str, email: str = "") -> User:
    return User(user_id, f"user-{user_id}", "!federated", "Someone", email, NOW)


async def test_a_connector_round_trips_and_is_removed_with_its_links(store: Store) -> None:
    await store.add_connector(a_connector("corp"))
    await store.add_connector(a_connector("alpha"))
    assert await store.get_connector("corp") == a_connector("corp")
    assert [c.name for c in await store.list_connectors()] == ["alpha", "corp"]
    with pytest.raises(AlreadyExists):
        await store.add_connector(a_connector("corp"))
    await store.add_user(a_user("u1"))
    await store.add_link("corp", "sub-1", "u1", NOW)
    await store.add_link("alpha", "sub-1", "u1", NOW)
    assert await store.get_link("corp", "sub-1") == "u1"
    with pytest.raises(AlreadyExists):
        await store.add_link("corp", "sub-1", "u1", NOW)
    assert await store.remove_connector("corp") is True
    assert await store.remove_connector("corp") is False
    assert await store.get_connector("corp") is None
    assert await store.get_link("corp", "sub-1") is None
    assert await store.get_link("alpha", "sub-1") == "u1"  # other connectors keep theirs


async def test_users_with_an_email_are_found_at_most_two(store: Store) -> None:
    for user_id in ("a", "b", "c"):
        await store.add_user(a_user(user_id, "same@example.com"))
    await store.add_user(a_user("d", "one@example.com"))
    assert [u.user_id for u in await store.users_with_email("one@example.com")] == ["d"]
    assert len(await store.users_with_email("same@example.com")) == 2
    assert await store.users_with_email("none@example.com") == []


async def test_an_upstream_transaction_is_taken_once_and_not_after_expiry(
        store: Store) -> None:
    login = UpstreamLogin("corp", "b" * 64, "sealed")
    await store.save_upstream_login("s" * 64, login, NOW + 600)
    await store.save_upstream_login("e" * 64, login, NOW + 10)
    assert await store.take_upstream_login("e" * 64, NOW + 10) is None  # expired
    assert await store.take_upstream_login("s" * 64, NOW) == login
    assert await store.take_upstream_login("s" * 64, NOW) is None  # single use
    assert await store.purge_expired(NOW + 20) >= 1
    assert await store.take_upstream_login("e" * 64, NOW) is None  # purged


async def test_of_concurrent_takes_of_one_transaction_exactly_one_wins(
        shared_backend: Backend) -> None:
    stores = [shared_backend.open() for _ in range(4)]
    try:
        for opened in stores:
            await opened.migrate()
        await stores[0].save_upstream_login("r" * 64, UpstreamLogin("c", "b", "x"), NOW + 60)
        won = await asyncio.gather(*(s.take_upstream_login("r" * 64, NOW) for s in stores))
        assert sum(w is not None for w in won) == 1
    finally:
        for opened in stores:
            await opened.close()
