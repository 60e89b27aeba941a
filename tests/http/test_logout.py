"""OpenID Connect RP-Initiated Logout 1.0 at /logout, over HTTP, on both stores: the
id_token_hint, client_id and exact post-logout redirect URIs, the confirmation page, and what
logging out ends (the session; the refresh tokens of clients that chose revoke_on_logout)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, cast

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.models import Secret
from proofkey.observability.events import LoggedOut
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.tokens.keys import KeyRing, generate_key
from proofkey.tokens.mint import TokenMinter
from tests.conftest import Recorder
from tests.helpers import ISSUER, authorize_params, csrf_of, exchange, get_code, new_flow
from tests.http.test_token_code_grant import assert_oauth_error, refresh, shift_clock

RP, RP_REDIRECT, RP_BYE = "rp", "https://rp.example/cb", "https://rp.example/bye"
KEEPER, KEEPER_REDIRECT = "rp-keeps", "https://keeper.example/cb"


@pytest.fixture
async def rps(settings: Settings, seeded: Secret) -> None:
    """Two public relying parties with post-logout URIs: one revokes on logout."""
    store = open_store(settings.effective_database_url)
    await store.migrate()
    scopes, now = settings.scopes_supported, int(time.time())
    await register_client(store, RP, client_type="public", redirect_uris=[RP_REDIRECT],
                          scopes=scopes, supported_scopes=scopes, name="Relying Party",
                          post_logout_redirect_uris=[RP_BYE, "https://rp.example/bye?x=1"],
                          revoke_on_logout=True, now=now)
    await register_client(store, KEEPER, client_type="public",
                          redirect_uris=[KEEPER_REDIRECT], scopes=scopes,
                          supported_scopes=scopes, now=now)
    await store.close()


@pytest.fixture
async def web(rps: None, http: httpx.AsyncClient) -> httpx.AsyncClient:
    return http


async def sign_in(web: httpx.AsyncClient, client_id: str = RP,
                  redirect_uri: str = RP_REDIRECT) -> dict[str, Any]:
    """The code flow for ``client_id``; its token response (id_token, refresh_token)."""
    flow = new_flow(client_id, redirect_uri)
    code = await get_code(web, flow, scope="openid profile offline_access")
    response = await exchange(web, flow, code)
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


async def signed_in(web: httpx.AsyncClient) -> bool:
    """Does the browser still have a session? prompt=none answers without asking."""
    flow = new_flow(RP, RP_REDIRECT)
    response = await web.get("/authorize", params=authorize_params(
        flow, prompt="none", scope="openid profile offline_access"))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(RP_REDIRECT), location
    if "error=login_required" in location:
        return False
    assert "code=" in location, location
    return True


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assert_page(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_discovery_advertises_the_end_session_endpoint(web: httpx.AsyncClient) -> None:
    body = (await web.get("/.well-known/openid-configuration")).json()
    assert body["end_session_endpoint"] == f"{ISSUER}/logout"


async def test_a_valid_hint_logs_out_and_redirects_to_the_registered_uri_with_state(
        web: httpx.AsyncClient, events: Recorder) -> None:
    tokens = await sign_in(web)
    response = await web.get("/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": RP_BYE,
        "state": "s t&8", "ui_locales": "fr-CA"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{RP_BYE}?state=s+t%268"
    assert "pk_session" in response.headers["set-cookie"]  # cleared
    assert await signed_in(web) is False
    [event] = events.of(LoggedOut)
    assert isinstance(event, LoggedOut)
    assert (event.how, event.client_id) == ("rp_initiated", RP)
    assert tokens["refresh_token"] not in repr(events.events)


async def test_logout_accepts_a_post_and_an_expired_hint(web: httpx.AsyncClient) -> None:
    tokens = await sign_in(web)
    shift_clock(web, 2 * 86400)  # the ID token has long expired; §4 accepts it as a hint
    # … but the session too would have expired: sign in again, then hint with the old token.
    await sign_in(web)
    response = await web.post("/logout", data={"id_token_hint": tokens["id_token"],
                                               "post_logout_redirect_uri": RP_BYE})
    assert response.status_code == 303
    assert response.headers["location"] == RP_BYE
    assert await signed_in(web) is False


async def test_without_a_hint_the_user_confirms_first(web: httpx.AsyncClient) -> None:
    await sign_in(web)
    page = await web.get("/logout", params={"client_id": RP, "post_logout_redirect_uri": RP_BYE,
                                            "state": "abc"})
    assert_page(page, 200)
    assert 'action="/logout/confirm"' in page.text
    assert "Relying Party" in page.text
    assert await signed_in(web) is True  # nothing happened yet
    without_csrf = await web.post("/logout/confirm", data={"client_id": RP})
    assert_page(without_csrf, 400)
    assert await signed_in(web) is True
    confirmed = await web.post("/logout/confirm", data={
        "csrf": csrf_of(page.text), "client_id": RP, "post_logout_redirect_uri": RP_BYE,
        "state": "abc"})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == f"{RP_BYE}?state=abc"
    assert await signed_in(web) is False


async def test_without_a_registered_uri_the_user_lands_on_the_signed_out_page(
        web: httpx.AsyncClient) -> None:
    await sign_in(web)
    page = await web.get("/logout")
    assert_page(page, 200)
    done = await web.post("/logout/confirm", data={"csrf": csrf_of(page.text)})
    assert_page(done, 200)
    assert "You are signed out" in done.text
    assert await signed_in(web) is False


async def test_a_hint_with_a_bad_signature_is_ignored_and_the_user_asked(
        web: httpx.AsyncClient) -> None:
    tokens = await sign_in(web)
    header, payload, signature = tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = ".".join([header, _segment({**claims, "sub": "someone-else"}), signature])
    page = await web.get("/logout", params={"id_token_hint": forged})
    assert_page(page, 200)
    assert 'id="hint-ignored"' in page.text
    assert await signed_in(web) is True


async def test_a_hint_from_another_issuer_is_ignored_and_the_user_asked(
        web: httpx.AsyncClient) -> None:
    tokens = await sign_in(web)
    sub = json.loads(base64.urlsafe_b64decode(
        tokens["id_token"].split(".")[1] + "==="))["sub"]
    other = TokenMinter(KeyRing([generate_key("RS256", int(time.time()))]),
                        issuer="https://other.example", audience="x", access_ttl=60, id_ttl=60)
    foreign = other.id_token(client_id=RP, subject=sub, nonce=None, auth_time=None,
                             access_token=None, alg="RS256", now=int(time.time()))
    page = await web.get("/logout", params={"id_token_hint": foreign,
                                            "post_logout_redirect_uri": RP_BYE})
    # The hint identified no client, so the redirect cannot be checked: refused outright.
    assert_page(page, 400)
    page = await web.get("/logout", params={"id_token_hint": foreign, "client_id": RP})
    assert_page(page, 200)
    assert 'id="hint-ignored"' in page.text
    assert await signed_in(web) is True


async def test_a_client_id_that_is_not_the_hints_audience_is_refused(
        web: httpx.AsyncClient) -> None:
    tokens = await sign_in(web)  # an ID token for RP
    response = await web.get("/logout", params={
        "id_token_hint": tokens["id_token"], "client_id": KEEPER,
        "post_logout_redirect_uri": RP_BYE})
    assert_page(response, 400)
    assert "client_id does not match" in response.text
    assert await signed_in(web) is True


@pytest.mark.parametrize("uri", [
    "https://evil.example/bye",  # not registered
    f"{RP_BYE}?next=https://evil.example",  # a registered one with a query added
    f"{RP_BYE}/",  # … or a path
    "https://RP.example/bye",  # exact: not even the host's case is normalised
])
async def test_a_post_logout_uri_not_registered_exactly_is_refused_without_a_redirect(
        web: httpx.AsyncClient, uri: str) -> None:
    tokens = await sign_in(web)
    response = await web.get("/logout", params={"id_token_hint": tokens["id_token"],
                                                "post_logout_redirect_uri": uri})
    assert_page(response, 400)
    assert "not registered" in response.text
    assert await signed_in(web) is True


async def test_a_redirect_needs_the_client_identified(web: httpx.AsyncClient) -> None:
    await sign_in(web)
    response = await web.get("/logout", params={"post_logout_redirect_uri": RP_BYE})
    assert_page(response, 400)
    assert_page(await web.get("/logout", params={"client_id": "nobody"}), 400)
    assert_page(await web.get("/logout", params={"state": "x" * 3000}), 400)


async def test_a_registered_uri_with_its_own_query_keeps_it(web: httpx.AsyncClient) -> None:
    tokens = await sign_in(web)
    response = await web.get("/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri":
        "https://rp.example/bye?x=1", "state": "z"})
    assert response.headers["location"] == "https://rp.example/bye?x=1&state=z"


async def test_logout_revokes_the_sessions_refresh_tokens_of_a_client_that_chose_it(
        web: httpx.AsyncClient) -> None:
    revoking = await sign_in(web)  # RP: revoke_on_logout
    keeping = await sign_in(web, KEEPER, KEEPER_REDIRECT)  # the same session
    response = await web.get("/logout", params={"id_token_hint": revoking["id_token"]})
    assert response.status_code == 200
    assert "You are signed out" in response.text
    assert_oauth_error(await refresh(web, revoking["refresh_token"], client_id=RP),
                       "invalid_grant")
    kept = await refresh(web, keeping["refresh_token"], client_id=KEEPER)
    assert kept.status_code == 200, kept.text


async def test_with_no_session_a_valid_request_goes_straight_to_the_uri(
        web: httpx.AsyncClient) -> None:
    response = await web.get("/logout", params={"client_id": RP,
                                                "post_logout_redirect_uri": RP_BYE})
    assert response.status_code == 303
    assert response.headers["location"] == RP_BYE
