"""Store contract, every backend: the account roles (/account and logout, docs/logout.md) and
the logout client fields round-trip."""

from __future__ import annotations

from dataclasses import replace

from tests.store.test_contract import DAY, HOUR, NOW, a_client, a_grant, a_refresh, a_user

from proofkey.crypto import digest
from proofkey.models import Session
from proofkey.store.base import Store


async def test_the_logout_fields_of_a_client_round_trip(store: Store) -> None:
    flagged = replace(a_client("rp"), revoke_on_logout=True,
                      post_logout_redirect_uris=("https://rp.example/bye", "http://127.0.0.1/x"))
    await store.add_client(flagged)
    await store.add_client(a_client("plain"))
    assert await store.get_client("rp") == flagged
    plain = await store.get_client("plain")
    assert plain is not None
    assert (plain.post_logout_redirect_uris, plain.revoke_on_logout) == ((), False)


async def test_a_users_sessions_are_listed_newest_first_and_only_theirs(store: Store) -> None:
    await store.add_user(a_user())
    await store.add_user(a_user("u2", "bob"))
    await store.save_session(Session(digest("old"), "u1", NOW - 100, NOW + HOUR))
    await store.save_session(Session(digest("new"), "u1", NOW, NOW + HOUR))
    await store.save_session(Session(digest("gone"), "u1", NOW - DAY, NOW - 1))
    await store.save_session(Session(digest("bob"), "u2", NOW, NOW + HOUR))
    listed = await store.list_sessions("u1", NOW)
    assert [s.session_digest for s in listed] == [digest("new"), digest("old")]
    assert await store.end_session(digest("bob"), "u1") is False  # not alice's to end
    assert await store.end_session(digest("old"), "u1") is True
    assert [s.session_digest for s in await store.list_sessions("u1", NOW)] == [digest("new")]
    assert len(await store.list_sessions("u2", NOW)) == 1


async def test_logout_revokes_only_the_grants_of_that_session_and_those_clients(
    store: Store,
) -> None:
    await store.add_user(a_user())
    await store.save_grant(a_grant("g1", auth_time=NOW), a_refresh("r1", "g1"))
    await store.save_grant(a_grant("g2", auth_time=NOW, client_id="other"), None)
    await store.save_grant(a_grant("g3", auth_time=NOW - 50), None)
    assert await store.revoke_session_grants("u1", NOW, {"app"}, NOW + 1) == 1
    assert (await store.get_grant("g1") or a_grant()).revoked_at == NOW + 1
    assert {g.grant_id for g in await store.list_grants("u1", NOW)} == {"g2", "g3"}
    assert await store.revoke_session_grants("u1", NOW, {"app"}, NOW + 2) == 0


async def test_disconnecting_an_app_revokes_its_grants_and_forgets_the_consent(
    store: Store,
) -> None:
    await store.add_user(a_user())
    await store.save_grant(a_grant("g1"), a_refresh("r1", "g1"))
    await store.save_grant(a_grant("g2"), None)
    await store.save_grant(a_grant("g3", client_id="other"), None)
    await store.save_consent("u1", "app", ["openid"], NOW)
    await store.save_consent("u1", "other", ["openid"], NOW)
    assert await store.disconnect_client("u1", "app", NOW + 1) == 2
    assert await store.get_consent("u1", "app") == frozenset()
    assert await store.get_consent("u1", "other") == frozenset({"openid"})
    assert [g.grant_id for g in await store.list_grants("u1", NOW)] == ["g3"]
    assert await store.rotate_refresh(digest("r1"), NOW + 2, a_refresh("r2", "g1")) is None
