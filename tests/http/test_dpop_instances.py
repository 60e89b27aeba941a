"""Two app instances on one PostgreSQL share DPoP state (RFC 9449 §11.1, §8): a proof used at
one is a replay at the other, of parallel uses across both exactly one wins, and a nonce one
hands out is accepted by the other (no per-request state, one secret in the database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from proofkey.models import Secret
from proofkey.observability.events import EventBus
from proofkey.settings import Settings
from proofkey.web.app import create_app
from tests.helpers import ISSUER, TestClock, get_code, new_flow
from tests.http.dpop_proofs import Prover, app_now, code_data, post_token
from tests.http.test_token_code_grant import assert_oauth_error


@pytest.fixture
def store_backend() -> str:
    return "postgres"  # instances share state only through a server database


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"dpop_nonces": True}


@pytest.fixture
async def two(settings: Settings, seeded: Secret) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(settings, bus=EventBus(), clock=TestClock())
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients.append(await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=ISSUER)))
        yield clients


async def nonce_of(http: httpx.AsyncClient) -> str:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await post_token(http, code_data(flow, code), Prover().proof(iat=app_now(http)))
    assert_oauth_error(response, "use_dpop_nonce")
    return response.headers["dpop-nonce"]


async def test_a_nonce_from_one_instance_is_accepted_by_the_other(
        two: list[httpx.AsyncClient]) -> None:
    a, b = two
    nonce = await nonce_of(a)
    assert await nonce_of(b) == nonce
    flow = new_flow()
    code = await get_code(b, flow)
    response = await post_token(b, code_data(flow, code),
                                Prover().proof(iat=app_now(b), nonce=nonce))
    assert response.status_code == 200, response.text


async def test_a_proof_used_at_one_instance_is_a_replay_at_the_other(
        two: list[httpx.AsyncClient]) -> None:
    a, b = two
    nonce = await nonce_of(a)
    proof = Prover().proof(iat=app_now(a), nonce=nonce)
    flow_a, flow_b = new_flow(), new_flow()
    code_a, code_b = await get_code(a, flow_a), await get_code(b, flow_b)
    assert (await post_token(a, code_data(flow_a, code_a), proof)).status_code == 200
    assert_oauth_error(await post_token(b, code_data(flow_b, code_b), proof),
                       "invalid_dpop_proof")


async def test_of_eight_parallel_uses_across_two_instances_exactly_one_wins(
        two: list[httpx.AsyncClient]) -> None:
    nonce = await nonce_of(two[0])
    proof = Prover().proof(iat=app_now(two[0]), nonce=nonce)
    calls = []
    for i in range(8):
        http = two[i % 2]
        flow = new_flow()
        calls.append((http, flow, await get_code(http, flow)))
    responses = await asyncio.gather(*(post_token(http, code_data(flow, code), proof)
                                       for http, flow, code in calls))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 7
