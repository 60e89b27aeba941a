"""Who may introspect what (RFC 7662 §2.1, §4): clients marked as resource servers may ask
about any access token; any other confidential client only about its own tokens; a refresh
token only its own client. A caller that may not know gets exactly ``{"active": false}``, the
answer for an unknown token, so the answer does not tell whether the token exists."""

from __future__ import annotations

from typing import Any, cast

import httpx

from proofkey.settings import Settings
from tests.helpers import WEB_ID, WEB_REDIRECT, get_code, new_flow
from tests.http.test_token_code_grant import public_tokens, redeem, register

INACTIVE = {"active": False}


async def ask(http: httpx.AsyncClient, token: str, client_id: str,
              secret: str) -> dict[str, Any]:
    response = await http.post("/introspect", data={"token": token}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


async def web_tokens(http: httpx.AsyncClient, web_secret: str) -> dict[str, Any]:
    """The confidential web client's own tokens from its code flow."""
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    response = await redeem(http, flow, await get_code(http, flow), auth=(WEB_ID, web_secret))
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


async def plain_client(settings: Settings, client_id: str = "plain-app") -> str:
    """A confidential client that is not a resource server."""
    secret = await register(settings, client_id,
                            grant_types=["authorization_code", "refresh_token",
                                         "client_credentials"])
    assert secret is not None
    return secret


async def test_a_client_that_is_not_a_resource_server_learns_nothing_of_others_tokens(
        http: httpx.AsyncClient, settings: Settings) -> None:
    secret = await plain_client(settings)
    tokens = await public_tokens(http)
    assert await ask(http, tokens["access_token"], "plain-app", secret) == INACTIVE
    assert await ask(http, tokens["refresh_token"], "plain-app", secret) == INACTIVE


async def test_a_client_that_is_not_a_resource_server_may_introspect_its_own_access_token(
        http: httpx.AsyncClient, settings: Settings) -> None:
    secret = await plain_client(settings)
    issued = await http.post("/token", data={"grant_type": "client_credentials"},
                             auth=("plain-app", secret))
    assert issued.status_code == 200, issued.text
    info = await ask(http, issued.json()["access_token"], "plain-app", secret)
    assert info["active"] is True
    assert info["client_id"] == "plain-app"


async def test_a_resource_server_may_introspect_any_access_token(
        http: httpx.AsyncClient, settings: Settings) -> None:
    secret = await register(settings, "api", resource_server=True,
                            grant_types=["client_credentials"], redirect_uris=[])
    assert secret is not None
    tokens = await public_tokens(http)
    info = await ask(http, tokens["access_token"], "api", secret)
    assert info["active"] is True
    assert info["client_id"] == "native-app"


async def test_a_resource_server_may_not_introspect_another_clients_refresh_token(
        http: httpx.AsyncClient, web_secret: str, settings: Settings) -> None:
    secret = await register(settings, "api", resource_server=True,
                            grant_types=["client_credentials"], redirect_uris=[])
    assert secret is not None
    tokens = await web_tokens(http, web_secret)
    assert await ask(http, tokens["refresh_token"], "api", secret) == INACTIVE
    # The shared web client is a resource server too, but the public client's refresh
    # token is not its own.
    public = await public_tokens(http)
    assert await ask(http, public["refresh_token"], WEB_ID, web_secret) == INACTIVE


async def test_the_owner_may_introspect_its_own_refresh_token(
        http: httpx.AsyncClient, web_secret: str) -> None:
    tokens = await web_tokens(http, web_secret)
    info = await ask(http, tokens["refresh_token"], WEB_ID, web_secret)
    assert info["active"] is True
    assert info["token_type"] == "refresh_token"
    assert info["client_id"] == WEB_ID
