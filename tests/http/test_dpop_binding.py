"""What DPoP binds at the authorization server (RFC 9449 §5, §5.2, §10), over HTTP on SQLite
and PostgreSQL: a code issued for ``dpop_jkt``, a public client's refresh tokens, and clients
that must use DPoP (``require_dpop``, registration's ``dpop_bound_access_tokens``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proofkey.observability.events import DpopRefused, RefreshReuseDetected
from proofkey.settings import Settings
from tests.conftest import Recorder
from tests.helpers import (
    ISSUER,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    authorize_params,
    get_code,
    new_flow,
    query_of,
)
from tests.http.dpop_proofs import Prover, app_now, claims_of, code_data, post_token, refresh_data
from tests.http.test_par import _login_from
from tests.http.test_token_code_grant import app_services, assert_oauth_error, register


async def dpop_tokens(http: httpx.AsyncClient, prover: Prover, **extra: str) -> dict[str, Any]:
    flow = new_flow()
    code = await get_code(http, flow, **extra)
    response = await post_token(http, code_data(flow, code), prover.proof(iat=app_now(http)))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def rotate(http: httpx.AsyncClient, refresh_token: str, prover: Prover | None,
                 ) -> httpx.Response:
    proofs = () if prover is None else (prover.proof(iat=app_now(http)),)
    return await post_token(http, refresh_data(refresh_token), *proofs)


def mismatches(events: Recorder) -> int:
    return sum(1 for e in events.of(DpopRefused)
               if e.reason == "key_mismatch")  # type: ignore[attr-defined]


# -- dpop_jkt (§10) ----------------------------------------------------------------------------


async def test_a_code_issued_for_dpop_jkt_is_redeemed_with_that_key(
        http: httpx.AsyncClient) -> None:
    prover = Prover()
    tokens = await dpop_tokens(http, prover, dpop_jkt=prover.jkt)
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": prover.jkt}


async def test_a_code_issued_for_dpop_jkt_is_refused_with_another_key_or_none(
        http: httpx.AsyncClient, events: Recorder) -> None:
    prover, thief = Prover(), Prover()
    for proofs in ((thief.proof(iat=app_now(http)),), ()):
        flow = new_flow()
        code = await get_code(http, flow, dpop_jkt=prover.jkt)
        response = await post_token(http, code_data(flow, code), *proofs)
        assert_oauth_error(response, "invalid_grant")
    assert mismatches(events) == 2


async def test_dpop_jkt_travels_through_par(http: httpx.AsyncClient) -> None:
    """A pushed request's dpop_jkt binds the code like a front-channel one."""
    prover, thief = Prover(), Prover()
    flow = new_flow()
    pushed = await http.post("/par", data={**authorize_params(flow), "dpop_jkt": prover.jkt})
    assert pushed.status_code == 201, pushed.text
    response = await http.get("/authorize", params={
        "client_id": PUBLIC_ID, "request_uri": pushed.json()["request_uri"]})
    code = query_of(await _login_from(http, response.headers["location"]))["code"]
    response = await post_token(http, code_data(flow, code), thief.proof(iat=app_now(http)))
    assert_oauth_error(response, "invalid_grant")


async def test_a_proof_at_par_binds_the_code_to_its_key(http: httpx.AsyncClient) -> None:
    """RFC 9449 §10.1: a DPoP proof for /par (htu the PAR endpoint) binds like dpop_jkt."""
    prover, thief = Prover(), Prover()
    flow = new_flow()
    pushed = await http.post("/par", data=authorize_params(flow), headers={
        "DPoP": prover.proof(iat=app_now(http), htu=f"{ISSUER}/par")})
    assert pushed.status_code == 201, pushed.text
    response = await http.get("/authorize", params={
        "client_id": PUBLIC_ID, "request_uri": pushed.json()["request_uri"]})
    code = query_of(await _login_from(http, response.headers["location"]))["code"]
    assert_oauth_error(await post_token(http, code_data(flow, code),
                                        thief.proof(iat=app_now(http))), "invalid_grant")


async def test_par_refuses_a_proof_for_another_url_or_another_key_than_dpop_jkt(
        http: httpx.AsyncClient, events: Recorder) -> None:
    prover = Prover()
    flow = new_flow()
    for_token = await http.post("/par", data=authorize_params(flow), headers={
        "DPoP": prover.proof(iat=app_now(http))})
    assert_oauth_error(for_token, "invalid_dpop_proof")
    other_key = await http.post(
        "/par", data={**authorize_params(flow), "dpop_jkt": Prover().jkt},
        headers={"DPoP": prover.proof(iat=app_now(http), htu=f"{ISSUER}/par")})
    assert_oauth_error(other_key, "invalid_dpop_proof")
    assert [e.reason for e in events.of(DpopRefused)] == [  # type: ignore[attr-defined]
        "htu", "key_mismatch"]


async def test_a_malformed_dpop_jkt_is_refused_at_authorize(http: httpx.AsyncClient) -> None:
    flow = new_flow()
    response = await http.get("/authorize", params=authorize_params(flow, dpop_jkt="short"))
    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "invalid_request"


# -- public clients' refresh tokens (§5) -------------------------------------------------------


async def test_a_refresh_with_another_key_or_none_is_refused_and_the_family_lives_on(
        http: httpx.AsyncClient, events: Recorder) -> None:
    prover, thief = Prover(), Prover()
    tokens = await dpop_tokens(http, prover)
    for attempt in (thief, None):
        assert_oauth_error(await rotate(http, tokens["refresh_token"], attempt),
                           "invalid_grant")
    response = await rotate(http, tokens["refresh_token"], prover)
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": prover.jkt}
    assert mismatches(events) == 2


