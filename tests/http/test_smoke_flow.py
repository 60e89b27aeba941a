"""The happy path end to end: authorize, log in, consent, exchange, userinfo, refresh."""

from __future__ import annotations

import httpx

from tests.helpers import exchange, get_code, new_flow


async def test_a_public_client_completes_the_code_flow_with_pkce(http: httpx.AsyncClient) -> None:
    flow = new_flow()
    code = await get_code(http, flow)
    response = await exchange(http, flow, code)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(body)
    info = await http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json()["preferred_username"] == "alice"
    refreshed = await http.post("/token", data={"grant_type": "refresh_token",
                                                "refresh_token": body["refresh_token"],
                                                "client_id": flow.client_id})
    assert refreshed.status_code == 200, refreshed.text
