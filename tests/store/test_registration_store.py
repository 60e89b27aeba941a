"""Dynamic registration on every backend: the new client columns round-trip, a client is
changed in place, its use is recorded from grant and refresh rows, unused dynamic clients are
found (never CLI ones), and an initial access token's uses are taken atomically."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.store.conftest import Backend
from tests.store.test_contract import DAY, NOW, a_client, a_grant, a_refresh, race

from proofkey.crypto import digest
from proofkey.models import Client, InitialAccessToken
from proofkey.store.base import Store


def a_dynamic(client_id: str = "dyn", **changes: Any) -> Client:
    return a_client(client_id, registered_by="dynamic", client_uri="https://app.example/",
                    logo_uri="https://app.example/logo.png",
                    registration_token_digest=digest("rat-" + client_id), **changes)


async def test_the_registration_columns_round_trip_and_default_for_cli_clients(
        store: Store) -> None:
    dynamic = a_dynamic()
    await store.add_client(dynamic)
    await store.add_client(a_client("cli"))
    assert await store.get_client("dyn") == dynamic
    cli = await store.get_client("cli")
    assert cli is not None
    assert (cli.registered_by, cli.registration_token_digest, cli.last_used_at,
            cli.client_uri, cli.logo_uri) == ("cli", None, None, "", "")


async def test_update_client_replaces_every_field_but_the_id(store: Store) -> None:
    await store.add_client(a_dynamic())
    changed = replace(a_dynamic(), redirect_uris=("https://other.example/cb",),
                      name="Renamed", logo_uri="")
    assert await store.update_client(changed)
    assert await store.get_client("dyn") == replace(changed, version=1)  # the store's count
    assert not await store.update_client(replace(changed, client_id="nobody"))
    assert await store.get_client("nobody") is None


async def test_use_is_recorded_from_grants_and_refresh_tokens_of_dynamic_clients_only(
        store: Store) -> None:
    await store.add_client(a_dynamic("app"))  # the grants' client
    await store.add_client(a_dynamic("idle"))
    await store.add_client(a_client("cli"))
    await store.save_grant(a_grant("g1", client_id="app", created_at=NOW), a_refresh())
    await store.save_grant(a_grant("g2", client_id="cli", created_at=NOW), None)
    assert await store.record_client_use(NOW - 10, NOW + 5) == 1
    used = await store.get_client("app")
    assert used is not None
    assert used.last_used_at == NOW + 5
    assert (await store.get_client("cli")).last_used_at is None  # type: ignore[union-attr]
    assert await store.record_client_use(NOW - 10, NOW + 5) == 0  # nothing newer to record
    assert await store.record_client_use(NOW + 1, NOW + 9) == 0  # no use since NOW + 1


async def test_unused_dynamic_clients_are_found_and_cli_clients_never(store: Store) -> None:
    await store.add_client(a_dynamic("never", created_at=NOW - 40 * DAY))
    await store.add_client(a_dynamic("fresh", created_at=NOW - DAY))
    await store.add_client(a_dynamic("stale", created_at=NOW - 90 * DAY,
                                     last_used_at=NOW - 31 * DAY))
    await store.add_client(a_dynamic("active", created_at=NOW - 90 * DAY,
                                     last_used_at=NOW - DAY))
    await store.add_client(a_client("cli", created_at=NOW - 400 * DAY))
    found = [c.client_id for c in await store.unused_clients(NOW - 30 * DAY)]
    assert found == ["never", "stale"]


def a_token(secret: str = "iat-1", uses: int = 1, expires_at: int = NOW + 3600,  # noqa: S107
            token_id: str = "t1") -> InitialAccessToken:  # noqa: S107 - test values
    return InitialAccessToken(digest(secret), token_id, NOW, expires_at, uses)


async def test_an_initial_token_gives_its_uses_then_nothing(store: Store) -> None:
    await store.add_initial_token(a_token(uses=2))
    first = await store.use_initial_token(digest("iat-1"), NOW)
    assert first is not None
    assert first.uses_left == 1
    assert await store.use_initial_token(digest("iat-1"), NOW) is not None
    assert await store.use_initial_token(digest("iat-1"), NOW) is None
    assert await store.use_initial_token(digest("other"), NOW) is None
    assert [t.uses_left for t in await store.list_initial_tokens()] == [0]


async def test_an_expired_or_revoked_initial_token_gives_nothing(store: Store) -> None:
    await store.add_initial_token(a_token("old", expires_at=NOW, token_id="old"))
    await store.add_initial_token(a_token("gone", token_id="gone"))
    assert await store.use_initial_token(digest("old"), NOW) is None
    assert await store.revoke_initial_token("gone")
    assert not await store.revoke_initial_token("gone")
    assert await store.use_initial_token(digest("gone"), NOW) is None
    assert await store.purge_expired(NOW + 1) >= 1
    assert await store.list_initial_tokens() == []


async def test_the_last_use_of_an_initial_token_goes_to_exactly_one_of_many(
        store: Store, backend: Backend) -> None:
    if not backend.shared:
        return  # one in-memory database per store: nothing to race on
    await store.add_initial_token(a_token(uses=1))

    async def attempt(other: Store, index: int) -> object:
        return await other.use_initial_token(digest("iat-1"), NOW)

    results = race(backend, attempt)
    assert sum(r is not None for r in results) == 1
