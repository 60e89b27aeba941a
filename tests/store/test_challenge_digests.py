"""The challenge-reuse signal's store, on every backend: one upsert tells a client's first
sighting of a code_challenge digest from a reuse within the window, rows outlive their window
only until the purge, and of concurrent first sightings exactly one is new. The per-client
``reject_reused_challenge`` flag round-trips."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.store.conftest import Backend
from tests.store.test_contract import NOW, a_client, race

from proofkey.crypto import digest
from proofkey.store.base import ChallengeReuse, ChallengeSighting, Store

DAY = 86400
A, B = digest("challenge-a"), digest("challenge-b")


async def test_the_first_sighting_is_new_and_each_later_one_a_counted_reuse(
    store: Store,
) -> None:
    first = await store.note_challenge("app", A, NOW, NOW + DAY)
    assert first == ChallengeSighting(count=1, first_seen=NOW)
    assert not first.reused
    second = await store.note_challenge("app", A, NOW + 5, NOW + 5 + DAY)
    third = await store.note_challenge("app", A, NOW + 9, NOW + 9 + DAY)
    assert second == ChallengeSighting(count=2, first_seen=NOW)
    assert second.reused
    assert third == ChallengeSighting(count=3, first_seen=NOW)


async def test_digests_are_per_client_and_per_challenge(store: Store) -> None:
    assert (await store.note_challenge("app", A, NOW, NOW + DAY)).count == 1
    assert (await store.note_challenge("other", A, NOW + 1, NOW + 1 + DAY)).count == 1
    assert (await store.note_challenge("app", B, NOW + 2, NOW + 2 + DAY)).count == 1
    assert (await store.note_challenge("app", A, NOW + 3, NOW + 3 + DAY)).count == 2


async def test_a_sighting_after_the_window_starts_over_even_before_the_purge(
    store: Store,
) -> None:
    await store.note_challenge("app", A, NOW, NOW + DAY)
    await store.note_challenge("app", A, NOW + 10, NOW + 10 + DAY)  # the window slides
    assert (await store.note_challenge("app", A, NOW + DAY + 5, NOW + 2 * DAY + 5)).count == 3
    late = await store.note_challenge("app", A, NOW + 3 * DAY + 6, NOW + 4 * DAY + 6)
    assert late == ChallengeSighting(count=1, first_seen=NOW + 3 * DAY + 6)


async def test_expired_digests_are_purged_and_then_new_again(store: Store) -> None:
    await store.note_challenge("app", A, NOW, NOW + DAY)
    await store.note_challenge("app", B, NOW, NOW + 2 * DAY)
    assert await store.purge_expired(NOW + DAY - 1) == 0
    assert await store.purge_expired(NOW + DAY) == 1
    assert await store.purge_expired(NOW + DAY) == 0
    assert (await store.note_challenge("app", A, NOW + DAY, NOW + 2 * DAY)).count == 1
    assert (await store.note_challenge("app", B, NOW + DAY, NOW + 2 * DAY)).count == 2


async def test_reuse_is_summed_per_client_over_the_digests_still_kept(store: Store) -> None:
    assert await store.challenge_reuse(NOW) == []
    for when in (NOW, NOW + 1, NOW + 2):
        await store.note_challenge("b-app", A, when, when + DAY)
    for when in (NOW, NOW + 1):
        await store.note_challenge("b-app", B, when, when + DAY)
        await store.note_challenge("a-app", A, when, when + 10)
    await store.note_challenge("quiet", A, NOW, NOW + DAY)
    assert await store.challenge_reuse(NOW + 5) == [
        ChallengeReuse("a-app", challenges=1, reuses=1),
        ChallengeReuse("b-app", challenges=2, reuses=3),
    ]
    assert await store.challenge_reuse(NOW + 11) == [ChallengeReuse("b-app", 2, 3)]


async def test_of_eight_concurrent_first_sightings_exactly_one_is_new(
    store: Store, shared_backend: Backend
) -> None:
    for trial in range(10):
        challenge = digest(f"race-{trial}")

        async def note(racer: Store, index: int, challenge: str = challenge) -> object:
            return await racer.note_challenge("app", challenge, NOW, NOW + DAY)

        results = await asyncio.to_thread(race, shared_backend, note)
        counts = sorted(sighting.count for sighting in results)
        assert counts == list(range(1, 9)), f"trial {trial}: {counts}"


async def test_of_eight_sightings_through_one_store_exactly_one_is_new(store: Store) -> None:
    """Every backend, sqlite-memory too; on PostgreSQL the eight use pooled connections."""
    results = await asyncio.gather(*(store.note_challenge("app", A, NOW, NOW + DAY)
                                     for _ in range(8)))
    assert sorted(sighting.count for sighting in results) == list(range(1, 9))


async def test_the_reject_reused_challenge_flag_round_trips(store: Store) -> None:
    strict = replace(a_client("strict"), reject_reused_challenge=True)
    await store.add_client(strict)
    await store.add_client(a_client("lenient"))
    assert await store.get_client("strict") == strict
    listed = {c.client_id: c.reject_reused_challenge for c in await store.list_clients()}
    assert listed == {"lenient": False, "strict": True}
