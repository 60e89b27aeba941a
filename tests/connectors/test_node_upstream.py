"""Sign-in through node-oidc-provider 9 as the upstream (found by discovery; PAR, PKCE S256,
RFC 9207 iss): an SPA's full code flow, idp_hint, the login page's link, cancellation,
an unreachable upstream, a mix-up, a replayed callback and a tampered state."""

from __future__ import annotations

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from proofkey.observability.events import UpstreamExchanged, UpstreamLinked
from tests.conftest import Recorder
from tests.connectors.conftest import (
    SPA_ID,
    SPA_REDIRECT,
    consent_if_asked,
    local,
    upstream_browser,
)
from tests.helpers import ISSUER, Flow, authorize_params, exchange, new_flow, query_of
from tests.interop.conftest import NODE_SUB, PASSWORD, USERNAME, NodeOidcProvider

pytestmark = pytest.mark.interop
NODE_LOGIN = {"username": USERNAME, "password": PASSWORD}


def spa_flow() -> Flow:
    return new_flow(SPA_ID, SPA_REDIRECT)


async def to_upstream(http: httpx.AsyncClient, flow: Flow, hint: str = "node") -> str:
    """/authorize with idp_hint, then our hop to the upstream: the upstream's URL."""
    response = await http.get("/authorize", params=authorize_params(
        flow, scope="openid profile email", idp_hint=hint))
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith(f"/connectors/{hint}")
    hop = await http.get(response.headers["location"])
    assert hop.status_code == 303, hop.text
    return str(hop.headers["location"])


