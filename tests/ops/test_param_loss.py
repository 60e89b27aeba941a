"""M4 over HTTP: a gateway that strips or mangles authorization parameters shows per client."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import PUBLIC_ID, authorize_params, new_flow, query_of
from tests.observability.scrape import deltas, key, quiet_test_client, scrape

PROBLEMS = "proofkey_authorization_param_problems_total"


@pytest.mark.parametrize(("extra", "parameter", "problem"), [
    ({"code_challenge": None}, "code_challenge", "missing"),
    ({"code_challenge_method": None}, "code_challenge", "method_missing"),
    ({"code_challenge_method": "plain"}, "code_challenge", "method_plain"),
    ({"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw"}, "code_challenge",
     "truncated"),
    ({"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM="}, "code_challenge",
     "malformed"),
    ({"state": "x" * 2100}, "state", "too_long"),
])
async def test_a_refused_request_counts_its_parameter_problem(
        http: httpx.AsyncClient, extra: dict[str, str | None], parameter: str,
        problem: str) -> None:
    before = await scrape(http)
    response = await http.get("/authorize", params=authorize_params(new_flow(), **extra))
    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "invalid_request"
    changed = deltas(before, await scrape(http))
    assert changed[key(PROBLEMS, client_id=PUBLIC_ID, parameter=parameter,
                       problem=problem)] == 1
    assert [k for k in changed if k[0] == PROBLEMS] == [
        key(PROBLEMS, client_id=PUBLIC_ID, parameter=parameter, problem=problem)]


@pytest.mark.parametrize(("state", "problem"), [("abc%2Fdef", "double_encoded"),
                                                ("abc def", "mangled")])
async def test_a_damaged_state_is_counted_though_the_request_goes_on(
        http: httpx.AsyncClient, state: str, problem: str) -> None:
    before = await scrape(http)
    response = await http.get("/authorize", params=authorize_params(new_flow(), state=state))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/interaction/")
    changed = deltas(before, await scrape(http))
    assert changed[key(PROBLEMS, client_id=PUBLIC_ID, parameter="state", problem=problem)] == 1


async def test_an_unregistered_redirect_uri_counts_for_its_client(
        http: httpx.AsyncClient) -> None:
    before = await scrape(http)
    flow = new_flow(redirect_uri="https://evil.example/cb")
    response = await http.get("/authorize", params=authorize_params(flow))
    assert response.status_code == 400
    changed = deltas(before, await scrape(http))
    assert changed[key(PROBLEMS, client_id=PUBLIC_ID, parameter="redirect_uri",
                       problem="rejected")] == 1


async def test_an_unknown_client_is_never_a_label(http: httpx.AsyncClient) -> None:
    before = await scrape(http)
    flow = new_flow(client_id="attacker-chosen-" + "x" * 50)
    response = await http.get("/authorize", params=authorize_params(flow))
    assert response.status_code == 400
    changed = deltas(before, await scrape(http))
    assert changed == {
        key("proofkey_authorization_requests_total", client_id="unknown", result="error"): 1,
        key("proofkey_auth_errors_total", endpoint="authorize", error="invalid_request"): 1,
    }


__all__ = ["quiet_test_client"]
