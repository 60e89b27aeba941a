"""``proofkey check --profile fapi2`` against proofkey itself (the app in process): a fapi2
client passes the live probes, a plain public client fails them, and the CLI exits 1 on a FAIL.

DPoP and private_key_jwt in the metadata come with the DPoP and private_key_jwt work: until
then those two checks must FAIL here, after it PASS (tests/interop/test_fapi2_openid_client.py
requires the whole battery to pass).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.models import Secret
from proofkey.observability.events import EventBus
from proofkey.ops.conformance import CheckConfig, Report, run_battery
from proofkey.ops.conformance_fapi2 import FAPI2_BATTERY
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.app import create_app
from tests.fapi2_keys import key_kwargs
from tests.helpers import ISSUER, PUBLIC_ID, PUBLIC_REDIRECT

FAPI_ID = "fapi-app"
FAPI_REDIRECT = "https://fapi.example.com/cb"


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:  # type: ignore[override]
    store = open_store(settings.effective_database_url)
    await store.migrate()
    scopes = settings.scopes_supported
    await register_client(store, FAPI_ID, client_type="confidential",
                          redirect_uris=[FAPI_REDIRECT], scopes=scopes, supported_scopes=scopes,
                          auth_method="private_key_jwt", id_token_alg="ES256", require_par=True,
                          require_dpop=True, profile="fapi2", now=int(time.time()),
                          **key_kwargs())
    await store.close()
    return seeded


@pytest.fixture
async def transport(settings: Settings, seeded: Secret) -> AsyncIterator[httpx.ASGITransport]:
    app = create_app(settings, bus=EventBus())
    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app)


async def _check(transport: httpx.ASGITransport, client_id: str, redirect_uri: str) -> Report:
    return await run_battery(CheckConfig(ISSUER, client_id, redirect_uri), transport=transport,
                             checks=FAPI2_BATTERY)


async def test_a_fapi2_client_at_proofkey_passes_the_fapi2_checks(
        transport: httpx.ASGITransport) -> None:
    report = await _check(transport, FAPI_ID, FAPI_REDIRECT)
    results = {r.id: r.result for r in report.results}
    metadata = (await httpx.AsyncClient(transport=transport).get(
        f"{ISSUER}/.well-known/openid-configuration")).json()
    assert results.pop("fapi2.par_required") == "warn"  # PAR is required per client
    advertised = {
        "fapi2.dpop_algs": "dpop_signing_alg_values_supported" in metadata,
        "fapi2.private_key_jwt": "private_key_jwt" in metadata[
            "token_endpoint_auth_methods_supported"]}
    for check_id, present in advertised.items():  # the DPoP / private_key_jwt work
        # Advertised, the server-wide lists also name algorithms FAPI 2.0 does not use (RS256,
        # ES384 ...) for the other clients: a warning, not a failure.
        assert results.pop(check_id) in (("pass", "warn") if present else ("fail",)), check_id
    assert results == dict.fromkeys(results, "pass"), report.to_dict()
    assert report.by_id("fapi2.authorize_without_par").evidence["answer"] == (
        "redirect to redirect_uri error=invalid_request")
    assert report.by_id("fapi2.par_without_client_auth").evidence["answer"] == (
        "401 invalid_client")


async def test_a_plain_public_client_fails_the_live_probes(
        transport: httpx.ASGITransport) -> None:
    report = await _check(transport, PUBLIC_ID, PUBLIC_REDIRECT)
    assert report.by_id("fapi2.authorize_without_par").result == "fail"
    assert "began a sign-in" in str(report.by_id("fapi2.authorize_without_par").evidence)
    assert report.by_id("fapi2.par_without_client_auth").result == "fail"
    assert not report.ok
    assert "urn:ietf:params:oauth:request_uri" not in json.dumps(report.to_dict())
