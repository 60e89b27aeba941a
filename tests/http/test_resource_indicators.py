"""Resource indicators (RFC 8707) and audience-bound access tokens, over HTTP against the real
app, with two registered resources: A in the store (``proofkey resource add``) and B in the
configuration (``PROOFKEY_RESOURCES``).

A token for A has ``aud`` A, never B, and only A's scopes (plus the server's own, such as
openid); the token endpoint and each refresh may narrow the resources of the grant, never
widen them; an unknown or malformed resource is ``invalid_target`` at /authorize (a redirect
with ``state`` and ``iss``), /par and /token; without ``resource`` the default audience applies.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from typing import Any, cast

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.flows.resources import known_scopes, register_resource
from proofkey.models import Secret
from proofkey.protocol.device import DEVICE_GRANT_TYPE
from proofkey.settings import Settings
from proofkey.store import open_store
from tests.helpers import (
    ISSUER,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    WEB_REDIRECT,
    Flow,
    action_of,
    authorize_params,
    csrf_of,
    new_flow,
    query_of,
)
from tests.http.test_device_grant import approve
from tests.http.test_token_code_grant import app_services, assert_oauth_error, shift_clock

A = "https://a.example.com/api"
B = "https://b.example.com/mcp"
C = "https://c.example.com/"  # registered, but never requested in these grants
APP = "api-app"
TV = "api-tv"
SERVICE = "api-service"
SCOPES = "openid profile email offline_access a:read a:write b:read"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"resources": [f"{B} b:read b:write"]}


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:
    """Besides the usual clients: resource A (and C) in the store, a public client registered
    for scopes only the resources declare, and a confidential one for client_credentials."""
    store = open_store(settings.effective_database_url)
    now = int(time.time())
    try:
        await register_resource(store, A, scopes=["a:read", "a:write"], name="API A", now=now)
        await register_resource(store, C, scopes=["c:all"], now=now)
        supported = await known_scopes(settings, store)
        await register_client(store, APP, client_type="public", redirect_uris=[PUBLIC_REDIRECT],
                              scopes=SCOPES.split(), supported_scopes=supported, now=now)
        await register_client(store, TV, client_type="public", redirect_uris=[],
                              scopes=SCOPES.split(), supported_scopes=supported,
                              grant_types=[DEVICE_GRANT_TYPE], now=now)
    finally:
        await store.close()
    return seeded


@pytest.fixture
async def service_secret(seeded: Secret, settings: Settings) -> str:
    """A confidential client for client_credentials, registered for resource scopes."""
    store = open_store(settings.effective_database_url)
    try:
        service = await register_client(
            store, SERVICE, client_type="confidential", redirect_uris=[WEB_REDIRECT],
            scopes=["a:read", "b:read", "b:write"],
            supported_scopes=await known_scopes(settings, store),
            grant_types=["client_credentials"], now=int(time.time()))
    finally:
        await store.close()
    assert service.secret is not None
    return service.secret.reveal()


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return cast(dict[str, Any], json.loads(base64.urlsafe_b64decode(payload + "==")))


async def authorize(http: httpx.AsyncClient, flow: Flow, scope: str,
                    resources: list[str]) -> httpx.Response:
    """/authorize with repeated ``resource`` parameters, then login and consent."""
    params = [*authorize_params(flow, scope=scope).items(), *(("resource", r) for r in resources)]
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    if not location.startswith("/interaction/"):
        return response
    page = await http.get(location)
    if 'name="password"' in page.text:  # no session yet
        response = await http.post(action_of(page.text), data={
            "csrf": csrf_of(page.text), "username": "alice",
            "password": "correct horse battery staple"})
        page = await http.get(response.headers["location"])
    return await http.post(action_of(page.text), data={"csrf": csrf_of(page.text),
                                                       "decision": "allow"})


async def code_for(http: httpx.AsyncClient, flow: Flow, scope: str, resources: list[str]) -> str:
    query = query_of((await authorize(http, flow, scope, resources)).headers["location"])
    assert "code" in query, query
    return query["code"]


def form(data: dict[str, str], resources: Sequence[str]) -> dict[str, Any]:
    """A form body with one ``resource`` parameter per resource."""
    body = [*data.items(), *(("resource", r) for r in resources)]
    return {"content": str(httpx.QueryParams(body)).encode(),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


async def token_post(http: httpx.AsyncClient, data: dict[str, str],
                     resources: Sequence[str] = (), **kw: Any) -> httpx.Response:
    return await http.post("/token", **form(data, resources), **kw)


async def tokens_for(http: httpx.AsyncClient, scope: str, authorized: list[str],
                     requested: Sequence[str] = ()) -> dict[str, Any]:
    flow = new_flow(APP)
    code = await code_for(http, flow, scope, authorized)
    response = await token_post(http, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
        "client_id": APP, "code_verifier": flow.verifier}, requested)
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


async def refresh(http: httpx.AsyncClient, token: str,
                  resources: Sequence[str] = ()) -> httpx.Response:
    return await token_post(http, {"grant_type": "refresh_token", "refresh_token": token,
                                   "client_id": APP}, resources)


async def introspect(http: httpx.AsyncClient, token: str, web_secret: str) -> dict[str, Any]:
    response = await http.post("/introspect", data={"token": token},
                               auth=("web-app", web_secret))
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


# -- audience ----------------------------------------------------------------------------------


async def test_a_token_for_resource_a_has_audience_a_and_only_a_scopes(
        http: httpx.AsyncClient, web_secret: str) -> None:
    body = await tokens_for(http, "a:read a:write b:read", [A])
    claims = claims_of(body["access_token"])
    assert claims["aud"] == A
    assert claims["scope"] == "a:read a:write"
    assert body["scope"] == "a:read a:write"
    described = await introspect(http, body["access_token"], web_secret)
    assert described["active"] is True
    assert described["aud"] == A


async def test_a_token_for_resource_b_is_not_one_for_a(http: httpx.AsyncClient) -> None:
    body = await tokens_for(http, "a:read b:read", [B])
    claims = claims_of(body["access_token"])
    assert claims["aud"] == B
    assert A not in json.dumps(claims)
    assert claims["scope"] == "b:read"


async def test_without_resource_the_token_is_for_the_default_audience(
        http: httpx.AsyncClient) -> None:
    body = await tokens_for(http, "openid a:read", [])
    claims = claims_of(body["access_token"])
    assert claims["aud"] == ISSUER
    assert claims["scope"] == "openid a:read"
    response = await http.get("/userinfo",
                              headers={"Authorization": f"Bearer {body['access_token']}"})
    assert response.status_code == 200, response.text


async def test_openid_with_a_resource_adds_the_default_audience_so_userinfo_works(
        http: httpx.AsyncClient) -> None:
    body = await tokens_for(http, "openid profile a:read b:read", [A])
    claims = claims_of(body["access_token"])
    assert claims["aud"] == [A, ISSUER]
    assert claims["scope"] == "openid profile a:read"
    assert "id_token" in body
    response = await http.get("/userinfo",
                              headers={"Authorization": f"Bearer {body['access_token']}"})
    assert response.status_code == 200, response.text
    assert response.json()["preferred_username"] == "alice"


async def test_a_token_for_a_resource_alone_is_refused_at_userinfo(
        http: httpx.AsyncClient) -> None:
    body = await tokens_for(http, "a:read", [A])
    response = await http.get("/userinfo",
                              headers={"Authorization": f"Bearer {body['access_token']}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_two_resources_give_an_array_audience_and_both_scopes(
        http: httpx.AsyncClient, web_secret: str) -> None:
    body = await tokens_for(http, "a:read b:read email", [A, B])
    claims = claims_of(body["access_token"])
    assert claims["aud"] == [A, B]
    assert claims["scope"] == "a:read b:read email"
    assert (await introspect(http, body["access_token"], web_secret))["aud"] == [A, B]


# -- narrowing and widening --------------------------------------------------------------------


async def test_the_token_request_may_narrow_the_resources_of_the_code(
        http: httpx.AsyncClient) -> None:
    body = await tokens_for(http, "a:read b:read offline_access", [A, B], [B])
    claims = claims_of(body["access_token"])
    assert claims["aud"] == B
    assert claims["scope"] == "b:read offline_access"


async def test_each_refresh_may_narrow_to_any_resource_of_the_grant_never_widen(
        http: httpx.AsyncClient) -> None:
    body = await tokens_for(http, "a:read b:read offline_access", [A, B], [A])
    assert claims_of(body["access_token"])["aud"] == A
    response = await refresh(http, body["refresh_token"], [B])
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["aud"] == B
    assert response.json()["scope"] == "b:read offline_access"
    # C is registered, but not part of this grant: widening.
    refused = await refresh(http, response.json()["refresh_token"], [C])
    assert_oauth_error(refused, "invalid_target")
    # Refused before rotating: the refresh token still works, for the whole grant.
    again = await refresh(http, response.json()["refresh_token"])
    assert again.status_code == 200, again.text
    assert claims_of(again.json()["access_token"])["aud"] == [A, B]
    assert again.json()["scope"] == "a:read b:read offline_access"


async def test_a_code_for_a_cannot_be_redeemed_for_b_and_is_burned(
        http: httpx.AsyncClient) -> None:
    flow = new_flow(APP)
    code = await code_for(http, flow, "a:read b:read", [A])
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
            "client_id": APP, "code_verifier": flow.verifier}
    assert_oauth_error(await token_post(http, data, [B]), "invalid_target", secrets=[code])
    assert_oauth_error(await token_post(http, data, [A]), "invalid_grant")


async def test_a_code_without_resources_cannot_be_redeemed_for_one(
        http: httpx.AsyncClient) -> None:
    flow = new_flow(APP)
    code = await code_for(http, flow, "a:read", [])
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
            "client_id": APP, "code_verifier": flow.verifier}
    assert_oauth_error(await token_post(http, data, [A]), "invalid_target")


async def test_asking_for_the_default_audience_is_asking_for_no_resource(
        http: httpx.AsyncClient) -> None:
    # Clients such as the MCP SDK always send a resource; the default audience needs no
    # registration and limits no scope.
    body = await tokens_for(http, "openid a:read", [ISSUER], [ISSUER])
    claims = claims_of(body["access_token"])
    assert (claims["aud"], claims["scope"]) == (ISSUER, "openid a:read")
    plain = await tokens_for(http, "a:read", [], [ISSUER])
    assert claims_of(plain["access_token"])["aud"] == ISSUER
    flow = new_flow(APP)
    code = await code_for(http, flow, "a:read", [A])
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
            "client_id": APP, "code_verifier": flow.verifier}
    assert_oauth_error(await token_post(http, data, [ISSUER]), "invalid_target")


# -- invalid_target ----------------------------------------------------------------------------


@pytest.mark.parametrize("resource", [
    "https://unknown.example.com/", f"{A}#fragment", "http://a.example.com/api", "/relative",
    "urn:example:thing"])
async def test_an_unknown_or_malformed_resource_at_authorize_redirects_invalid_target(
        http: httpx.AsyncClient, resource: str) -> None:
    flow = new_flow(APP)
    params = [*authorize_params(flow, scope="a:read").items(), ("resource", A),
              ("resource", resource)]
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(PUBLIC_REDIRECT)
    query = query_of(location)
    assert query["error"] == "invalid_target"
    assert query["state"] == flow.state
    assert query["iss"] == ISSUER
    assert resource not in query["error_description"]


async def test_an_unknown_resource_at_par_is_invalid_target(
        http: httpx.AsyncClient, web_secret: str) -> None:
    flow = new_flow("web-app", WEB_REDIRECT)
    response = await http.post("/par", **form(authorize_params(flow), [
        "https://unknown.example.com/"]), auth=("web-app", web_secret))
    assert_oauth_error(response, "invalid_target")


async def test_a_pushed_request_keeps_its_resources(http: httpx.AsyncClient,
                                                    web_secret: str) -> None:
    flow = new_flow("web-app", WEB_REDIRECT)
    response = await http.post("/par", **form(authorize_params(flow, scope="openid"), [A, B]),
                               auth=("web-app", web_secret))
    assert response.status_code == 201, response.text
    request_uri = response.json()["request_uri"]
    started = await http.get("/authorize", params={"client_id": "web-app",
                                                   "request_uri": request_uri})
    page = await http.get(started.headers["location"])
    done = await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": "alice",
        "password": "correct horse battery staple"})
    location = done.headers["location"]
    if location.startswith("/interaction/"):
        page = await http.get(location)
        done = await http.post(action_of(page.text), data={"csrf": csrf_of(page.text),
                                                           "decision": "allow"})
    code = query_of(done.headers["location"])["code"]
    response = await token_post(http, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": WEB_REDIRECT,
        "code_verifier": flow.verifier}, [B], auth=("web-app", web_secret))
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["aud"] == [B, ISSUER]


async def test_client_credentials_with_a_resource_is_bound_to_it(
        http: httpx.AsyncClient, service_secret: str) -> None:
    auth = (SERVICE, service_secret)
    data = {"grant_type": "client_credentials", "scope": "a:read b:read b:write"}
    response = await token_post(http, data, [B], auth=auth)
    assert response.status_code == 200, response.text
    claims = claims_of(response.json()["access_token"])
    assert claims["aud"] == B
    assert claims["scope"] == "b:read b:write"
    unknown = await token_post(http, data, ["https://unknown.example.com/"], auth=auth)
    assert_oauth_error(unknown, "invalid_target")
    plain = await token_post(http, {"grant_type": "client_credentials", "scope": "a:read"},
                             auth=auth)
    assert claims_of(plain.json()["access_token"])["aud"] == ISSUER


async def test_resource_scopes_are_known_scopes_in_discovery(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/openid-configuration")).json()
    supported = metadata["scopes_supported"]
    assert supported[:4] == ["openid", "profile", "email", "offline_access"]
    assert {"a:read", "a:write", "b:read", "b:write", "c:all"} <= set(supported)


async def test_a_scope_no_resource_declares_is_still_unknown(http: httpx.AsyncClient) -> None:
    flow = new_flow(PUBLIC_ID)
    response = await http.get("/authorize", params=authorize_params(flow, scope="z:read"))
    assert query_of(response.headers["location"])["error"] == "invalid_scope"


async def test_a_removed_resource_makes_its_tokens_inactive(
        http: httpx.AsyncClient, web_secret: str, settings: Settings) -> None:
    body = await tokens_for(http, "a:read", [A])
    store = open_store(settings.effective_database_url)
    try:
        assert await store.remove_resource(A)
    finally:
        await store.close()
    app_services(http).resources.forget()  # as if the cache's second had passed
    assert await introspect(http, body["access_token"], web_secret) == {"active": False}


# -- the device grant --------------------------------------------------------------------------


async def test_a_device_request_names_resources_and_its_token_request_narrows_them(
        http: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(transport=http._transport, base_url=ISSUER) as device:
        unknown = await device.post("/device_authorization", **form(
            {"client_id": TV, "scope": "a:read"}, ["https://unknown.example.com/"]))
        assert_oauth_error(unknown, "invalid_target")
        started = await device.post("/device_authorization", **form(
            {"client_id": TV, "scope": "a:read b:read"}, [A, B]))
        assert started.status_code == 200, started.text
        await approve(http, started.json()["user_code"])
        poll = {"grant_type": DEVICE_GRANT_TYPE, "device_code": started.json()["device_code"],
                "client_id": TV}
        assert_oauth_error(await token_post(device, poll, [C]), "invalid_target")
        shift_clock(http, 6)  # past the polling interval
        response = await token_post(device, poll, [B])  # not consumed by the refusal
        assert response.status_code == 200, response.text
        claims = claims_of(response.json()["access_token"])
        assert (claims["aud"], claims["scope"]) == (B, "b:read")


@pytest.mark.parametrize("settings_overrides", [{"resources": [f"{B} b:read b:write"],
                                                 "registration": "open"}])
async def test_a_dynamically_registered_client_may_ask_for_a_resources_scopes(
        http: httpx.AsyncClient) -> None:
    """Scopes a registered resource declares are known at /register (RFC 7591 + RFC 8707),
    as for `proofkey client add`: an MCP client registering for its server's scope works."""
    doc = {"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
           "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid a:read b:write"}
    registered = await http.post("/register", json=doc)
    assert registered.status_code == 201, registered.text
    assert set(registered.json()["scope"].split()) == {"openid", "a:read", "b:write"}
    unknown = await http.post("/register", json={**doc, "scope": "openid z:nothing"})
    assert_oauth_error(unknown, "invalid_client_metadata")
