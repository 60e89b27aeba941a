"""The store contract every backend in conftest.BACKENDS passes, then the SQLite file specifics."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from proofkey.crypto import digest
from proofkey.models import (
    AuthorizationCode,
    Client,
    DeviceAuthorization,
    Grant,
    PendingAuthorization,
    RefreshToken,
    Session,
    SigningKey,
    User,
)
from proofkey.store import open_store
from proofkey.store.base import AlreadyExists, Store, StoreUnavailable
from proofkey.store.sqlite import SQLiteStore, open_sqlite

if TYPE_CHECKING:
    from conftest import Backend

NOW = 1_700_000_000
MINUTE, HOUR, DAY = 60, 3600, 86_400


def a_client(client_id: str = "app", **changes: Any) -> Client:
    client = Client(
        client_id=client_id,
        client_type="public",
        redirect_uris=("https://app.example/cb", "http://127.0.0.1/cb"),
        scopes=frozenset({"openid", "profile", "email"}),
        grant_types=frozenset({"authorization_code", "refresh_token"}),
        token_endpoint_auth_method="none",
        name="Ünïcode App",
        created_at=NOW,
    )
    return replace(client, **changes)


def a_user(user_id: str = "u1", username: str = "alice", **changes: Any) -> User:
    user = User(user_id, username, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "Alice",
                "alice@example.org", NOW)  # fmt: skip
    return replace(user, **changes)


def a_pending(handle: str = "h1", **changes: Any) -> PendingAuthorization:
    pending = PendingAuthorization(
        handle_digest=digest(handle),
        client_id="app",
        redirect_uri="https://app.example/cb",
        scope=("profile", "openid"),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        state=None,
        nonce=None,
        prompt=frozenset(),
        max_age=None,
        browser_digest=digest("browser"),
        created_at=NOW,
        expires_at=NOW + 10 * MINUTE,
    )
    return replace(pending, **changes)


def a_code(code: str = "c1", **changes: Any) -> AuthorizationCode:
    issued = AuthorizationCode(
        code_digest=digest(code),
        client_id="app",
        redirect_uri="http://127.0.0.1:5000/cb",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        scope=("openid", "email"),
        nonce="n-0S6_WzA2Mj",
        user_id="u1",
        auth_time=NOW - 5,
        issued_at=NOW,
        expires_at=NOW + MINUTE,
    )
    return replace(issued, **changes)


def a_grant(grant_id: str = "g1", **changes: Any) -> Grant:
    grant = Grant(grant_id, "app", "u1", ("openid", "offline_access"), NOW - 5, NOW, NOW + DAY)
    return replace(grant, **changes)


def a_refresh(handle: str = "r1", grant_id: str = "g1", **changes: Any) -> RefreshToken:
    refresh = RefreshToken(digest(handle), grant_id, "app", NOW, NOW + HOUR)
    return replace(refresh, **changes)


def a_device(device_code: str = "d1", user_code: str = "WDJB-MJHT",
             **changes: Any) -> DeviceAuthorization:  # fmt: skip
    device = DeviceAuthorization(digest(device_code), digest(user_code), "tv",
                                 ("openid", "profile"), NOW, NOW + 10 * MINUTE, 5)  # fmt: skip
    return replace(device, **changes)


def a_key(kid: str = "k1", **changes: Any) -> SigningKey:
    key = SigningKey(kid, "ES256", '{"kty":"EC","crv":"P-256","d":"secret"}', NOW)
    return replace(key, **changes)


def race(
    backend: Backend, attempt: Callable[[Store, int], Awaitable[object]], contenders: int = 8
) -> list[Any]:
    """Run ``attempt`` in ``contenders`` threads at once, each with its own store and loop."""
    barrier = threading.Barrier(contenders)
    results: list[Any] = [None] * contenders
    errors: list[BaseException] = []

    async def contend(index: int) -> None:
        store = backend.open()
        try:
            await store.ping()  # connect before the start line
            barrier.wait(timeout=10)
            results[index] = await attempt(store, index)
        finally:
            await store.close()

    def run(index: int) -> None:
        try:
            asyncio.run(contend(index))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()  # the others fail fast instead of waiting out the timeout

    threads = [threading.Thread(target=run, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# -- clients and users -------------------------------------------------------------------------


async def test_a_client_round_trips_with_every_field(store: Store) -> None:
    public = a_client(redirect_uris=("https://b.example/cb", "https://a.example/cb"))
    confidential = a_client(
        "backend", client_type="confidential", token_endpoint_auth_method="client_secret_basic",
        secret_digest=digest("s3cret"), grant_types=frozenset(), scopes=frozenset(),
        id_token_signed_response_alg="ES256",
    )  # fmt: skip
    await store.add_client(public)
    await store.add_client(confidential)
    assert await store.get_client("app") == public
    assert await store.get_client("backend") == confidential
    assert await store.get_client("nobody") is None


async def test_adding_a_client_id_twice_raises_already_exists(store: Store) -> None:
    await store.add_client(a_client())
    with pytest.raises(AlreadyExists):
        await store.add_client(a_client(name="other"))
    assert (await store.get_client("app")) == a_client()


async def test_clients_are_listed_and_removed(store: Store) -> None:
    assert await store.list_clients() == []
    await store.add_client(a_client("b"))
    await store.add_client(a_client("a"))
    assert sorted(c.client_id for c in await store.list_clients()) == ["a", "b"]
    assert await store.remove_client("a") is True
    assert await store.remove_client("a") is False
    assert await store.list_clients() == [a_client("b")]


async def test_a_user_is_found_by_id_and_by_username(store: Store) -> None:
    await store.add_user(a_user())
    assert await store.get_user("u1") == a_user()
    assert await store.get_user_by_username("alice") == a_user()
    assert await store.get_user("u2") is None
    assert await store.get_user_by_username("bob") is None


@pytest.mark.parametrize(
    "duplicate", [a_user(username="bob"), a_user(user_id="u2")], ids=["same id", "same username"]
)
async def test_a_user_with_a_taken_id_or_username_is_refused(store: Store, duplicate: User) -> None:
    await store.add_user(a_user())
    with pytest.raises(AlreadyExists):
        await store.add_user(duplicate)
    assert await store.list_users() == [a_user()]


async def test_users_are_listed_removed_and_get_new_passwords(store: Store) -> None:
    await store.add_user(a_user())
    await store.add_user(a_user("u2", "bob", name="", email=""))
    assert sorted(u.username for u in await store.list_users()) == ["alice", "bob"]
    assert await store.set_password("bob", "$argon2id$new") is True
    assert await store.set_password("carol", "$argon2id$new") is False
    renamed = a_user("u2", "bob", name="", email="", password_hash="$argon2id$new")
    assert await store.get_user("u2") == renamed
    assert await store.remove_user("alice") is True
    assert await store.remove_user("alice") is False
    assert await store.get_user("u1") is None


async def test_removing_a_user_revokes_their_grants_and_ends_sessions_and_consents(
    store: Store,
) -> None:
    await store.add_user(a_user())
    await store.add_user(a_user("u2", "bob"))
    await store.save_grant(a_grant(), a_refresh())
    await store.save_grant(a_grant("g-old", revoked_at=NOW - 1), None)
    await store.save_grant(a_grant("g2", user_id="u2"), a_refresh("r2", "g2"))
    for user_id in ("u1", "u2"):
        await store.save_session(Session(digest(f"s-{user_id}"), user_id, NOW, NOW + HOUR))
        await store.save_consent(user_id, "app", ["openid"], NOW)

    assert await store.remove_user("alice", now=NOW + 1) is True
    assert await store.get_grant("g1") == a_grant(revoked_at=NOW + 1)
    assert await store.get_grant("g-old") == a_grant("g-old", revoked_at=NOW - 1)
    assert await store.rotate_refresh(digest("r1"), NOW + 2, a_refresh("r1b")) is None
    assert await store.get_session(digest("s-u1"), NOW) is None
    assert await store.get_consent("u1", "app") == frozenset()
    # bob keeps everything
    assert await store.get_grant("g2") == a_grant("g2", user_id="u2")
    assert await store.get_session(digest("s-u2"), NOW) is not None
    assert await store.get_consent("u2", "app") == {"openid"}
    assert await store.rotate_refresh(digest("r2"), NOW + 2, a_refresh("r2b", "g2")) is not None


async def test_removing_a_client_revokes_its_grants_and_forgets_its_consents(
    store: Store,
) -> None:
    await store.add_client(a_client())
    await store.add_client(a_client("other"))
    await store.save_grant(a_grant(), a_refresh())
    await store.save_grant(a_grant("g2", client_id="other"), a_refresh("r2", "g2"))
    await store.save_consent("u1", "app", ["openid"], NOW)
    await store.save_consent("u1", "other", ["openid"], NOW)

    assert await store.remove_client("app", now=NOW + 1) is True
    assert await store.get_grant("g1") == a_grant(revoked_at=NOW + 1)
    assert await store.rotate_refresh(digest("r1"), NOW + 2, a_refresh("r1b")) is None
    assert await store.get_consent("u1", "app") == frozenset()
    assert await store.get_grant("g2") == a_grant("g2", client_id="other")
    assert await store.get_consent("u1", "other") == {"openid"}


async def test_removal_revokes_at_the_current_time_unless_told_and_only_if_found(
    store: Store,
) -> None:
    await store.add_user(a_user())
    await store.add_client(a_client())
    await store.save_grant(a_grant(), None)
    await store.save_grant(a_grant("g2", user_id="ghost", client_id="gone"), None)
    assert await store.remove_user("ghost", now=NOW) is False
    assert await store.remove_client("gone", now=NOW) is False
    assert await store.get_grant("g2") == a_grant("g2", user_id="ghost", client_id="gone")
    before = int(time.time())
    assert await store.remove_user("alice") is True
    revoked = await store.get_grant("g1")
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert before <= revoked.revoked_at <= int(time.time())
    assert await store.remove_client("app") is True


# -- pending authorizations, sessions, consent -------------------------------------------------


async def test_a_pending_authorization_round_trips_with_every_field(store: Store) -> None:
    bare = a_pending("bare", scope=())
    full = a_pending(
        "full", state="xyz", nonce="abc", prompt=frozenset({"login", "consent"}), max_age=0,
        user_id="u1", auth_time=NOW - 1,
    )  # fmt: skip
    await store.save_pending(bare)
    await store.save_pending(full)
    assert await store.get_pending(digest("bare"), NOW) == bare
    assert await store.get_pending(digest("full"), NOW) == full
    assert await store.get_pending(digest("none"), NOW) is None


async def test_an_expired_pending_authorization_is_not_returned(store: Store) -> None:
    await store.save_pending(a_pending(expires_at=NOW + 10))
    assert await store.get_pending(digest("h1"), NOW + 9) is not None
    assert await store.get_pending(digest("h1"), NOW + 10) is None
    assert await store.take_pending(digest("h1"), NOW + 10) is None


async def test_login_is_recorded_on_the_pending_authorization(store: Store) -> None:
    await store.save_pending(a_pending())
    await store.set_pending_user(digest("h1"), "u1", NOW + 3)
    await store.set_pending_user(digest("unknown"), "u1", NOW + 3)
    assert await store.get_pending(digest("h1"), NOW) == a_pending(user_id="u1", auth_time=NOW + 3)
    assert await store.get_pending(digest("unknown"), NOW) is None


async def test_a_pending_authorization_is_taken_exactly_once(store: Store) -> None:
    await store.save_pending(a_pending(state="s"))
    assert await store.take_pending(digest("h1"), NOW) == a_pending(state="s")
    assert await store.take_pending(digest("h1"), NOW) is None
    assert await store.get_pending(digest("h1"), NOW) is None


async def test_a_client_requiring_pushed_requests_round_trips(store: Store) -> None:
    strict = a_client("strict", require_pushed_authorization_requests=True)
    await store.add_client(strict)
    await store.add_client(a_client("lenient"))
    assert await store.get_client("strict") == strict
    lenient = await store.get_client("lenient")
    assert lenient is not None
    assert lenient.require_pushed_authorization_requests is False


async def test_a_pushed_request_is_taken_exactly_once_before_it_expires(store: Store) -> None:
    params = {"response_type": "code", "state": "ü & =", "scope": "openid profile"}
    await store.save_pushed(digest("r1"), "app", params, NOW + 60)
    await store.save_pushed(digest("r2"), "app", {"a": "b"}, NOW + 60)
    assert await store.take_pushed(digest("r1"), NOW) == ("app", params)
    assert await store.take_pushed(digest("r1"), NOW) is None
    assert await store.take_pushed(digest("r2"), NOW + 60) is None  # expired
    assert await store.take_pushed(digest("nope"), NOW) is None


async def test_expired_pushed_requests_are_purged(store: Store) -> None:
    await store.save_pushed(digest("old"), "app", {"a": "b"}, NOW - 1)
    await store.save_pushed(digest("new"), "app", {"a": "b"}, NOW + 60)
    assert await store.purge_expired(NOW) >= 1
    assert await store.take_pushed(digest("new"), NOW) == ("app", {"a": "b"})


async def test_a_session_lives_until_it_expires_or_is_deleted(store: Store) -> None:
    session = Session(digest("s1"), "u1", NOW - 100, NOW + 10)
    await store.save_session(session)
    await store.save_session(Session(digest("s2"), "u1", NOW - 100, NOW + 10))
    assert await store.get_session(digest("s1"), NOW + 9) == session
    assert await store.get_session(digest("s1"), NOW + 10) is None
    await store.delete_session(digest("s1"))
    await store.delete_session(digest("never"))
    assert await store.get_session(digest("s1"), NOW) is None
    assert await store.get_session(digest("s2"), NOW) is not None


async def test_consent_adds_to_the_scopes_granted_before(store: Store) -> None:
    assert await store.get_consent("u1", "app") == frozenset()
    await store.save_consent("u1", "app", ["openid", "profile"], NOW)
    await store.save_consent("u1", "app", ("email", "openid"), NOW + 1)
    await store.save_consent("u1", "other", {"openid"}, NOW)
    await store.save_consent("u2", "app", [], NOW)
    assert await store.get_consent("u1", "app") == {"openid", "profile", "email"}
    assert await store.get_consent("u1", "other") == {"openid"}
    assert await store.get_consent("u2", "app") == frozenset()


# -- authorization codes -----------------------------------------------------------------------


async def test_a_code_round_trips_with_every_field(store: Store) -> None:
    await store.save_code(a_code())
    await store.save_code(a_code("c2", nonce=None, scope=()))
    assert await store.find_code(digest("c1")) == a_code()
    assert await store.find_code(digest("c2")) == a_code("c2", nonce=None, scope=())
    assert await store.find_code(digest("c3")) is None


async def test_a_code_digest_is_never_stored_twice(store: Store) -> None:
    await store.save_code(a_code())
    await store.redeem_code(digest("c1"), NOW, "g1", NOW + DAY, None)
    with pytest.raises(AlreadyExists):
        await store.save_code(a_code())  # must not resurrect the redeemed code
    assert (await store.find_code(digest("c1"))) == a_code(redeemed_at=NOW, grant_id="g1")


def the_grant_of(code: AuthorizationCode, grant_id: str, now: int) -> Grant:
    """The grant ``redeem_code`` creates for ``code``."""
    return Grant(grant_id, code.client_id, code.user_id, code.scope, code.auth_time, now,
                 now + DAY)  # fmt: skip


async def test_a_code_is_redeemed_at_most_once(store: Store) -> None:
    await store.save_code(a_code())
    first = await store.redeem_code(digest("c1"), NOW + 1, "g1", NOW + 1 + DAY, a_refresh())
    assert first == a_code(redeemed_at=NOW + 1, grant_id="g1")
    second = await store.redeem_code(digest("c1"), NOW + 2, "g2", NOW + DAY, a_refresh("r2", "g2"))
    assert second is None
    assert await store.find_code(digest("c1")) == first


async def test_a_redeemed_code_creates_its_grant_and_refresh_token(store: Store) -> None:
    await store.save_code(a_code())
    await store.save_code(a_code("c2", scope=(), nonce=None))
    await store.redeem_code(digest("c1"), NOW + 1, "g1", NOW + 1 + DAY, a_refresh())
    await store.redeem_code(digest("c2"), NOW + 2, "g2", NOW + 2 + DAY, None)
    assert await store.get_grant("g1") == the_grant_of(a_code(), "g1", NOW + 1)
    assert await store.get_grant("g2") == the_grant_of(a_code(scope=()), "g2", NOW + 2)
    assert await store.find_refresh(digest("r1")) == a_refresh()


async def test_a_lost_redemption_writes_nothing(store: Store) -> None:
    await store.save_code(a_code())
    await store.redeem_code(digest("c1"), NOW, "g1", NOW + DAY, None)
    lost = await store.redeem_code(digest("c1"), NOW, "g2", NOW + DAY, a_refresh("r2", "g2"))
    assert lost is None
    assert await store.get_grant("g2") is None
    assert await store.find_refresh(digest("r2")) is None
    assert await store.find_code(digest("c1")) == a_code(redeemed_at=NOW, grant_id="g1")


async def test_an_expired_or_unknown_code_is_not_redeemed(store: Store) -> None:
    await store.save_code(a_code(expires_at=NOW + 60))
    assert await store.redeem_code(digest("c1"), NOW + 60, "g1", NOW + DAY, a_refresh()) is None
    assert await store.redeem_code(digest("nope"), NOW, "g2", NOW + DAY, None) is None
    assert await store.find_code(digest("c1")) == a_code(expires_at=NOW + 60)
    assert await store.get_grant("g1") is None
    assert await store.get_grant("g2") is None
    assert await store.find_refresh(digest("r1")) is None


async def test_a_redemption_whose_grant_cannot_be_written_leaves_the_code_unredeemed(
    store: Store,
) -> None:
    await store.save_grant(a_grant("taken"), None)
    await store.save_code(a_code())
    with pytest.raises(AlreadyExists):
        await store.redeem_code(digest("c1"), NOW, "taken", NOW + DAY, None)
    assert await store.find_code(digest("c1")) == a_code()


async def test_a_refresh_token_of_another_grant_is_refused_before_anything_is_written(
    store: Store,
) -> None:
    await store.save_code(a_code())
    with pytest.raises(ValueError, match="grant"):
        await store.redeem_code(digest("c1"), NOW, "g1", NOW + DAY, a_refresh("r1", "g2"))
    assert await store.find_code(digest("c1")) == a_code()
    assert await store.get_grant("g1") is None


async def test_of_eight_concurrent_redeemers_exactly_one_wins(
    store: Store, shared_backend: Backend
) -> None:
    for trial in range(20):
        code = a_code(f"race-{trial}")
        await store.save_code(code)

        async def redeem(racer: Store, index: int, code: AuthorizationCode = code) -> object:
            grant_id = f"grant-{code.code_digest[:8]}-{index}"
            refresh = a_refresh(f"{grant_id}-r", grant_id)
            return await racer.redeem_code(code.code_digest, NOW, grant_id, NOW + DAY, refresh)

        results = await asyncio.to_thread(race, shared_backend, redeem)
        winners = [i for i, won in enumerate(results) if won is not None]
        assert len(winners) == 1, f"trial {trial}: winners {winners}"
        won = f"grant-{code.code_digest[:8]}-{winners[0]}"
        stored = await store.find_code(code.code_digest)
        assert stored == replace(code, redeemed_at=NOW, grant_id=won)
        for index in range(8):
            grant_id = f"grant-{code.code_digest[:8]}-{index}"
            grant = await store.get_grant(grant_id)
            refresh = await store.find_refresh(digest(f"{grant_id}-r"))
            if index == winners[0]:
                assert grant == the_grant_of(code, grant_id, NOW)
                assert refresh == a_refresh(f"{grant_id}-r", grant_id)
            else:
                assert grant is None, f"trial {trial}: loser {index} wrote a grant"
                assert refresh is None, f"trial {trial}: loser {index} wrote a refresh token"


async def test_of_eight_redeemers_sharing_one_store_exactly_one_wins(store: Store) -> None:
    """Every backend, sqlite-memory too; on PostgreSQL the eight use pooled connections."""
    for trial in range(5):
        code = a_code(f"shared-{trial}")
        await store.save_code(code)
        grant_ids = [f"shared-{trial}-{i}" for i in range(8)]
        results = await asyncio.gather(*(
            store.redeem_code(code.code_digest, NOW, grant_id, NOW + DAY,
                              a_refresh(f"{grant_id}-r", grant_id))
            for grant_id in grant_ids
        ))  # fmt: skip
        winners = [i for i, won in enumerate(results) if won is not None]
        assert len(winners) == 1, f"trial {trial}: winners {winners}"
        grants = [i for i, g in enumerate(grant_ids) if await store.get_grant(g)]
        refreshes = [
            i for i, g in enumerate(grant_ids) if await store.find_refresh(digest(f"{g}-r"))
        ]
        assert grants == refreshes == winners


# -- grants and refresh tokens -----------------------------------------------------------------


async def test_a_grant_and_its_first_refresh_token_round_trip(store: Store) -> None:
    service = a_grant("g2", user_id=None, auth_time=None, scope=())
    await store.save_grant(a_grant(), a_refresh())
    await store.save_grant(service, None)
    assert await store.get_grant("g1") == a_grant()
    assert await store.get_grant("g2") == service
    assert await store.get_grant("g3") is None
    assert await store.find_refresh(digest("r1")) == a_refresh()
    assert await store.find_refresh(digest("r2")) is None


async def test_a_grant_is_saved_with_its_refresh_token_or_not_at_all(store: Store) -> None:
    await store.save_grant(a_grant(), a_refresh())
    with pytest.raises(AlreadyExists):
        await store.save_grant(a_grant(), None)
    with pytest.raises(AlreadyExists):
        await store.save_grant(a_grant("g2"), a_refresh("r1", "g2"))
    assert await store.get_grant("g2") is None
    assert await store.find_refresh(digest("r1")) == a_refresh()


async def test_revoking_a_grant_is_idempotent(store: Store) -> None:
    await store.save_grant(a_grant(), None)
    assert await store.revoke_grant("g1", NOW + 1) is True
    assert await store.revoke_grant("g1", NOW + 2) is False
    assert await store.revoke_grant("unknown", NOW) is False
    assert await store.get_grant("g1") == a_grant(revoked_at=NOW + 1)


async def test_a_refresh_token_rotates_once_into_its_successor(store: Store) -> None:
    await store.save_grant(a_grant(), a_refresh())
    successor = a_refresh("r2", issued_at=NOW + 5, parent_digest=digest("r1"))
    retired = await store.rotate_refresh(digest("r1"), NOW + 5, successor)
    assert retired == a_refresh(rotated_at=NOW + 5, replaced_by=digest("r2"))
    assert await store.find_refresh(digest("r1")) == retired
    assert await store.find_refresh(digest("r2")) == successor
    assert await store.rotate_refresh(digest("r1"), NOW + 6, a_refresh("r3")) is None
    assert await store.find_refresh(digest("r3")) is None


async def test_rotation_chains_through_successors(store: Store) -> None:
    await store.save_grant(a_grant(), a_refresh())
    for step in range(1, 4):
        parent, child = f"r{step}", f"r{step + 1}"
        successor = a_refresh(child, issued_at=NOW + step, parent_digest=digest(parent))
        retired = await store.rotate_refresh(digest(parent), NOW + step, successor)
        assert retired is not None
        assert retired.replaced_by == digest(child)
    assert await store.find_refresh(digest("r4")) == a_refresh(
        "r4", issued_at=NOW + 3, parent_digest=digest("r3")
    )


@pytest.mark.parametrize(
    ("grant", "refresh"),
    [
        (a_grant(), a_refresh(expires_at=NOW + 10)),
        (a_grant(revoked_at=NOW - 1), a_refresh()),
        (a_grant(expires_at=NOW + 10), a_refresh()),
        (a_grant(), a_refresh(rotated_at=NOW - 1, replaced_by=digest("r0"))),
    ],
    ids=["token expired", "grant revoked", "grant expired", "token already rotated"],
)
async def test_a_refresh_token_is_not_rotated_unless_it_and_its_grant_are_live(
    store: Store, grant: Grant, refresh: RefreshToken
) -> None:
    await store.save_grant(grant, refresh)
    assert await store.rotate_refresh(digest("r1"), NOW + 10, a_refresh("r2")) is None
    assert await store.rotate_refresh(digest("unknown"), NOW, a_refresh("r3")) is None
    assert await store.find_refresh(digest("r1")) == refresh
    assert await store.find_refresh(digest("r2")) is None


async def test_a_refresh_token_does_not_rotate_into_another_grant(store: Store) -> None:
    await store.save_grant(a_grant(), a_refresh())
    await store.save_grant(a_grant("g2"), None)
    stray = a_refresh("r2", "g2", parent_digest=digest("r1"))
    assert await store.rotate_refresh(digest("r1"), NOW + 1, stray) is None
    assert await store.find_refresh(digest("r1")) == a_refresh()
    assert await store.find_refresh(digest("r2")) is None
    assert await store.rotate_refresh(digest("r1"), NOW + 1, a_refresh("r3")) is not None


async def test_revoking_the_grant_stops_its_refresh_tokens(store: Store) -> None:
    await store.save_grant(a_grant(), a_refresh())
    assert await store.revoke_grant("g1", NOW + 1)
    assert await store.rotate_refresh(digest("r1"), NOW + 2, a_refresh("r2")) is None


async def test_of_eight_concurrent_rotations_exactly_one_wins(
    store: Store, shared_backend: Backend
) -> None:
    for trial in range(5):
        await store.save_grant(a_grant(f"g{trial}"), a_refresh(f"t{trial}", f"g{trial}"))

        async def rotate(racer: Store, index: int, trial: int = trial) -> object:
            parent = digest(f"t{trial}")
            successor = a_refresh(f"t{trial}-{index}", f"g{trial}", parent_digest=parent)
            return await racer.rotate_refresh(parent, NOW, successor)

        results = await asyncio.to_thread(race, shared_backend, rotate)
        winners = [i for i, won in enumerate(results) if won is not None]
        assert len(winners) == 1, f"trial {trial}: winners {winners}"
        stored = [i for i in range(8) if await store.find_refresh(digest(f"t{trial}-{i}"))]
        assert stored == winners


# rotate_refresh_for_client: the common refresh (no scope parameter) in one call.


def the_successor(handle: str, parent: str, now: int, *, grant_id: str = "g1") -> RefreshToken:
    """The token ``rotate_refresh_for_client`` stores in place of ``parent``."""
    return RefreshToken(digest(handle), grant_id, "app", now, now + HOUR, digest(parent))


async def test_a_clients_refresh_token_rotates_in_one_call_returning_its_grant(
    store: Store,
) -> None:
    grant = a_grant(user_id="u1", scope=("openid", "profile"), auth_time=NOW - 7)
    await store.save_grant(grant, a_refresh())
    rotated = await store.rotate_refresh_for_client(digest("r1"), "app", NOW + 5, digest("r2"),
                                                    NOW + 5 + HOUR)  # fmt: skip
    assert rotated == grant
    assert await store.find_refresh(digest("r1")) == a_refresh(rotated_at=NOW + 5,
                                                               replaced_by=digest("r2"))
    assert await store.find_refresh(digest("r2")) == the_successor("r2", "r1", NOW + 5)
    # Once only; the successor rotates in turn, and the chain stays in the grant.
    assert await store.rotate_refresh_for_client(digest("r1"), "app", NOW + 6, digest("r3"),
                                                 NOW + 6 + HOUR) is None  # fmt: skip
    assert await store.find_refresh(digest("r3")) is None
    assert await store.rotate_refresh_for_client(digest("r2"), "app", NOW + 7, digest("r4"),
                                                 NOW + 7 + HOUR) == grant  # fmt: skip
    assert await store.find_refresh(digest("r4")) == the_successor("r4", "r2", NOW + 7)


async def test_a_grant_without_user_or_scope_comes_back_as_stored(store: Store) -> None:
    service = a_grant(user_id=None, auth_time=None, scope=())
    await store.save_grant(service, a_refresh())
    assert await store.rotate_refresh_for_client(digest("r1"), "app", NOW, digest("r2"),
                                                 NOW + HOUR) == service  # fmt: skip


@pytest.mark.parametrize(
    ("grant", "refresh", "client_id"),
    [
        (a_grant(), a_refresh(expires_at=NOW + 10), "app"),
        (a_grant(revoked_at=NOW - 1), a_refresh(), "app"),
        (a_grant(expires_at=NOW + 10), a_refresh(), "app"),
        (a_grant(), a_refresh(rotated_at=NOW - 1, replaced_by=digest("r0")), "app"),
        (a_grant(), a_refresh(), "other-app"),
        (a_grant(client_id="other-app"), a_refresh(), "other-app"),
    ],
    ids=["token expired", "grant revoked", "grant expired", "token already rotated",
         "another client", "another client's grant"],
)  # fmt: skip
async def test_a_refresh_token_is_rotated_for_a_client_only_if_its_and_live(
    store: Store, grant: Grant, refresh: RefreshToken, client_id: str
) -> None:
    await store.save_grant(grant, refresh)
    assert await store.rotate_refresh_for_client(digest("r1"), client_id, NOW + 10,
                                                 digest("r2"), NOW + HOUR) is None  # fmt: skip
    assert await store.rotate_refresh_for_client(digest("unknown"), "app", NOW, digest("r3"),
                                                 NOW + HOUR) is None  # fmt: skip
    assert await store.find_refresh(digest("r1")) == refresh
    assert await store.find_refresh(digest("r2")) is None
    assert await store.find_refresh(digest("r3")) is None
    assert await store.get_grant(grant.grant_id) == grant


async def test_revoking_the_grant_stops_rotation_for_the_client(store: Store) -> None:
    await store.save_grant(a_grant(), a_refresh())
    assert await store.revoke_grant("g1", NOW + 1)
    assert await store.rotate_refresh_for_client(digest("r1"), "app", NOW + 2, digest("r2"),
                                                 NOW + HOUR) is None  # fmt: skip
    assert await store.find_refresh(digest("r2")) is None


async def test_of_eight_concurrent_rotations_in_either_form_exactly_one_wins(
    store: Store, shared_backend: Backend
) -> None:
    """Half the racers use rotate_refresh_for_client, half rotate_refresh (the flow's path for
    a request with scope): one token, one successor, whichever way."""
    for trial in range(5):
        await store.save_grant(a_grant(f"g{trial}"), a_refresh(f"t{trial}", f"g{trial}"))

        async def rotate(racer: Store, index: int, trial: int = trial) -> object:
            parent, child = digest(f"t{trial}"), digest(f"t{trial}-{index}")
            if index % 2:
                successor = RefreshToken(child, f"g{trial}", "app", NOW, NOW + HOUR, parent)
                return await racer.rotate_refresh(parent, NOW, successor)
            return await racer.rotate_refresh_for_client(parent, "app", NOW, child, NOW + HOUR)

        results = await asyncio.to_thread(race, shared_backend, rotate)
        winners = [i for i, won in enumerate(results) if won is not None]
        assert len(winners) == 1, f"trial {trial}: winners {winners}"
        stored = [i for i in range(8) if await store.find_refresh(digest(f"t{trial}-{i}"))]
        assert stored == winners
        retired = await store.find_refresh(digest(f"t{trial}"))
        assert retired is not None
        assert retired.replaced_by == digest(f"t{trial}-{winners[0]}")


async def test_of_eight_rotations_for_a_client_sharing_one_store_exactly_one_wins(
    store: Store,
) -> None:
    """Every backend, sqlite-memory too; on PostgreSQL the eight use pooled connections."""
    await store.save_grant(a_grant(), a_refresh())
    results = await asyncio.gather(*(
        store.rotate_refresh_for_client(digest("r1"), "app", NOW, digest(f"s{i}"), NOW + HOUR)
        for i in range(8)
    ))  # fmt: skip
    winners = [i for i, won in enumerate(results) if won is not None]
    assert len(winners) == 1, f"winners {winners}"
    assert [i for i in range(8) if await store.find_refresh(digest(f"s{i}"))] == winners


async def test_a_revoked_access_token_jti_is_remembered(store: Store) -> None:
    await store.revoke_access_token("jti-1", NOW + HOUR)
    await store.revoke_access_token("jti-1", NOW + HOUR)
    assert await store.is_access_token_revoked("jti-1") is True
    assert await store.is_access_token_revoked("jti-2") is False


# -- device authorizations (RFC 8628) ----------------------------------------------------------


async def test_a_device_authorization_round_trips_with_every_field(store: Store) -> None:
    bare = a_device(scope=())
    full = a_device("d2", "BCDF-GHJK", status="approved", user_id="u1", auth_time=NOW - 1,
                    last_polled_at=NOW + 5, consumed_at=NOW + 6, grant_id="g1")  # fmt: skip
    await store.save_device(bare)
    await store.save_device(full)
    assert await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW) == bare
    assert await store.get_device_by_user_code(digest("BCDF-GHJK"), NOW) == full
    assert await store.get_device_by_user_code(digest("XXXX-XXXX"), NOW) is None


@pytest.mark.parametrize(
    "duplicate", [a_device("d2"), a_device(user_code="BCDF-GHJK")],
    ids=["same user code", "same device code"],
)  # fmt: skip
async def test_a_taken_device_code_or_user_code_is_refused(
    store: Store, duplicate: DeviceAuthorization
) -> None:
    await store.save_device(a_device())
    with pytest.raises(AlreadyExists):
        await store.save_device(duplicate)
    assert await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW) == a_device()
    assert await store.get_device_by_user_code(digest("BCDF-GHJK"), NOW) is None


async def test_a_device_request_is_found_by_user_code_only_while_unexpired(store: Store) -> None:
    await store.save_device(a_device(expires_at=NOW + 10))
    assert await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW + 9) == a_device(
        expires_at=NOW + 10)  # fmt: skip
    assert await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW + 10) is None


async def test_a_device_request_is_decided_exactly_once(store: Store) -> None:
    await store.save_device(a_device())
    await store.save_device(a_device("d2", "BCDF-GHJK"))
    assert await store.decide_device(digest("WDJB-MJHT"), NOW, approve=True, user_id="u1",
                                     auth_time=NOW - 1) is True  # fmt: skip
    assert await store.decide_device(digest("BCDF-GHJK"), NOW, approve=False, user_id="u1",
                                     auth_time=NOW - 1) is True  # fmt: skip
    for user_code, approve in [("WDJB-MJHT", False), ("WDJB-MJHT", True), ("BCDF-GHJK", True)]:
        assert await store.decide_device(digest(user_code), NOW + 1, approve=approve, user_id="u2",
                                         auth_time=NOW) is False  # fmt: skip
    approved = a_device(status="approved", user_id="u1", auth_time=NOW - 1)
    assert await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW) == approved
    denied = a_device("d2", "BCDF-GHJK", status="denied")
    assert await store.get_device_by_user_code(digest("BCDF-GHJK"), NOW) == denied


async def test_an_expired_or_unknown_device_request_is_not_decided(store: Store) -> None:
    await store.save_device(a_device(expires_at=NOW + 10))
    for user_code in ["WDJB-MJHT", "XXXX-XXXX"]:
        assert await store.decide_device(digest(user_code), NOW + 10, approve=True, user_id="u1",
                                         auth_time=NOW) is False  # fmt: skip
    expired = a_device(expires_at=NOW + 10)
    assert await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW) == expired


async def test_a_poll_is_recorded_and_returns_the_previous_poll(store: Store) -> None:
    await store.save_device(a_device(expires_at=NOW + 10))
    assert await store.poll_device(digest("d1"), NOW + 1) == (
        a_device(expires_at=NOW + 10, last_polled_at=NOW + 1), None)  # fmt: skip
    assert await store.poll_device(digest("d1"), NOW + 6) == (
        a_device(expires_at=NOW + 10, last_polled_at=NOW + 6), NOW + 1)  # fmt: skip
    # an expired request is still returned (the caller answers expired_token)
    assert await store.poll_device(digest("d1"), NOW + 20) == (
        a_device(expires_at=NOW + 10, last_polled_at=NOW + 20), NOW + 6)  # fmt: skip
    assert await store.poll_device(digest("unknown"), NOW) is None


async def test_concurrent_polls_each_see_the_poll_before_them(
    store: Store, shared_backend: Backend
) -> None:
    await store.save_device(a_device())

    async def poll(racer: Store, index: int) -> object:
        return await racer.poll_device(digest("d1"), NOW + index)

    results = await asyncio.to_thread(race, shared_backend, poll)
    previous = [result[1] for result in results]
    assert previous.count(None) == 1, previous
    final = await store.poll_device(digest("d1"), NOW + 100)
    assert final is not None
    # the polls form one chain: every poll time but the last is someone's previous poll
    chained = sorted([*(p for p in previous if p is not None), final[1]])
    assert chained == [NOW + i for i in range(8)], previous


def a_device_grant(grant_id: str = "g1") -> Grant:
    return a_grant(grant_id, client_id="tv", scope=("openid", "profile"))


async def test_an_approved_device_request_is_consumed_once_with_its_grant(store: Store) -> None:
    await store.save_device(a_device())
    await store.decide_device(digest("WDJB-MJHT"), NOW, approve=True, user_id="u1",
                              auth_time=NOW - 5)
    refresh = a_refresh(grant_id="g1", client_id="tv")
    consumed = await store.consume_device(digest("d1"), NOW + 1, a_device_grant(), refresh)
    approved = a_device(status="approved", user_id="u1", auth_time=NOW - 5)
    assert consumed == replace(approved, consumed_at=NOW + 1, grant_id="g1")
    assert await store.get_grant("g1") == a_device_grant()
    assert await store.find_refresh(digest("r1")) == refresh
    again = await store.consume_device(digest("d1"), NOW + 2, a_device_grant("g2"),
                                       a_refresh("r2", "g2"))  # fmt: skip
    assert again is None
    assert await store.get_grant("g2") is None
    assert await store.find_refresh(digest("r2")) is None
    assert await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW) == consumed


@pytest.mark.parametrize("state", ["pending", "denied", "expired", "unknown"])
async def test_a_device_request_is_not_consumed_unless_approved_and_live(
    store: Store, state: str
) -> None:
    await store.save_device(a_device(expires_at=NOW + 10))
    if state != "pending":
        await store.decide_device(digest("WDJB-MJHT"), NOW, approve=state != "denied", user_id="u1",
                                  auth_time=NOW)  # fmt: skip
    when = NOW + 10 if state == "expired" else NOW + 1
    device_code = "unknown" if state == "unknown" else "d1"
    consumed = await store.consume_device(digest(device_code), when, a_device_grant(),
                                          a_refresh())  # fmt: skip
    assert consumed is None
    assert await store.get_grant("g1") is None
    assert await store.find_refresh(digest("r1")) is None
    stored = await store.get_device_by_user_code(digest("WDJB-MJHT"), NOW)
    assert stored is not None
    assert stored.consumed_at is None
    assert stored.grant_id is None


async def test_of_eight_concurrent_device_polls_exactly_one_gets_the_grant(
    store: Store, shared_backend: Backend
) -> None:
    for trial in range(5):
        await store.save_device(a_device(f"d{trial}", f"CODE-{trial}"))
        await store.decide_device(digest(f"CODE-{trial}"), NOW, approve=True, user_id="u1",
                                  auth_time=NOW)  # fmt: skip

        async def consume(racer: Store, index: int, trial: int = trial) -> object:
            grant_id = f"g{trial}-{index}"
            return await racer.consume_device(
                digest(f"d{trial}"),
                NOW,
                a_device_grant(grant_id),
                a_refresh(f"r{trial}-{index}", grant_id),
            )

        results = await asyncio.to_thread(race, shared_backend, consume)
        winners = [i for i, won in enumerate(results) if won is not None]
        assert len(winners) == 1, f"trial {trial}: winners {winners}"
        grants = [i for i in range(8) if await store.get_grant(f"g{trial}-{i}")]
        refreshes = [i for i in range(8) if await store.find_refresh(digest(f"r{trial}-{i}"))]
        assert grants == refreshes == winners


async def test_a_device_grant_with_another_grants_refresh_token_is_refused(store: Store) -> None:
    await store.save_device(a_device())
    await store.decide_device(digest("WDJB-MJHT"), NOW, approve=True, user_id="u1", auth_time=NOW)
    with pytest.raises(ValueError, match="grant"):
        await store.consume_device(digest("d1"), NOW, a_device_grant(), a_refresh("r1", "g2"))
    assert await store.consume_device(digest("d1"), NOW, a_device_grant(), None) is not None


async def test_purging_keeps_device_requests_for_the_replay_window(store: Store) -> None:
    await store.save_device(a_device("old", "OLD", expires_at=NOW - HOUR))
    await store.save_device(a_device("recent", "RECENT", expires_at=NOW - MINUTE))
    await store.save_device(a_device("live", "LIVE"))
    assert await store.purge_expired(NOW) == 1
    assert await store.poll_device(digest("old"), NOW) is None
    assert await store.poll_device(digest("recent"), NOW) is not None
    assert await store.get_device_by_user_code(digest("LIVE"), NOW) is not None
    assert await store.purge_expired(NOW + HOUR) == 2


# -- signing keys ------------------------------------------------------------------------------


async def test_signing_keys_are_added_listed_retired_and_deleted(store: Store) -> None:
    assert await store.list_keys() == []
    await store.add_key(a_key("k2", alg="RS256", created_at=NOW + 1))
    await store.add_key(a_key("k1"))
    with pytest.raises(AlreadyExists):
        await store.add_key(a_key("k1", alg="RS256"))
    listed = sorted(await store.list_keys(), key=lambda k: k.kid)
    assert listed == [a_key("k1"), a_key("k2", alg="RS256", created_at=NOW + 1)]
    assert await store.retire_key("k1", NOW + 2) is True
    assert await store.retire_key("k1", NOW + 3) is False
    assert await store.retire_key("k9", NOW) is False
    assert await store.delete_key("k2") is True
    assert await store.delete_key("k2") is False
    assert await store.list_keys() == [a_key("k1", retired_at=NOW + 2)]


# -- lifecycle ---------------------------------------------------------------------------------


async def test_migrating_twice_applies_nothing_the_second_time(backend: Backend) -> None:
    fresh = backend.open()
    try:
        applied = await fresh.migrate()
        assert applied
        assert applied == sorted(set(applied))
        assert await fresh.migrate() == []
        await fresh.ping()
    finally:
        await fresh.close()


async def test_concurrent_first_starts_apply_each_migration_once(shared_backend: Backend) -> None:
    async def migrate(racer: Store, index: int) -> object:
        return await racer.migrate()

    results = await asyncio.to_thread(race, shared_backend, migrate)
    applied = [version for result in results for version in result]
    assert applied
    assert len(applied) == len(set(applied))


async def test_data_survives_closing_and_reopening(store: Store, shared_backend: Backend) -> None:
    await store.add_client(a_client())
    await store.add_key(a_key())
    await store.save_code(a_code())
    await store.close()
    reopened = shared_backend.open()
    try:
        assert await reopened.migrate() == []
        assert await reopened.get_client("app") == a_client()
        assert await reopened.list_keys() == [a_key()]
        assert await reopened.redeem_code(digest("c1"), NOW, "g1", NOW + DAY, None) is not None
    finally:
        await reopened.close()


async def test_purging_removes_only_what_has_expired(store: Store) -> None:
    await store.save_pending(a_pending("p-old", expires_at=NOW))
    await store.save_pending(a_pending("p-live", expires_at=NOW + 1))
    await store.save_session(Session(digest("s-old"), "u1", NOW - HOUR, NOW))
    await store.save_session(Session(digest("s-live"), "u1", NOW - HOUR, NOW + 1))
    await store.save_code(a_code("c-old", expires_at=NOW - HOUR))
    await store.save_code(a_code("c-recent", expires_at=NOW - MINUTE))  # kept: replay detection
    await store.save_code(a_code("c-live", expires_at=NOW + 1))
    await store.save_grant(a_grant("g-old", expires_at=NOW), None)
    await store.save_grant(a_grant("g-live"), a_refresh("r-old", "g-live", expires_at=NOW))
    await store.save_grant(a_grant("g-live2"), a_refresh("r-live", "g-live2"))
    await store.revoke_access_token("jti-old", NOW)
    await store.revoke_access_token("jti-live", NOW + 1)

    assert await store.purge_expired(NOW) == 6
    assert await store.purge_expired(NOW) == 0
    assert await store.get_pending(digest("p-live"), NOW) is not None
    assert await store.take_pending(digest("p-old"), NOW - 1) is None
    assert await store.get_session(digest("s-live"), NOW) is not None
    assert await store.get_session(digest("s-old"), NOW - 1) is None
    assert await store.find_code(digest("c-old")) is None
    assert await store.find_code(digest("c-recent")) is not None
    assert await store.find_code(digest("c-live")) is not None
    assert await store.get_grant("g-old") is None
    assert await store.get_grant("g-live") is not None
    assert await store.find_refresh(digest("r-old")) is None
    assert await store.find_refresh(digest("r-live")) is not None
    assert await store.is_access_token_revoked("jti-old") is False
    assert await store.is_access_token_revoked("jti-live") is True


async def test_purging_an_expired_grant_takes_its_refresh_tokens(store: Store) -> None:
    await store.save_grant(a_grant(expires_at=NOW), a_refresh(expires_at=NOW + HOUR))
    assert await store.purge_expired(NOW) >= 1
    assert await store.get_grant("g1") is None
    assert await store.find_refresh(digest("r1")) is None


async def test_purging_deletes_at_most_one_batch_per_table(store: Store) -> None:
    for i in range(5):
        await store.save_session(Session(digest(f"s{i}"), "u1", NOW - HOUR, NOW - i))
    for i in range(3):
        await store.save_pending(a_pending(f"p{i}", expires_at=NOW - i))
    await store.save_session(Session(digest("live"), "u1", NOW, NOW + 1))
    assert [await store.purge_expired(NOW, batch=2) for _ in range(4)] == [4, 3, 1, 0]
    assert await store.get_session(digest("live"), NOW) is not None


# -- the embedded SQLite backend's file handling -----------------------------------------------


async def test_the_database_file_and_its_directory_are_created_private(sqlite_path: Path) -> None:
    opened = SQLiteStore(sqlite_path)
    assert not sqlite_path.parent.exists()  # nothing happens before first use
    try:
        await opened.migrate()
        await opened.add_key(a_key())
        assert stat.S_IMODE(sqlite_path.parent.stat().st_mode) == 0o700
        for path in sqlite_path.parent.iterdir():  # the database, its WAL and shared memory
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        names = {p.name for p in sqlite_path.parent.iterdir()}
        assert names == {sqlite_path.name + suffix for suffix in ("", "-wal", "-shm")}
    finally:
        await opened.close()


async def test_the_database_runs_in_wal_mode(store: Store, sqlite_path: Path) -> None:
    raw = sqlite3.connect(sqlite_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


async def test_a_database_locked_past_the_busy_timeout_is_unavailable(
    store: Store, sqlite_path: Path
) -> None:
    impatient = SQLiteStore(sqlite_path, busy_timeout_ms=50)
    holder = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            await impatient.save_code(a_code())
        holder.execute("ROLLBACK")
        await impatient.save_code(a_code())
        assert await impatient.find_code(digest("c1")) == a_code()
    finally:
        holder.close()
        await impatient.close()


def spoil(path: Path, damage: str) -> None:
    if damage == "directory":
        path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"this is not an SQLite database\n" * 200)


@pytest.mark.parametrize("damage", ["directory", "garbage"])
async def test_an_unusable_database_file_raises_store_unavailable(
    sqlite_path: Path, damage: str
) -> None:
    spoil(sqlite_path, damage)
    broken = SQLiteStore(sqlite_path)
    with pytest.raises(StoreUnavailable):
        await broken.migrate()
    with pytest.raises(StoreUnavailable):
        await broken.ping()
    await broken.close()


async def test_a_sql_mistake_is_not_disguised_as_unavailability() -> None:
    unmigrated = SQLiteStore(":memory:")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await unmigrated.get_client("app")
    await unmigrated.close()


def test_sqlite_urls_name_an_absolute_path_or_memory(tmp_path: Path) -> None:
    assert open_sqlite(f"sqlite://{tmp_path}/a%20b.db").path == f"{tmp_path}/a b.db"
    assert open_sqlite("sqlite:///:memory:").path == ":memory:"
    for bad in ["sqlite://host/x.db", "sqlite:///", "sqlite:///x.db?mode=ro", "file:///x.db"]:
        with pytest.raises(ValueError, match="sqlite:///"):
            open_sqlite(bad)


def test_open_store_dispatches_on_the_url_scheme_without_connecting(tmp_path: Path) -> None:
    opened = open_store(f"sqlite://{tmp_path}/lazy/proofkey.db")
    assert isinstance(opened, SQLiteStore)
    assert not (tmp_path / "lazy").exists()
    for url in ["postgresql://localhost/proofkey", "postgres://localhost:1/proofkey"]:
        assert type(open_store(url)).__name__ == "PostgresStore"  # nothing listens on port 1
    with pytest.raises(ValueError, match="unsupported"):
        open_store("mysql://localhost/proofkey")
