"""A scripted mix of logins over HTTP moves each SLI by exactly what it should, and nothing the
server logs during the run contains a verifier, code, token, password or secret."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from proofkey.crypto import fingerprint
from proofkey.ops import logscan
from proofkey.protocol import pkce
from tests.helpers import (
    PASSWORD,
    PUBLIC_ID,
    WEB_ID,
    WEB_REDIRECT,
    authorize_params,
    exchange,
    get_code,
    new_flow,
    query_of,
)
from tests.observability.scrape import deltas, key, quiet_test_client, scrape, show

N_SUCCESS, K_WRONG_VERIFIER, J_MISSING_CHALLENGE = 3, 2, 2


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"log_level": "debug"}


async def test_scripted_mix_moves_each_sli_by_exactly_its_share(
        http: httpx.AsyncClient, web_secret: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    secrets: list[str] = [PASSWORD, web_secret]
    before = await scrape(http)

    # n successes (public client), the first one through the login and consent pages.
    first: tuple[Any, str] | None = None
    for _ in range(N_SUCCESS):
        flow = new_flow()
        code = await get_code(http, flow)
        response = await exchange(http, flow, code)
        assert response.status_code == 200, response.text
        body = response.json()
        secrets += [flow.verifier, code, body["access_token"], body["refresh_token"],
                    body["id_token"]]
        first = first or (flow, code)

    # A confidential client: Basic authentication, then one refresh-token rotation.
    web = new_flow(WEB_ID, WEB_REDIRECT)
    code = await get_code(http, web)
    response = await http.post("/token", auth=(WEB_ID, web_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": WEB_REDIRECT,
        "code_verifier": web.verifier})
    assert response.status_code == 200, response.text
    refresh = response.json()["refresh_token"]
    response = await http.post("/token", auth=(WEB_ID, web_secret), data={
        "grant_type": "refresh_token", "refresh_token": refresh})
    assert response.status_code == 200, response.text
    secrets += [web.verifier, code, refresh, response.json()["refresh_token"],
                response.json()["access_token"]]

    # k wrong verifiers: each burns its code (verifier_mismatch).
    for _ in range(K_WRONG_VERIFIER):
        flow = new_flow()
        code = await get_code(http, flow)
        wrong = pkce.new_verifier()
        response = await exchange(http, flow, code, code_verifier=wrong)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        secrets += [flow.verifier, code, wrong]

    # j authorization requests whose code_challenge was stripped on the way.
    for _ in range(J_MISSING_CHALLENGE):
        flow = new_flow()
        response = await http.get("/authorize", params=authorize_params(
            flow, code_challenge=None))
        assert response.status_code == 303
        assert query_of(response.headers["location"])["error"] == "invalid_request"

    # One replay of a redeemed code.
    assert first is not None
    response = await exchange(http, first[0], first[1])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"

    # One secret logged by mistake.
    leaked = pkce.new_verifier()
    logging.getLogger("proofkey.flows.debugging").warning("client sent verifier %s", leaked)
    secrets.append(leaked)

    after = await scrape(http)
    auth_code = "authorization_code"
    expected = {
        key("proofkey_token_exchanges_total", client_id=PUBLIC_ID, grant_type=auth_code,
            outcome="success"): N_SUCCESS,
        key("proofkey_token_exchanges_total", client_id=PUBLIC_ID, grant_type=auth_code,
            outcome="verifier_mismatch"): K_WRONG_VERIFIER,
        key("proofkey_token_exchanges_total", client_id=PUBLIC_ID, grant_type=auth_code,
            outcome="code_reused"): 1,
        key("proofkey_token_exchanges_total", client_id=WEB_ID, grant_type=auth_code,
            outcome="success"): 1,
        key("proofkey_token_exchanges_total", client_id=WEB_ID, grant_type="refresh_token",
            outcome="success"): 1,
        key("proofkey_pkce_verifier_mismatches_total", client_id=PUBLIC_ID): K_WRONG_VERIFIER,
        key("proofkey_auth_start_duration_seconds_count", client_id=PUBLIC_ID):
            N_SUCCESS + K_WRONG_VERIFIER,
        key("proofkey_auth_start_duration_seconds_count", client_id=WEB_ID): 1,
        key("proofkey_token_request_duration_seconds_count", grant_type=auth_code,
            result="success"): N_SUCCESS + 1,
        key("proofkey_token_request_duration_seconds_count", grant_type=auth_code,
            result="error"): K_WRONG_VERIFIER + 1,
        key("proofkey_token_request_duration_seconds_count", grant_type="refresh_token",
            result="success"): 1,
        key("proofkey_authorization_requests_total", client_id=PUBLIC_ID, result="started"):
            N_SUCCESS + K_WRONG_VERIFIER,
        key("proofkey_authorization_requests_total", client_id=PUBLIC_ID, result="error"):
            J_MISSING_CHALLENGE,
        key("proofkey_authorization_requests_total", client_id=WEB_ID, result="started"): 1,
        key("proofkey_authorization_param_problems_total", client_id=PUBLIC_ID,
            parameter="code_challenge", problem="missing"): J_MISSING_CHALLENGE,
        key("proofkey_auth_errors_total", endpoint="authorize", error="invalid_request"):
            J_MISSING_CHALLENGE,
        key("proofkey_auth_errors_total", endpoint="token", error="invalid_grant"):
            K_WRONG_VERIFIER + 1,
        key("proofkey_logins_total", result="success"): 1,
        key("proofkey_log_redactions_total", kind="verifier"): 1,
    }
    changed = deltas(before, after)
    assert changed == expected, f"got:\n{show(changed)}\nwanted:\n{show(expected)}"

    # Everything the server wrote while this ran: JSON lines, and no secret among them.
    captured = capsys.readouterr()
    written = captured.err + captured.out
    lines = [line for line in written.splitlines() if line.strip()]
    assert len(lines) > 20, written
    records = [json.loads(line) for line in lines]
    leaks = [s for s in secrets if s in written]
    assert not leaks, f"{len(leaks)} secret values reached the log"
    assert f"[REDACTED:verifier fp={fingerprint(leaked)}]" in written
    assert [line for line in lines if logscan.scan_line(line)] == []  # ``scan-logs`` agrees
    audit = [r["audit"]["event"] for r in records if "audit" in r]
    for event in ("LoginSucceeded", "CodeIssued", "TokenExchanged", "TokenExchangeFailed",
                  "CodeReplayed", "AuthorizationFailed", "RefreshRotated"):
        assert event in audit, event


__all__ = ["quiet_test_client"]
