"""The ``fapi2`` client profile (FAPI 2.0 Security Profile) at run time, over HTTP against the
real app on both stores: what a fapi2 client's requests may not do, and the code lifetime.

A complete fapi2 login (PAR with a private_key_jwt assertion, a DPoP-bound token) needs the
private_key_jwt and DPoP work; it is proven end to end by tests/interop/test_fapi2_openid_client.py.
"""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest

from proofkey.crypto import digest
from proofkey.flows.admin import register_client
from proofkey.flows.authorize import AuthorizeRequest, issue_code
from proofkey.flows.context import Context
from proofkey.models import Client, Secret
from proofkey.observability.events import EventBus
from proofkey.settings import Settings
from proofkey.store import open_store
from tests.fapi2_keys import key_kwargs
from tests.helpers import authorize_params, new_flow, query_of

FAPI_ID = "fapi-app"
FAPI_REDIRECT = "https://fapi.example.com/cb"
LAX_ID = "fapi-lax"  # stored as fapi2 behind the policy's back: client_secret_basic, no DPoP


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"code_ttl_seconds": 600}


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:  # type: ignore[override]
    store = open_store(settings.effective_database_url)
    await store.migrate()
    scopes = settings.scopes_supported
    now = int(time.time())
    await register_client(store, FAPI_ID, client_type="confidential",
                          redirect_uris=[FAPI_REDIRECT], scopes=scopes, supported_scopes=scopes,
                          auth_method="private_key_jwt", id_token_alg="ES256", require_par=True,
                          require_dpop=True, profile="fapi2", now=now, **key_kwargs())
    await store.add_client(Client(
        client_id=LAX_ID, client_type="confidential", redirect_uris=(FAPI_REDIRECT,),
        scopes=frozenset(scopes), grant_types=frozenset({"authorization_code"}),
        token_endpoint_auth_method="client_secret_basic", secret_digest=digest("x" * 43),
        profile="fapi2", created_at=now))
    await store.close()
    return seeded


async def test_an_authorization_request_without_par_is_refused_for_a_fapi2_client(
        http: httpx.AsyncClient, settings: Settings) -> None:
    flow = new_flow(FAPI_ID, FAPI_REDIRECT)
    response = await http.get("/authorize", params=authorize_params(flow))
    assert response.status_code == 303
    answer = query_of(response.headers["location"])
    assert answer["error"] == "invalid_request"
    assert "FAPI 2.0" in answer["error_description"]
    assert "/par" in answer["error_description"]
    assert answer["state"] == flow.state
    assert answer["iss"] == settings.effective_issuer  # RFC 9207, FAPI 2.0 SP §5.3.2.2
    assert "code" not in answer


async def test_a_pushed_request_without_client_authentication_is_refused(
        http: httpx.AsyncClient) -> None:
    # FAPI 2.0 SP §5.3.2.2: "shall reject pushed authorization requests without client
    # authentication": the client registered private_key_jwt, client_id alone is not it.
    flow = new_flow(FAPI_ID, FAPI_REDIRECT)
    response = await http.post("/par", data=authorize_params(flow))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_fapi2_client_stored_against_the_profile_is_refused_at_par_and_authorize(
        http: httpx.AsyncClient) -> None:
    flow = new_flow(LAX_ID, FAPI_REDIRECT)
    pushed = await http.post("/par", data=authorize_params(flow), auth=(LAX_ID, "x" * 43))
    assert pushed.status_code == 400
    body = pushed.json()
    assert body["error"] == "unauthorized_client"
    assert "FAPI 2.0" in body["error_description"]
    assert "[PKL101]" in body["error_description"]
    direct = await http.get("/authorize", params=authorize_params(flow))
    assert query_of(direct.headers["location"])["error"] == "unauthorized_client"


async def test_codes_for_a_fapi2_client_live_at_most_60_seconds(settings: Settings,
                                                                  seeded: Secret) -> None:
    # FAPI 2.0 SP §5.3.2.1: "shall issue authorization codes with a maximum lifetime of 60
    # seconds", though the server's code_ttl_seconds is 600 here.
    store = open_store(settings.effective_database_url)
    await store.migrate()
    try:
        ctx = Context(settings, EventBus())
        for client_id, lifetime in ((FAPI_ID, 60), ("web-app", 600)):
            client = await store.get_client(client_id)
            assert client is not None
            request = AuthorizeRequest(client, client.redirect_uris[0], ("openid",),
                                       new_flow().challenge, None, None, frozenset(), None)
            code = await issue_code(request, "user-1", ctx.now(), codes=store, ctx=ctx,
                                    client_profile=client.profile)
            stored = await store.find_code(digest(code))
            assert stored is not None
            assert stored.expires_at - stored.issued_at == lifetime
    finally:
        await store.close()


@pytest.mark.parametrize("settings_overrides", [{"registration": "open"}])
async def test_rfc7592_cannot_update_a_client_out_of_the_fapi2_profile(
        http: httpx.AsyncClient, settings: Settings) -> None:
    metadata = {"redirect_uris": [FAPI_REDIRECT], "token_endpoint_auth_method":
                "client_secret_basic", "grant_types": ["authorization_code"]}
    created = (await http.post("/register", json=metadata)).json()
    client_id, token = created["client_id"], created["registration_access_token"]
    store = open_store(settings.effective_database_url)
    await store.migrate()
    try:  # the operator puts it under the profile (as if it met it)
        stored = await store.get_client(client_id)
        assert stored is not None
        await store.update_client(replace(stored, profile="fapi2"))
        answer = await http.put(f"/register/{client_id}", headers={
            "authorization": f"Bearer {token}"}, json={**metadata, "client_id": client_id,
                                                       "client_secret": created["client_secret"]})
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_client_metadata"
        assert "[PKL101]" in answer.json()["error_description"]
        kept = await store.get_client(client_id)
        assert kept is not None
        assert kept.profile == "fapi2"
    finally:
        await store.close()
