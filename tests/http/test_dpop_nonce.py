"""Server-provided DPoP nonces at the token endpoint (RFC 9449 §8), over HTTP on SQLite and
PostgreSQL: off by default; when on, a proof without the current nonce gets ``use_dpop_nonce``
and the nonce in ``DPoP-Nonce``, every answer carries the current one, and it rotates."""

from __future__ import annotations

import httpx
import pytest

from proofkey.observability.events import DpopRefused
from tests.conftest import Recorder
from tests.helpers import get_code, new_flow
from tests.http.dpop_proofs import Prover, app_now, code_data, post_token
from tests.http.test_token_code_grant import assert_oauth_error, shift_clock

NONCES = {"dpop_nonces": True, "dpop_nonce_seconds": 60}


async def exchange_with(http: httpx.AsyncClient, prover: Prover,
                        nonce: str | None) -> httpx.Response:
    flow = new_flow()
    code = await get_code(http, flow)
    claims = {} if nonce is None else {"nonce": nonce}
    return await post_token(http, code_data(flow, code),
                            prover.proof(iat=app_now(http), **claims))


async def test_nonces_are_off_by_default(http: httpx.AsyncClient) -> None:
    response = await exchange_with(http, Prover(), None)
    assert response.status_code == 200, response.text
    assert "dpop-nonce" not in response.headers


@pytest.mark.parametrize("settings_overrides", [NONCES])
async def test_a_required_nonce_is_handed_out_then_accepted(
        http: httpx.AsyncClient, events: Recorder) -> None:
    prover = Prover()
    first = await exchange_with(http, prover, None)
    assert_oauth_error(first, "use_dpop_nonce")
    nonce = first.headers["dpop-nonce"]
    assert [e.reason for e in events.of(DpopRefused)] == ["nonce"]  # type: ignore[attr-defined]
    second = await exchange_with(http, prover, nonce)
    assert second.status_code == 200, second.text
    assert second.json()["token_type"] == "DPoP"
    assert second.headers["dpop-nonce"] == nonce  # still this period's


@pytest.mark.parametrize("settings_overrides", [NONCES])
async def test_a_made_up_nonce_is_refused(http: httpx.AsyncClient) -> None:
    response = await exchange_with(http, Prover(), "A" * 32)
    assert_oauth_error(response, "use_dpop_nonce")
    assert response.headers["dpop-nonce"] != "A" * 32


@pytest.mark.parametrize("settings_overrides", [NONCES])
async def test_the_nonce_rotates_and_the_previous_one_is_accepted_one_more_period(
        http: httpx.AsyncClient) -> None:
    prover = Prover()
    old = (await exchange_with(http, prover, None)).headers["dpop-nonce"]
    shift_clock(http, 60)
    response = await exchange_with(http, prover, old)
    assert response.status_code == 200, response.text
    new = response.headers["dpop-nonce"]
    assert new != old
    shift_clock(http, 60)
    stale = await exchange_with(http, prover, old)
    assert_oauth_error(stale, "use_dpop_nonce")
    assert stale.headers["dpop-nonce"] not in {old, new}
