"""The kit's DPoP state: the jti replay caches (per process, and shared through Redis), the
resource nonces, and DPoP-bound tokens verified by introspection (RFC 9449 §6.2, §9, §11.1)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from redis.asyncio import Redis

from proofkey.resource import (
    DpopPolicy,
    IntrospectionVerifier,
    InvalidDpopProofError,
    InvalidTokenError,
    MemoryReplayCache,
    Presentation,
    RedisReplayCache,
    RotatingNonces,
    UseDpopNonceError,
    VerifierUnavailable,
)
from tests.resource.conftest import AUDIENCE, ISSUER, Clock, dpop_proof, thumbprint
from tests.scale.conftest import REDIS_URL, missing, reachable

KEY = ECKey.generate_key("P-256")

# -- the per-process cache -------------------------------------------------------------------


async def test_the_memory_cache_remembers_an_id_until_its_window_ends() -> None:
    clock = Clock()
    cache = MemoryReplayCache(clock=clock.wall)
    until = int(clock.wall()) + 300
    assert await cache.first_use("a", until)
    assert not await cache.first_use("a", until)
    assert await cache.first_use("b", until)
    clock.offset += 301
    assert await cache.first_use("a", until + 600)  # the old record had expired
    assert len(cache) == 1  # and the expired ones are gone


async def test_the_memory_cache_is_bounded_and_counts_what_it_had_to_drop() -> None:
    clock = Clock()
    cache = MemoryReplayCache(max_entries=3, clock=clock.wall)
    until = int(clock.wall()) + 300
    for key in "abcd":
        assert await cache.first_use(key, until)
    assert (len(cache), cache.evicted) == (3, 1)
    assert not await cache.first_use("d", until)
    with pytest.raises(ValueError, match="at least 1"):
        MemoryReplayCache(max_entries=0)


async def test_of_concurrent_uses_of_one_id_exactly_one_is_first() -> None:
    cache = MemoryReplayCache()
    results = await asyncio.gather(*(cache.first_use("same", 2**40) for _ in range(50)))
    assert results.count(True) == 1


# -- the shared cache (Redis) ----------------------------------------------------------------


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    why = reachable(REDIS_URL, 6379)
    if why is not None:
        missing("Redis", why, "PROOFKEY_TEST_REDIS_URL")
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def test_two_processes_sharing_redis_accept_a_proof_once(redis: Redis) -> None:
    prefix = f"proofkey-test:{secrets.token_hex(8)}:"
    # Two API processes: two clients, two caches, one Redis.
    other = Redis.from_url(REDIS_URL)
    try:
        first, second = (RedisReplayCache(redis, prefix=prefix),
                         RedisReplayCache(other, prefix=prefix))
        until = int(Clock().wall()) + 300
        results = await asyncio.gather(*(cache.first_use(f"jti-{n // 2}", until)
                                         for n, cache in enumerate([first, second] * 20)))
        assert results.count(True) == 20  # one per distinct id
        assert not await first.first_use("jti-0", until)
        ttl = await redis.ttl(prefix + "jti-0")
        assert 0 < ttl <= 300  # kept only for the proof's window
    finally:
        await other.aclose()
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)


async def test_an_unreachable_redis_is_503_not_a_pass() -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        with pytest.raises(VerifierUnavailable):
            await RedisReplayCache(down).first_use("x", int(Clock().wall()) + 60)
    finally:
        await down.aclose()


# -- resource nonces (RFC 9449 §9) -----------------------------------------------------------


def test_nonces_rotate_and_instances_sharing_a_secret_accept_each_others() -> None:
    clock = Clock()
    one = RotatingNonces(b"s" * 32, period=60, clock=clock.wall)
    two = RotatingNonces(b"s" * 32, period=60, clock=clock.wall)
    stranger = RotatingNonces(clock=clock.wall)  # its own random secret
    nonce = one.current()
    assert two.accepts(nonce)
    assert not stranger.accepts(nonce)
    assert all(c.isalnum() or c in "-_." for c in nonce)  # RFC 9449 §8.1 NQCHAR
    clock.offset += 60
    assert one.current() != nonce
    assert one.accepts(nonce)
    clock.offset += 60
    assert not one.accepts(nonce)
    assert not one.accepts("x" * 500)
    with pytest.raises(ValueError, match="16 bytes"):
        RotatingNonces(b"short")


# -- introspection mode (RFC 9449 §6.2) ------------------------------------------------------


def introspection_answer(token: str, **extra: Any) -> dict[str, Any]:
    now = int(Clock().wall())
    return {"active": True, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now,
            "client_id": "app", "sub": "user-1", "scope": "mcp:tools", **extra}


@pytest.fixture
async def introspecting() -> AsyncIterator[tuple[IntrospectionVerifier, dict[str, Any]]]:
    answer: dict[str, Any] = {}

    async def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        yield IntrospectionVerifier(
            issuer=ISSUER, audience=AUDIENCE, client_id="api", client_secret="s",
            introspection_endpoint=f"{ISSUER}/introspect", http=http), answer


async def test_introspection_mode_binds_the_token_to_the_answers_cnf(
        introspecting: tuple[IntrospectionVerifier, dict[str, Any]]) -> None:
    verifier, answer = introspecting
    token = "opaque-token-1"
    answer.update(introspection_answer(token, token_type="DPoP",
                                       cnf={"jkt": thumbprint(KEY)}))
    url = AUDIENCE
    proof = dpop_proof(KEY, token=token)
    claims = await verifier.verify(token, presentation=Presentation.dpop(
        proof, method="GET", url=url))
    assert claims.jkt == thumbprint(KEY)
    with pytest.raises(InvalidDpopProofError, match="already used"):  # the cache keeps cnf
        await verifier.verify(token, presentation=Presentation.dpop(proof, method="GET",
                                                                    url=url))
    with pytest.raises(InvalidTokenError, match="DPoP-bound"):
        await verifier.verify(token)
    other = ECKey.generate_key("P-256")
    with pytest.raises(InvalidTokenError, match="bound to"):
        await verifier.verify(token, presentation=Presentation.dpop(
            dpop_proof(other, token=token), method="GET", url=url))


async def test_introspection_mode_with_nonces_and_a_required_scheme(
        introspecting: tuple[IntrospectionVerifier, dict[str, Any]]) -> None:
    verifier, answer = introspecting
    verifier.dpop = DpopPolicy(required=True, nonces=RotatingNonces())
    answer.update(introspection_answer("t"))
    with pytest.raises(InvalidTokenError, match="only DPoP-bound"):
        await verifier.verify("t")
    answer.update(cnf={"jkt": thumbprint(KEY)})
    with pytest.raises(UseDpopNonceError) as needs_nonce:
        await verifier.verify("t2", presentation=Presentation.dpop(
            dpop_proof(KEY, token="t2"), method="GET", url=AUDIENCE))
    nonce = needs_nonce.value.nonce
    await verifier.verify("t2", presentation=Presentation.dpop(
        dpop_proof(KEY, token="t2", nonce=nonce), method="GET", url=AUDIENCE))
