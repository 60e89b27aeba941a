"""The challenge-reuse signal over HTTP: a client that sends a code_challenge it sent before
within the window is counted (event, audit line, metric) and, when flagged
``reject_reused_challenge``, refused — at /authorize with a redirect carrying state and iss, at
/par with 400 JSON. The challenge and the verifier appear in no audit line and no metric."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from proofkey.crypto import fingerprint
from proofkey.observability.events import ChallengeReused
from proofkey.settings import Settings
from tests.conftest import Recorder
from tests.helpers import (
    ISSUER,
    PUBLIC_ID,
    WEB_ID,
    WEB_REDIRECT,
    Flow,
    authorize_params,
    new_flow,
    query_of,
)
from tests.http.test_token_code_grant import (
    app_services,
    assert_oauth_error,
    register,
    shift_clock,
)
from tests.observability.scrape import key, scrape
from tests.ops.test_ops_endpoints import ADMIN_TOKEN

STRICT_ID = "strict-app"
STRICT_REDIRECT = "http://127.0.0.1/strict-cb"
REUSE = "proofkey_pkce_challenge_reuse_total"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, object]:
    return {"audit_log": str(tmp_path / "audit.log")}


@pytest.fixture
async def strict(http: httpx.AsyncClient, settings: Settings) -> str:
    """A public client flagged reject_reused_challenge, registered in the running app."""
    await register(settings, STRICT_ID, client_type="public", redirect_uris=[STRICT_REDIRECT],
                   reject_reused_challenge=True)
    return STRICT_ID


def reused(events: Recorder) -> list[ChallengeReused]:
    return [e for e in events.of(ChallengeReused) if isinstance(e, ChallengeReused)]


def audit_text(settings: Settings) -> str:
    return Path(settings.audit_log).read_text()


def audit_of(settings: Settings, event: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in audit_text(settings).splitlines()]
    return [line["audit"] for line in lines if line["audit"]["event"] == event]


async def authorize(http: httpx.AsyncClient, flow: Flow) -> httpx.Response:
    response = await http.get("/authorize", params=authorize_params(flow))
    assert response.status_code == 303, response.text
    return response


async def test_a_reused_challenge_is_counted_audited_and_by_default_proceeds(
        http: httpx.AsyncClient, events: Recorder, settings: Settings) -> None:
    flow = new_flow()
    first = await authorize(http, flow)
    again = await authorize(http, flow)
    third = await authorize(http, flow)
    for response in (first, again, third):  # on to login: the flag is off
        assert response.headers["location"].startswith("/interaction/")
    signals = reused(events)
    assert [(e.client_id, e.count, e.endpoint, e.refused) for e in signals] == [
        (PUBLIC_ID, 2, "authorize", False), (PUBLIC_ID, 3, "authorize", False)]
    assert {e.challenge_fp for e in signals} == {fingerprint(flow.challenge)}
    assert signals[0].first_seen == signals[1].first_seen
    samples = await scrape(http)
    assert samples[key(REUSE, client_id=PUBLIC_ID)] == 2
    lines = audit_of(settings, "ChallengeReused")
    assert [(a["client_id"], a["challenge_fp"], a["count"], a["first_seen"]) for a in lines] == [
        (PUBLIC_ID, fingerprint(flow.challenge), n, signals[0].first_seen) for n in (2, 3)]
    text = (await http.get("/metrics")).text + audit_text(settings)
    assert flow.challenge not in text
    assert flow.verifier not in text


async def test_fresh_challenges_are_never_counted(http: httpx.AsyncClient,
                                                  events: Recorder) -> None:
    for _ in range(3):
        await authorize(http, new_flow())
    assert reused(events) == []
    assert (await scrape(http)).get(key(REUSE, client_id=PUBLIC_ID), 0) == 0


async def test_the_same_challenge_from_another_client_is_not_a_reuse(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    await authorize(http, flow)
    other = Flow(flow.verifier, flow.challenge, flow.state, flow.nonce, WEB_REDIRECT, WEB_ID)
    await authorize(http, other)
    assert reused(events) == []
    samples = await scrape(http)
    assert samples.get(key(REUSE, client_id=PUBLIC_ID), 0) == 0
    assert samples.get(key(REUSE, client_id=WEB_ID), 0) == 0


async def test_a_challenge_is_forgotten_after_the_window(http: httpx.AsyncClient,
                                                         events: Recorder,
                                                         settings: Settings) -> None:
    flow = new_flow()
    await authorize(http, flow)
    shift_clock(http, settings.challenge_reuse_window_seconds + 1)
    await authorize(http, flow)
    assert reused(events) == []


async def test_a_flagged_client_has_a_reused_challenge_refused_by_redirect_with_state_and_iss(
        http: httpx.AsyncClient, strict: str, events: Recorder) -> None:
    flow = new_flow(strict, STRICT_REDIRECT)
    first = await authorize(http, flow)
    assert first.headers["location"].startswith("/interaction/")
    refused = await authorize(http, flow)
    location = refused.headers["location"]
    assert location.startswith(STRICT_REDIRECT + "?")
    query = query_of(location)
    assert query["error"] == "invalid_request"
    assert "code_challenge was already used" in query["error_description"]
    assert (query["state"], query["iss"]) == (flow.state, ISSUER)
    assert flow.challenge not in location
    assert [(e.client_id, e.count, e.refused) for e in reused(events)] == [(strict, 2, True)]
    assert (await scrape(http))[key(REUSE, client_id=strict)] == 1


async def test_a_flagged_client_has_a_reused_challenge_refused_at_par(
        http: httpx.AsyncClient, strict: str, events: Recorder) -> None:
    flow = new_flow(strict, STRICT_REDIRECT)
    pushed = await http.post("/par", data=authorize_params(flow))
    assert pushed.status_code == 201, pushed.text
    body = assert_oauth_error(await http.post("/par", data=authorize_params(flow)),
                              "invalid_request", secrets=[flow.challenge, flow.verifier])
    assert "code_challenge was already used" in body["error_description"]
    assert [(e.endpoint, e.count, e.refused) for e in reused(events)] == [("par", 2, True)]


@pytest.mark.parametrize("settings_overrides", [{"pushed_requests_per_client": 1}])
async def test_a_pushed_request_refused_by_the_row_cap_is_no_sighting(
        http: httpx.AsyncClient, strict: str, events: Recorder) -> None:
    """A push the cap refused (429) stored nothing: the same request retried once the slot is
    free is not a reuse, even for a flagged client."""
    first = await http.post("/par", data=authorize_params(new_flow(strict, STRICT_REDIRECT)))
    assert first.status_code == 201, first.text
    flow = new_flow(strict, STRICT_REDIRECT)
    refused = await http.post("/par", data=authorize_params(flow))
    assert refused.status_code == 429, refused.text
    shift_clock(http, 61)  # the pushed request's lifetime: the slot is free again
    retried = await http.post("/par", data=authorize_params(flow))
    assert retried.status_code == 201, retried.text
    assert reused(events) == []


async def test_a_pushed_request_is_noted_once_at_par_not_again_at_authorize(
        http: httpx.AsyncClient, strict: str, events: Recorder) -> None:
    flow = new_flow(strict, STRICT_REDIRECT)
    request_uri = (await http.post("/par", data=authorize_params(flow))).json()["request_uri"]
    response = await http.get("/authorize", params={"client_id": strict,
                                                     "request_uri": request_uri})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/interaction/")
    assert reused(events) == []
    # The same challenge in the front channel afterwards is a reuse, and refused.
    again = query_of((await authorize(http, flow)).headers["location"])
    assert again["error"] == "invalid_request"
    assert [(e.endpoint, e.count) for e in reused(events)] == [("authorize", 2)]


@pytest.mark.parametrize("settings_overrides", [{"challenge_reuse_window_seconds": 0}])
async def test_a_zero_window_turns_the_signal_off(http: httpx.AsyncClient, strict: str,
                                                  events: Recorder) -> None:
    flow = new_flow(strict, STRICT_REDIRECT)
    for _ in range(2):
        assert (await authorize(http, flow)).headers["location"].startswith("/interaction/")
    assert reused(events) == []


class TestStatusPage:
    """The status page lists the reuse per client that the store holds for the window."""

    @pytest.fixture
    def settings_overrides(self, tmp_path: Path) -> dict[str, object]:
        return {"audit_log": str(tmp_path / "audit.log"), "admin_token": ADMIN_TOKEN}

    async def status(self, http: httpx.AsyncClient) -> str:
        response = await http.get("/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert response.status_code == 200, response.text
        return response.text

    async def test_it_shows_reuse_per_client_in_the_window(
            self, http: httpx.AsyncClient, settings: Settings) -> None:
        assert "No client sent a code_challenge twice in the last 24 h." in await self.status(
            http)
        fixed, other = new_flow(), new_flow(WEB_ID, WEB_REDIRECT)
        for flow, times in ((fixed, 3), (other, 2), (new_flow(), 1)):
            for _ in range(times):
                await authorize(http, flow)
        html = await self.status(http)
        section = html[html.index('id="challenge-reuse"'):]
        rows = re.findall(r"<tr><td><code>([^<]+)</code></td><td>(\d+)</td><td>(\d+)</td></tr>",
                          section)
        assert rows == [(PUBLIC_ID, "1", "2"), (WEB_ID, "1", "1")]
        assert fixed.challenge not in html
        shift_clock(http, settings.challenge_reuse_window_seconds + 1)
        assert "No client sent a code_challenge twice" in await self.status(http)


class TestDynamicClients:
    """The flag is the operator's policy, not client metadata: an RFC 7592 update keeps it."""

    @pytest.fixture
    def settings_overrides(self, tmp_path: Path) -> dict[str, object]:
        return {"audit_log": str(tmp_path / "audit.log"), "registration": "open",
                "client_cache_ms": 0}

    async def test_an_rfc7592_update_keeps_reject_reused_challenge(
            self, http: httpx.AsyncClient) -> None:
        native = {"redirect_uris": [STRICT_REDIRECT], "token_endpoint_auth_method": "none",
                  "grant_types": ["authorization_code"], "client_name": "Tool"}
        body = (await http.post("/register", json=native)).json()
        client_id, token = body["client_id"], body["registration_access_token"]
        store = app_services(http).store
        registered = await store.get_client(client_id)
        assert registered is not None
        assert not registered.reject_reused_challenge
        # What `proofkey client set <id> --reject-reused-challenge` does.
        assert await store.update_client(replace(registered, reject_reused_challenge=True))
        updated = await http.put(body["registration_client_uri"], headers={
            "authorization": f"Bearer {token}"}, json={**native, "client_id": client_id,
                                                       "client_name": "Renamed"})
        assert updated.status_code == 200, updated.text
        stored = await store.get_client(client_id)
        assert stored is not None
        assert (stored.name, stored.reject_reused_challenge) == ("Renamed", True)
        flow = new_flow(client_id, STRICT_REDIRECT)
        await authorize(http, flow)
        refused = query_of((await authorize(http, flow)).headers["location"])
        assert refused["error"] == "invalid_request"
