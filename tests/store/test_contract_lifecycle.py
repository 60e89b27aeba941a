"""Store contract, every backend: the operator roles (``LifecycleStore``) and a removal that
leaves nothing of the user behind (docs/admin.md)."""

from __future__ import annotations

import asyncio

from tests.store.conftest import Backend
from tests.store.test_contract import DAY, HOUR, NOW, a_client, a_code, a_grant, a_user
from tests.store.test_contract_user_access import _give_everything

from proofkey.crypto import digest
from proofkey.models import Session, SigningKey
from proofkey.store.base import Store


async def test_removing_a_user_leaves_no_code_login_device_session_link_or_live_grant(
        store: Store) -> None:
    await store.add_user(a_user())
    await store.add_user(a_user("u2", "bob"))
    await _give_everything(store, "u1", "alice", "WDJB-MJHT")
    await _give_everything(store, "u2", "bob", "BCDF-GHJK")
    await store.save_code(a_code("c-redeemed", user_id="u1"))
    assert await store.redeem_code(digest("c-redeemed"), NOW, "g-r", NOW + DAY, None)
    await store.add_password_link(digest("link-alice"), "u1", NOW, NOW + HOUR)

    assert await store.remove_user("alice", now=NOW + 1) is True

    assert await store.get_user("u1") is None
    assert await store.get_session(digest("s-alice"), NOW) is None
    assert await store.get_pending(digest("h-alice"), NOW) is None
    assert await store.find_code(digest("c-alice")) is None
    assert await store.find_code(digest("c-redeemed")) is None
    assert await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW) is None
    assert await store.peek_password_link(digest("link-alice"), NOW) is None
    assert await store.list_grants("u1", NOW + 2) == []
    assert (await store.get_grant("g-alice")).revoked_at == NOW + 1  # type: ignore[union-attr]
    assert await store.get_consent("u1", "app") == frozenset()
    # Bob keeps everything.
    assert await store.get_session(digest("s-bob"), NOW) is not None
    assert await store.find_code(digest("c-bob")) is not None
    assert await store.get_device_by_user_code(digest("BCDF-GHJK"), NOW) is not None
    assert [g.grant_id for g in await store.list_grants("u2", NOW)] == ["g-bob"]


async def test_a_user_is_disabled_and_enabled(store: Store) -> None:
    await store.add_user(a_user())
    assert await store.set_user_disabled("u1", NOW) is True
    assert (await store.get_user("u1")).disabled_at == NOW  # type: ignore[union-attr]
    assert await store.set_user_disabled("u1", None) is True
    assert (await store.get_user_by_username("alice")).disabled_at is None  # type: ignore[union-attr]
    assert await store.set_user_disabled("nobody", NOW) is False


async def test_a_users_name_and_email_are_changed(store: Store) -> None:
    await store.add_user(a_user())
    assert await store.set_user_profile("u1", "Alice A.", "alice@example.org") is True
    user = await store.get_user_by_username("alice")
    assert user is not None
    assert (user.name, user.email) == ("Alice A.", "alice@example.org")
    assert await store.set_user_profile("nobody", "x", "y") is False


async def test_a_password_link_is_taken_once_until_it_expires_and_a_new_one_replaces_it(
        store: Store) -> None:
    await store.add_user(a_user())
    await store.add_password_link(digest("one"), "u1", NOW, NOW + HOUR)
    assert await store.peek_password_link(digest("one"), NOW) == "u1"
    assert await store.peek_password_link(digest("one"), NOW + HOUR) is None  # expired
    await store.add_password_link(digest("two"), "u1", NOW, NOW + HOUR)
    assert await store.peek_password_link(digest("one"), NOW) is None  # replaced
    assert await store.take_password_link(digest("two"), NOW + HOUR) is None  # expired
    assert await store.take_password_link(digest("two"), NOW) == "u1"
    assert await store.take_password_link(digest("two"), NOW) is None  # once


async def test_of_concurrent_takes_of_one_link_exactly_one_wins(
        shared_backend: Backend) -> None:
    stores = [shared_backend.open() for _ in range(4)]
    try:
        for s in stores:
            await s.migrate()
        await stores[0].add_user(a_user())
        await stores[0].add_password_link(digest("race"), "u1", NOW, NOW + HOUR)
        won = await asyncio.gather(*(s.take_password_link(digest("race"), NOW)
                                     for s in stores))
        assert won.count("u1") == 1
        assert won.count(None) == 3
    finally:
        for s in stores:
            await s.close()


async def test_grants_and_sessions_by_client_and_by_user(store: Store) -> None:
    await store.add_client(a_client("app"))
    await store.add_client(a_client("other"))
    await store.save_grant(a_grant("g1", auth_time=NOW - 5), None)
    await store.save_grant(a_grant("g2", client_id="other", auth_time=NOW - 5), None)
    await store.save_grant(a_grant("g3", user_id="u2", auth_time=NOW - 9), None)
    await store.save_grant(a_grant("g-dead", revoked_at=NOW - 1), None)
    await store.save_session(Session(digest("s1"), "u1", NOW - 5, NOW + HOUR))
    await store.save_session(Session(digest("s2"), "u2", NOW - 9, NOW + HOUR))
    await store.save_session(Session(digest("s3"), "u2", NOW - 1, NOW + HOUR))  # no grant

    assert [g.grant_id for g in await store.list_client_grants("app", NOW)] == ["g1", "g3"]
    assert [s.session_digest for s in await store.list_client_sessions("app", NOW)] == [
        digest("s1"), digest("s2")]
    assert [s.session_digest for s in await store.list_client_sessions("other", NOW)] == [
        digest("s1")]
    assert await store.end_client_sessions("other", NOW) == 1
    assert await store.get_session(digest("s1"), NOW) is None
    assert await store.revoke_client_grants("other", NOW) == 1
    assert await store.list_client_grants("other", NOW) == []
    assert await store.revoke_user_grants("u1", NOW) == 1  # g1 (g-dead stays as it was)
    assert (await store.get_grant("g-dead")).revoked_at == NOW - 1  # type: ignore[union-attr]
    assert [g.grant_id for g in await store.list_client_grants("app", NOW)] == ["g3"]
    ended = await store.end_session_by_digest(digest("s2"))
    assert ended is not None
    assert ended.user_id == "u2"
    assert await store.end_session_by_digest(digest("s2")) is None
    assert await store.end_user_sessions("u2") == 1
    assert await store.list_sessions("u2", NOW) == []


async def test_a_keys_activation_time_is_stored(store: Store) -> None:
    key = SigningKey("k1", "ES256", "{}", NOW, None, NOW + DAY)
    await store.add_key(key)
    assert await store.list_keys() == [key]
    assert (await store.list_keys())[0].signs_from == NOW + DAY