async def test_an_spa_signs_in_through_the_upstream_with_idp_hint(
        browser: httpx.AsyncClient, node_upstream: NodeOidcProvider, events: Recorder) -> None:
    flow = spa_flow()
    upstream_url = await to_upstream(browser, flow)
    assert upstream_url.startswith(node_upstream.issuer)
    assert "request_uri=" in upstream_url  # pushed (RFC 9126): node advertises PAR
    back = upstream_browser(upstream_url, NODE_LOGIN)
    assert back.startswith(f"{ISSUER}/connectors/node/callback?")
    assert query_of(back)["iss"] == node_upstream.issuer  # RFC 9207 from upstream
    response = await browser.get(local(back))
    assert response.status_code == 303, response.text
    final = await consent_if_asked(browser, response)
    answer = query_of(final)
    assert final.startswith(SPA_REDIRECT)
    assert answer["state"] == flow.state
    assert answer["iss"] == ISSUER
    tokens = (await exchange(browser, flow, answer["code"])).json()
    assert "id_token" in tokens, tokens
    keys = KeySet.import_key_set((await browser.get("/jwks")).json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert claims["aud"] == SPA_ID
    assert claims["nonce"] == flow.nonce
    info = (await browser.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"})).json()
    assert info["sub"] == claims["sub"]
    assert info["preferred_username"] == f"node:{NODE_SUB}"
    assert info["email"] == f"{USERNAME}@example.com"  # email_verified upstream
    assert [e.how for e in events.of(UpstreamLinked)] == ["created"]  # type: ignore[attr-defined]
    assert [(e.connector, e.outcome) for e in events.of(UpstreamExchanged)] == [  # type: ignore[attr-defined]
        ("node", "success")]

    # A second login (signed out here first) finds the same local user through the link.
    browser.cookies.delete("pk_session")
    again = spa_flow()
    back = upstream_browser(await to_upstream(browser, again), NODE_LOGIN)
    final = await consent_if_asked(browser, await browser.get(local(back)))
    tokens = (await exchange(browser, again, query_of(final)["code"])).json()
    assert jwt.decode(tokens["id_token"], keys).claims["sub"] == claims["sub"]
    assert len(events.of(UpstreamLinked)) == 1


async def test_the_login_page_offers_each_connector_next_to_the_password_form(
        browser: httpx.AsyncClient) -> None:
    flow = spa_flow()
    response = await browser.get("/authorize", params=authorize_params(flow))
    page = await browser.get(response.headers["location"])
    assert 'name="password"' in page.text
    for name in ("node", "decoy", "down"):
        assert f'{response.headers["location"]}/connectors/{name}"' in page.text


async def test_a_user_who_cancels_upstream_comes_back_to_the_client_as_access_denied(
        browser: httpx.AsyncClient) -> None:
    flow = spa_flow()
    back = upstream_browser(await to_upstream(browser, flow), NODE_LOGIN, decision="deny")
    assert query_of(back)["error"] == "access_denied"
    response = await browser.get(local(back))
    assert response.status_code == 303
    answer = query_of(response.headers["location"])
    assert response.headers["location"].startswith(SPA_REDIRECT)
    assert answer["error"] == "access_denied"
    assert answer["state"] == flow.state
    assert answer["iss"] == ISSUER


async def test_an_unreachable_upstream_is_temporarily_unavailable_for_the_client(
        browser: httpx.AsyncClient, events: Recorder) -> None:
    flow = spa_flow()
    response = await browser.get("/authorize", params=authorize_params(flow, idp_hint="down"))
    hop = await browser.get(response.headers["location"])
    assert hop.status_code == 303
    answer = query_of(hop.headers["location"])
    assert hop.headers["location"].startswith(SPA_REDIRECT)
    assert answer["error"] == "temporarily_unavailable"
    assert answer["state"] == flow.state
    assert [e.outcome for e in events.of(UpstreamExchanged)] == ["unavailable"]  # type: ignore[attr-defined]


async def test_an_unknown_idp_hint_goes_back_to_the_client_as_invalid_request(
        browser: httpx.AsyncClient) -> None:
    flow = spa_flow()
    response = await browser.get("/authorize", params=authorize_params(flow, idp_hint="nope"))
    hop = await browser.get(response.headers["location"])
    assert query_of(hop.headers["location"])["error"] == "invalid_request"


async def test_an_answer_for_one_connector_at_another_connectors_callback_is_refused(
        browser: httpx.AsyncClient, events: Recorder) -> None:
    """Mix-up: the upstream's response to connector "node" delivered to "decoy"'s callback."""
    flow = spa_flow()
    back = upstream_browser(await to_upstream(browser, flow), NODE_LOGIN)
    mixed = back.replace("/connectors/node/callback", "/connectors/decoy/callback")
    response = await browser.get(local(mixed))
    assert response.status_code == 303
    answer = query_of(response.headers["location"])
    assert answer["error"] == "access_denied"
    assert answer["state"] == flow.state
    assert [e.outcome for e in events.of(UpstreamExchanged)] == ["mix_up"]  # type: ignore[attr-defined]
    assert "code" not in answer
    # ... and the answer cannot be used at the right callback afterwards either.
    assert (await browser.get(local(back))).status_code == 400


async def test_a_replayed_upstream_callback_is_refused(browser: httpx.AsyncClient) -> None:
    flow = spa_flow()
    back = upstream_browser(await to_upstream(browser, flow), NODE_LOGIN)
    first = await browser.get(local(back))
    assert first.status_code == 303
    replay = await browser.get(local(back))
    assert replay.status_code == 400
    assert "expired or was already completed" in replay.text


async def test_a_tampered_state_is_refused(browser: httpx.AsyncClient) -> None:
    flow = spa_flow()
    back = upstream_browser(await to_upstream(browser, flow), NODE_LOGIN)
    state = query_of(back)["state"]
    tampered = back.replace(f"state={state}", f"state={state[:-2]}xy")
    response = await browser.get(local(tampered))
    assert response.status_code == 400
    no_state = await browser.get("/connectors/node/callback?code=abc")
    assert no_state.status_code == 400


async def test_a_callback_in_another_browser_is_refused(
        browser: httpx.AsyncClient) -> None:
    flow = spa_flow()
    back = upstream_browser(await to_upstream(browser, flow), NODE_LOGIN)
    browser.cookies.clear()  # the attacker's browser: none of the victim's cookies
    response = await browser.get(local(back))
    assert response.status_code == 400
