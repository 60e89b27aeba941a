"""M1 outcomes over HTTP: each refusal is counted under its own label on /metrics."""

from __future__ import annotations

import httpx

from proofkey.observability.events import TokenExchangeFailed
from proofkey.protocol.device import DEVICE_GRANT_TYPE
from tests.conftest import Recorder
from tests.http.test_device_grant import (  # noqa: F401 - fixtures
    INTERVAL,
    TV_ID,
    approve,
    box_secret,
    device,
    poll,
    started,
)
from tests.http.test_token_code_grant import assert_oauth_error, shift_clock
from tests.observability.scrape import key, scrape


async def test_a_replayed_device_code_is_counted_as_device_reused(
        device: httpx.AsyncClient, http: httpx.AsyncClient,  # noqa: F811
        events: Recorder) -> None:
    started_ = await started(device)
    await approve(http, started_["user_code"])
    shift_clock(device, INTERVAL)
    assert (await poll(device, started_["device_code"])).status_code == 200
    shift_clock(device, INTERVAL)
    assert_oauth_error(await poll(device, started_["device_code"]), "invalid_grant")

    failed = [e for e in events.of(TokenExchangeFailed) if isinstance(e, TokenExchangeFailed)]
    assert [e.outcome for e in failed] == ["device_reused"]
    samples = await scrape(http)
    exchanges = "proofkey_token_exchanges_total"
    assert samples[key(exchanges, client_id=TV_ID, grant_type=DEVICE_GRANT_TYPE,
                       outcome="device_reused")] == 1
    assert key(exchanges, client_id=TV_ID, grant_type=DEVICE_GRANT_TYPE,
               outcome="invalid_grant") not in samples


async def test_a_client_authentication_failure_counts_as_invalid_client_and_audits_why(
        http: httpx.AsyncClient, events: Recorder) -> None:
    response = await http.post("/token", data={"grant_type": "authorization_code",
                                               "client_id": "nobody", "code": "x"})
    assert_oauth_error(response, "invalid_client", status=401)
    failed = [e for e in events.of(TokenExchangeFailed) if isinstance(e, TokenExchangeFailed)]
    assert [(e.outcome, e.detail) for e in failed] == [("invalid_client", "unknown_client")]
    samples = await scrape(http)
    assert samples[key("proofkey_token_exchanges_total", client_id="unknown",
                       grant_type="authorization_code", outcome="invalid_client")] == 1
