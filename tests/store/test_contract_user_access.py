"""Store contract, every backend: ``end_user_access`` takes back what a user's current
credentials gave (after a password change), in one transaction, and nothing of anyone else's."""

from __future__ import annotations

from tests.store.test_contract import (
    DAY,
    HOUR,
    NOW,
    a_code,
    a_device,
    a_grant,
    a_pending,
    a_refresh,
    a_user,
    the_grant_of,
)

from proofkey.crypto import digest
from proofkey.models import Session
from proofkey.store.base import Store


async def _give_everything(store: Store, user_id: str, tag: str, user_code: str) -> None:
    """A session, a logged-in pending request, an unredeemed code, an approved device request
    and an active grant with its refresh token."""
    await store.save_session(Session(digest(f"s-{tag}"), user_id, NOW, NOW + HOUR))
    await store.save_pending(a_pending(f"h-{tag}", user_id=user_id, auth_time=NOW))
    await store.save_code(a_code(f"c-{tag}", user_id=user_id))
    await store.save_device(a_device(f"d-{tag}", user_code))
    assert await store.decide_device(digest(user_code), NOW, approve=True, user_id=user_id,
                                     auth_time=NOW) is True  # fmt: skip
    await store.save_grant(a_grant(f"g-{tag}", user_id=user_id),
                           a_refresh(f"r-{tag}", f"g-{tag}"))  # fmt: skip
    await store.save_consent(user_id, "app", ["openid"], NOW)


async def test_ending_a_users_access_ends_sessions_and_revokes_everything_issuable(
    store: Store,
) -> None:
    await store.add_user(a_user())
    await store.add_user(a_user("u2", "bob"))
    await _give_everything(store, "u1", "alice", "WDJB-MJHT")
    await _give_everything(store, "u2", "bob", "BCDF-GHJK")
    await store.save_grant(a_grant("g-old", revoked_at=NOW - 1), None)

    assert await store.end_user_access("u1", NOW + 1) == (1, 1)

    assert await store.get_session(digest("s-alice"), NOW) is None
    assert await store.get_pending(digest("h-alice"), NOW) is None
    assert await store.redeem_code(digest("c-alice"), NOW + 2, "g-new", NOW + HOUR, None) is None
    assert await store.get_grant("g-new") is None
    device = await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW + 2)
    assert device is not None
    assert device.status == "denied"
    assert await store.consume_device(digest("d-alice"), NOW + 2, a_grant("g-dev"), None) is None
    assert await store.get_grant("g-alice") == a_grant("g-alice", revoked_at=NOW + 1)
    assert await store.get_grant("g-old") == a_grant("g-old", revoked_at=NOW - 1)
    assert await store.rotate_refresh(digest("r-alice"), NOW + 2,
                                      a_refresh("r-alice2", "g-alice")) is None  # fmt: skip
    assert await store.get_consent("u1", "app") == {"openid"}  # consent is not a credential
    assert await store.get_user("u1") == a_user()

    # bob keeps everything
    assert await store.get_session(digest("s-bob"), NOW) is not None
    assert await store.get_pending(digest("h-bob"), NOW) is not None
    redeemed = await store.redeem_code(digest("c-bob"), NOW + 2, "g-bob2", NOW + 2 + DAY, None)
    assert redeemed is not None
    assert await store.get_grant("g-bob2") == the_grant_of(redeemed, "g-bob2", NOW + 2)
    assert await store.consume_device(digest("d-bob"), NOW + 2,
                                      a_grant("g-bob3", user_id="u2"), None) is not None
    assert await store.get_grant("g-bob") == a_grant("g-bob", user_id="u2")
    assert await store.rotate_refresh(digest("r-bob"), NOW + 2,
                                      a_refresh("r-bob2", "g-bob")) is not None  # fmt: skip


async def test_ending_access_of_a_user_with_nothing_changes_nothing(store: Store) -> None:
    await store.add_user(a_user())
    assert await store.end_user_access("u1", NOW) == (0, 0)
    assert await store.end_user_access("nobody", NOW) == (0, 0)


async def test_a_redeemed_code_stays_for_replay_detection(store: Store) -> None:
    await store.add_user(a_user())
    await store.save_code(a_code())
    redeemed = await store.redeem_code(digest("c1"), NOW + 1, "g1", NOW + HOUR, None)
    assert redeemed is not None
    assert await store.end_user_access("u1", NOW + 2) == (0, 1)
    assert await store.find_code(digest("c1")) == redeemed