async def test_a_retired_token_without_the_key_does_not_revoke_the_family(
        http: httpx.AsyncClient, events: Recorder) -> None:
    """A thief replaying a rotated refresh token, but without the key, burns nothing."""
    prover, thief = Prover(), Prover()
    first = await dpop_tokens(http, prover)
    second = (await rotate(http, first["refresh_token"], prover)).json()
    assert_oauth_error(await rotate(http, first["refresh_token"], thief), "invalid_grant")
    assert_oauth_error(await rotate(http, first["refresh_token"], None), "invalid_grant")
    assert events.of(RefreshReuseDetected) == []
    assert (await rotate(http, second["refresh_token"], prover)).status_code == 200


async def test_reuse_with_the_key_still_revokes_the_family(
        http: httpx.AsyncClient, events: Recorder) -> None:
    prover = Prover()
    first = await dpop_tokens(http, prover)
    second = (await rotate(http, first["refresh_token"], prover)).json()
    assert_oauth_error(await rotate(http, first["refresh_token"], prover), "invalid_grant")
    assert len(events.of(RefreshReuseDetected)) == 1
    assert_oauth_error(await rotate(http, second["refresh_token"], prover), "invalid_grant")


async def test_an_unbound_public_refresh_token_becomes_bound_at_its_first_proof(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    bearer = (await post_token(http, code_data(flow, code))).json()
    prover = Prover()
    bound = (await rotate(http, bearer["refresh_token"], prover)).json()
    assert bound["token_type"] == "DPoP"
    assert_oauth_error(await rotate(http, bound["refresh_token"], None), "invalid_grant")
    assert (await rotate(http, bound["refresh_token"], prover)).status_code == 200


async def test_a_confidential_clients_refresh_token_is_bound_by_its_authentication(
        http: httpx.AsyncClient, web_secret: str) -> None:
    """RFC 9449 §5: not key-bound; a later refresh may use a new key (or none)."""
    from tests.helpers import WEB_ID, WEB_REDIRECT

    flow = new_flow(WEB_ID, WEB_REDIRECT)
    code = await get_code(http, flow)
    data = code_data(flow, code)
    del data["client_id"]
    first = await post_token(http, data, Prover().proof(iat=app_now(http)),
                             auth=(WEB_ID, web_secret))
    assert first.status_code == 200, first.text
    data = refresh_data(first.json()["refresh_token"])
    del data["client_id"]
    again = await post_token(http, data, Prover().proof(iat=app_now(http)),
                             auth=(WEB_ID, web_secret))
    assert again.status_code == 200, again.text
    assert again.json()["token_type"] == "DPoP"


# -- require_dpop (§5.2) -----------------------------------------------------------------------


async def test_a_client_that_requires_dpop_is_refused_without_a_proof(
        http: httpx.AsyncClient, events: Recorder) -> None:
    await register(app_services(http).settings, "dpop-only", client_type="public",
                   redirect_uris=[PUBLIC_REDIRECT], require_dpop=True)
    flow = new_flow("dpop-only")
    code = await get_code(http, flow)
    assert_oauth_error(await post_token(http, code_data(flow, code)), "invalid_dpop_proof")
    assert [e.reason for e in events.of(DpopRefused)] == ["missing"]  # type: ignore[attr-defined]
    code = await get_code(http, flow)
    response = await post_token(http, code_data(flow, code), Prover().proof(iat=app_now(http)))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("settings_overrides", [{"registration": "open"}])
async def test_registration_metadata_dpop_bound_access_tokens_requires_dpop(
        http: httpx.AsyncClient) -> None:
    response = await http.post("/register", json={
        "redirect_uris": [PUBLIC_REDIRECT], "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": True})
    assert response.status_code == 201, response.text
    assert response.json()["dpop_bound_access_tokens"] is True
    client = await app_services(http).store.get_client(response.json()["client_id"])
    assert client is not None
    assert client.require_dpop


@pytest.mark.parametrize("settings_overrides", [{"registration": "open"}])
async def test_registration_refuses_a_non_boolean_dpop_bound_access_tokens(
        http: httpx.AsyncClient) -> None:
    response = await http.post("/register", json={
        "redirect_uris": [PUBLIC_REDIRECT], "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": "yes"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


# -- the device grant (RFC 8628 with RFC 9449) -------------------------------------------------


async def test_a_device_polling_with_dpop_gets_bound_tokens_and_a_bound_refresh_token(
        http: httpx.AsyncClient, settings: Settings) -> None:
    from tests.http.test_device_grant import (
        INTERVAL,
        TV_ID,
        approve,
        register_device_clients,
        started,
    )
    from tests.http.test_token_code_grant import shift_clock

    await register_device_clients(settings)
    prover = Prover()
    async with httpx.AsyncClient(transport=http._transport, base_url=http.base_url) as device:
        begun = await started(device)
        poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": begun["device_code"], "client_id": TV_ID}
        pending = await post_token(device, poll, prover.proof(iat=app_now(http)))
        assert_oauth_error(pending, "authorization_pending")
        await approve(http, begun["user_code"])
        shift_clock(http, INTERVAL)
        response = await post_token(device, poll, prover.proof(iat=app_now(http)))
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["token_type"] == "DPoP"
        assert claims_of(tokens["access_token"])["cnf"] == {"jkt": prover.jkt}
        stolen = await post_token(device, refresh_data(tokens["refresh_token"], TV_ID))
        assert_oauth_error(stolen, "invalid_grant")
        again = await post_token(device, refresh_data(tokens["refresh_token"], TV_ID),
                                 prover.proof(iat=app_now(http)))
        assert again.status_code == 200, again.text
