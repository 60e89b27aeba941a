"""The console role on every backend: a user's role is stored and read back with the user,
console sessions are found by digest until they expire, deleted on demand and purged."""

from __future__ import annotations

from proofkey.models import AdminSession, User
from proofkey.store.base import Store

NOW = 1_800_000_000


async def test_a_user_starts_without_a_role_and_gets_one(store: Store) -> None:
    await store.add_user(User("u1", "ada", "hash", created_at=NOW))
    assert (await store.get_user("u1")).role == "user"  # type: ignore[union-attr]
    assert await store.set_role("ada", "admin") is True
    assert (await store.get_user_by_username("ada")).role == "admin"  # type: ignore[union-attr]
    assert [u.role for u in await store.list_users()] == ["admin"]
    assert await store.set_role("nobody", "admin") is False


async def test_console_sessions_live_until_they_expire_or_are_deleted(store: Store) -> None:
    one = AdminSession("a" * 64, "u1", "c" * 64, NOW, NOW + 100)
    two = AdminSession("b" * 64, "u1", "c" * 64, NOW, NOW + 10)
    await store.save_admin_session(one)
    await store.save_admin_session(two)
    assert await store.get_admin_session("a" * 64, NOW + 50) == one
    assert await store.get_admin_session("b" * 64, NOW + 10) is None  # expired
    assert await store.purge_expired(NOW + 20) >= 1
    await store.delete_admin_session("a" * 64)
    assert await store.get_admin_session("a" * 64, NOW + 50) is None
