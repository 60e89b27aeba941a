"""The device authorization grant (RFC 8628) over HTTP against the real app: the device
authorization endpoint (§3.1–3.2), the user's pages (§3.3), polling (§3.4–3.5) and user codes
(§6.1)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.observability.events import TokenExchanged, TokenExchangeFailed
from proofkey.protocol.device import DEVICE_GRANT_TYPE, USER_CODE_ALPHABET
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.cookies import SESSION_COOKIE
from proofkey.web.pages import PAGE_HEADERS
from tests.conftest import Recorder
from tests.helpers import ISSUER, PASSWORD, PUBLIC_ID, USERNAME, csrf_of
from tests.http.test_token_code_grant import assert_oauth_error, shift_clock

TV_ID = "living-room-tv"
TV_NAME = "Living Room TV"
BOX_ID = "set-top-box"  # confidential, client_secret_basic
USER_CODE = re.compile(f"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}")
_HIDDEN_CODE = re.compile(r'name="user_code" value="([^"]*)"')
INTERVAL = 5


@pytest.fixture
async def box_secret(settings: Settings, seeded: object) -> str:
    return await register_device_clients(settings)


async def register_device_clients(settings: Settings) -> str:
    """Register the device clients; return the confidential one's secret."""
    store = open_store(settings.effective_database_url)
    scopes = settings.scopes_supported
    try:
        await register_client(store, TV_ID, client_type="public", redirect_uris=[],
                              scopes=scopes, supported_scopes=scopes,
                              grant_types=[DEVICE_GRANT_TYPE, "refresh_token"], name=TV_NAME,
                              now=int(time.time()))
        box = await register_client(store, BOX_ID, client_type="confidential",
                                    redirect_uris=[], scopes=scopes, supported_scopes=scopes,
                                    grant_types=[DEVICE_GRANT_TYPE], name="Set-top box",
                                    now=int(time.time()))
    finally:
        await store.close()
    assert box.secret is not None
    return box.secret.reveal()


@pytest.fixture
async def device(http: httpx.AsyncClient, box_secret: str) -> AsyncIterator[httpx.AsyncClient]:
    """The device's own HTTP client on the same app (no cookies shared with the browser)."""
    async with httpx.AsyncClient(transport=http._transport, base_url=ISSUER) as own:
        yield own


@pytest.fixture
async def browser2(http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser on the same app, with a cookie jar of its own."""
    async with httpx.AsyncClient(transport=http._transport, base_url=ISSUER) as other:
        yield other


# -- helpers -----------------------------------------------------------------------------------


async def authorize(http: httpx.AsyncClient, client_id: str = TV_ID,
                    scope: str | None = "openid profile offline_access",
                    auth: tuple[str, str] | None = None) -> httpx.Response:
    data = {"scope": scope} if scope is not None else {}
    if auth is None:
        data["client_id"] = client_id
    return await http.post("/device_authorization", data=data,
                           auth=auth or httpx.USE_CLIENT_DEFAULT)


async def started(http: httpx.AsyncClient, client_id: str = TV_ID, **kwargs: Any
                  ) -> dict[str, Any]:
    response = await authorize(http, client_id, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def poll(http: httpx.AsyncClient, device_code: str, client_id: str = TV_ID,
               auth: tuple[str, str] | None = None) -> httpx.Response:
    data = {"grant_type": DEVICE_GRANT_TYPE, "device_code": device_code}
    if auth is None:
        data["client_id"] = client_id
    return await http.post("/token", data=data, auth=auth or httpx.USE_CLIENT_DEFAULT)


async def sign_in(browser: httpx.AsyncClient, user_code: str | None = None) -> httpx.Response:
    """Open the verification URI (complete, when given a code), sign in; return the code form."""
    page = await browser.get("/device", params={"user_code": user_code} if user_code else None)
    assert page.status_code == 200, page.text
    assert 'name="password"' in page.text
    response = await browser.post("/device/login", data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD,
        "user_code": user_code or ""})
    assert response.status_code == 303, response.text
    entry = await browser.get(response.headers["location"])
    assert entry.status_code == 200, entry.text
    assert 'name="user_code"' in entry.text
    assert 'name="password"' not in entry.text
    return entry


async def enter_code(browser: httpx.AsyncClient, typed: str) -> httpx.Response:
    """Type a code into the (signed-in) code form; return the answer (the confirmation)."""
    entry = await browser.get("/device")
    return await browser.post("/device", data={"csrf": csrf_of(entry.text), "user_code": typed})


async def decide(browser: httpx.AsyncClient, confirm: httpx.Response,
                 decision: str = "allow") -> httpx.Response:
    match = _HIDDEN_CODE.search(confirm.text)
    assert match, confirm.text
    return await browser.post("/device/decide", data={
        "csrf": csrf_of(confirm.text), "user_code": match.group(1), "decision": decision})


async def approve(browser: httpx.AsyncClient, user_code: str, decision: str = "allow") -> None:
    """The person's whole part: sign in, enter the code, answer."""
    await sign_in(browser)
    confirm = await enter_code(browser, user_code)
    assert confirm.status_code == 200, confirm.text
    done = await decide(browser, confirm, decision)
    assert done.status_code == 200, done.text
    assert 'id="device-outcome"' in done.text


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


# -- discovery and the device authorization endpoint (§3.1–3.2, §4) ----------------------------


async def test_metadata_advertises_the_device_authorization_endpoint_and_grant(
        http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert metadata["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
    assert DEVICE_GRANT_TYPE in metadata["grant_types_supported"]


async def test_a_registered_client_gets_a_device_code_and_a_short_user_code(
        device: httpx.AsyncClient) -> None:
    response = await authorize(device)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"device_code", "user_code", "verification_uri",
                         "verification_uri_complete", "expires_in", "interval"}
    assert len(body["device_code"]) >= 43  # ≥ 256 bits, base64url
    assert USER_CODE.fullmatch(body["user_code"]), body["user_code"]
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == (
        f"{ISSUER}/device?user_code={body['user_code'].replace('-', '')}")
    assert body["expires_in"] == 600
    assert body["interval"] == INTERVAL


async def test_user_codes_are_eight_consonants_of_the_rfc_8628_alphabet_and_differ(
        device: httpx.AsyncClient) -> None:
    codes = [(await started(device))["user_code"] for _ in range(20)]
    assert all(USER_CODE.fullmatch(code) for code in codes)
    assert not set("".join(codes)) & set("AEIOUY0123456789")
    assert len(set(codes)) == len(codes)


async def test_a_confidential_client_authenticates_as_at_the_token_endpoint(
        device: httpx.AsyncClient, box_secret: str) -> None:
    response = await authorize(device, BOX_ID, auth=(BOX_ID, box_secret))
    assert response.status_code == 200, response.text
    refused = await authorize(device, BOX_ID, auth=(BOX_ID, "wrong"))
    assert_oauth_error(refused, "invalid_client", status=401)
    assert_oauth_error(await authorize(device, BOX_ID), "invalid_client", status=401)


async def test_an_unknown_client_is_refused(device: httpx.AsyncClient) -> None:
    assert_oauth_error(await authorize(device, "nobody"), "invalid_client", status=401)


async def test_a_client_without_the_device_grant_is_unauthorized(
        device: httpx.AsyncClient) -> None:
    assert_oauth_error(await authorize(device, PUBLIC_ID), "unauthorized_client")


async def test_a_scope_beyond_the_server_is_refused(device: httpx.AsyncClient) -> None:
    assert_oauth_error(await authorize(device, scope="openid admin"), "invalid_scope")


async def test_the_device_authorization_endpoint_takes_only_form_posts(
        device: httpx.AsyncClient) -> None:
    response = await device.post("/device_authorization", json={"client_id": TV_ID})
    assert_oauth_error(response, "invalid_request")
    assert (await device.get("/device_authorization")).status_code == 405


# -- polling (§3.4–3.5) ------------------------------------------------------------------------


async def test_polling_before_the_user_acts_answers_authorization_pending(
        device: httpx.AsyncClient, events: Recorder) -> None:
    started_ = await started(device)
    response = await poll(device, started_["device_code"])
    assert_oauth_error(response, "authorization_pending", secrets=[started_["device_code"]])
    # The normal waiting state is not a failed token exchange (it would burn the error budget).
    assert not events.of(TokenExchangeFailed)


async def test_polling_faster_than_the_interval_answers_slow_down(
        device: httpx.AsyncClient) -> None:
    code = (await started(device))["device_code"]
    assert_oauth_error(await poll(device, code), "authorization_pending")
    assert_oauth_error(await poll(device, code), "slow_down", status=400)
    shift_clock(device, INTERVAL - 1)
    assert_oauth_error(await poll(device, code), "slow_down", status=400)
    shift_clock(device, INTERVAL)
    assert_oauth_error(await poll(device, code), "authorization_pending")


async def test_an_approved_device_gets_its_tokens_exactly_once(
        device: httpx.AsyncClient, http: httpx.AsyncClient, events: Recorder) -> None:
    started_ = await started(device)
    assert_oauth_error(await poll(device, started_["device_code"]), "authorization_pending")
    await approve(http, started_["user_code"])
    shift_clock(device, INTERVAL)
    response = await poll(device, started_["device_code"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "openid profile offline_access"
    assert tokens["refresh_token"]
    claims = claims_of(tokens["id_token"])
    assert claims["aud"] == TV_ID
    assert claims["iss"] == ISSUER
    assert "nonce" not in claims
    info = await device.get("/userinfo",
                            headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.json()["preferred_username"] == USERNAME
    exchanged = [e for e in events.events if isinstance(e, TokenExchanged)]
    assert [e.grant_type for e in exchanged] == [DEVICE_GRANT_TYPE]

    # Used once: the device code is a spent grant now (RFC 6749 §5.2 invalid_grant), not an
    # expired one (RFC 8628 §3.5 keeps expired_token for a code whose lifetime ran out).
    assert_oauth_error(await poll(device, started_["device_code"]), "invalid_grant")
    shift_clock(device, INTERVAL)
    assert_oauth_error(await poll(device, started_["device_code"]), "invalid_grant",
                       secrets=[started_["device_code"]])
    refreshed = await device.post("/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": TV_ID})
    assert refreshed.status_code == 200, refreshed.text


async def test_without_openid_there_is_no_id_token(
        device: httpx.AsyncClient, http: httpx.AsyncClient, box_secret: str) -> None:
    started_ = await started(device, BOX_ID, scope="profile", auth=(BOX_ID, box_secret))
    await approve(http, started_["user_code"])
    response = await poll(device, started_["device_code"], auth=(BOX_ID, box_secret))
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert "id_token" not in tokens
    assert "refresh_token" not in tokens  # the box may not use refresh_token
    assert tokens["scope"] == "profile"


async def test_a_denied_request_answers_access_denied(
        device: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await approve(http, started_["user_code"], decision="deny")
    assert_oauth_error(await poll(device, started_["device_code"]), "access_denied", status=400)
    shift_clock(device, INTERVAL)
    assert_oauth_error(await poll(device, started_["device_code"]), "access_denied", status=400)


async def test_an_expired_device_code_answers_expired_token(
        device: httpx.AsyncClient) -> None:
    code = (await started(device))["device_code"]
    shift_clock(device, 600)
    assert_oauth_error(await poll(device, code), "expired_token")


async def test_an_approval_not_collected_in_time_expires(
        device: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await approve(http, started_["user_code"])
    shift_clock(device, 600)
    assert_oauth_error(await poll(device, started_["device_code"]), "expired_token")


async def test_a_device_code_is_bound_to_its_client(
        device: httpx.AsyncClient, http: httpx.AsyncClient, box_secret: str) -> None:
    started_ = await started(device)
    await approve(http, started_["user_code"])
    stolen = await poll(device, started_["device_code"], BOX_ID, auth=(BOX_ID, box_secret))
    assert_oauth_error(stolen, "invalid_grant")
    shift_clock(device, INTERVAL)
    assert (await poll(device, started_["device_code"])).status_code == 200


async def test_unknown_or_missing_device_codes_are_refused(device: httpx.AsyncClient) -> None:
    assert_oauth_error(await poll(device, "x" * 43), "invalid_grant")
    assert_oauth_error(await poll(device, "x" * 300), "invalid_grant")
    missing = await device.post("/token", data={"grant_type": DEVICE_GRANT_TYPE,
                                                "client_id": TV_ID})
    assert_oauth_error(missing, "invalid_request")


async def test_a_client_without_the_device_grant_may_not_poll(
        device: httpx.AsyncClient) -> None:
    code = (await started(device))["device_code"]
    assert_oauth_error(await poll(device, code, PUBLIC_ID), "unauthorized_client")


# -- the user's pages (§3.3) -------------------------------------------------------------------


async def test_the_verification_page_asks_for_a_login_first_with_the_page_defences(
        http: httpx.AsyncClient) -> None:
    page = await http.get("/device")
    assert page.status_code == 200
    assert 'name="password"' in page.text
    assert 'action="/device/login"' in page.text
    for name, value in PAGE_HEADERS.items():
        assert page.headers[name] == value


async def test_the_complete_uri_carries_the_code_through_the_login(
        device: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    complete = httpx.URL(started_["verification_uri_complete"])
    entry = await sign_in(http, complete.params["user_code"])
    assert f'value="{started_["user_code"]}"' in entry.text  # pre-filled, canonical form
    assert 'id="signed-in-user">alice<' in entry.text


async def test_the_confirmation_shows_client_scopes_and_code(
        device: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await sign_in(http)
    confirm = await enter_code(http, started_["user_code"])
    assert confirm.status_code == 200, confirm.text
    assert TV_NAME in confirm.text
    assert f'id="user-code">{started_["user_code"]}<' in confirm.text
    for scope in ("openid", "profile", "offline_access"):
        assert f"<code>{scope}</code>" in confirm.text
    for name, value in PAGE_HEADERS.items():
        assert confirm.headers[name] == value
    # Showing the confirmation decides nothing.
    assert_oauth_error(await poll(device, started_["device_code"]), "authorization_pending")


@pytest.mark.parametrize("typing", [str.lower, lambda c: c.replace("-", ""),
                                    lambda c: c.lower().replace("-", " "),
                                    lambda c: f" {c[:2]} {c[2:]} "],
                         ids=["lower case", "no dash", "lower, space", "spaced"])
async def test_user_codes_are_accepted_case_insensitively_with_or_without_the_dash(
        device: httpx.AsyncClient, http: httpx.AsyncClient, typing: Any) -> None:
    started_ = await started(device)
    await sign_in(http)
    confirm = await enter_code(http, typing(started_["user_code"]))
    assert confirm.status_code == 200, confirm.text
    assert f'id="user-code">{started_["user_code"]}<' in confirm.text


async def test_a_wrong_code_is_refused_on_the_form(http: httpx.AsyncClient,
                                                   device: httpx.AsyncClient) -> None:
    await sign_in(http)
    for typed in ("BCDF-GHJ", "AAAA-AAAA", "BCDF-GHJK"):
        page = await enter_code(http, typed)
        assert page.status_code == 400
        assert 'class="alert"' in page.text
        assert 'name="user_code"' in page.text


async def test_wrong_user_codes_are_throttled_per_address(
        device: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await sign_in(http)
    for _ in range(10):
        assert (await enter_code(http, "BBBB-BBBB")).status_code == 400
    throttled = await enter_code(http, "BBBB-BBBB")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    # While throttled even the right code is refused: guessing gains nothing.
    assert (await enter_code(http, started_["user_code"])).status_code == 429
    shift_clock(http, 301)
    assert (await enter_code(http, started_["user_code"])).status_code == 200


async def test_an_expired_code_cannot_be_entered(device: httpx.AsyncClient,
                                                 http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await sign_in(http)
    shift_clock(http, 600)
    page = await enter_code(http, started_["user_code"])
    assert page.status_code == 400
    assert 'id="user-code"' not in page.text
    assert 'class="alert"' in page.text


async def test_a_request_is_decided_only_once(device: httpx.AsyncClient,
                                              http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await sign_in(http)
    confirm = await enter_code(http, started_["user_code"])
    assert (await decide(http, confirm, "allow")).status_code == 200
    again = await decide(http, confirm, "deny")
    assert again.status_code == 400
    assert 'id="device-outcome"' not in again.text
    assert (await poll(device, started_["device_code"])).status_code == 200


async def test_the_decision_must_be_allow_or_deny(device: httpx.AsyncClient,
                                                  http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await sign_in(http)
    confirm = await enter_code(http, started_["user_code"])
    assert (await decide(http, confirm, "maybe")).status_code == 400
    assert_oauth_error(await poll(device, started_["device_code"]), "authorization_pending")


@pytest.mark.parametrize("csrf", [None, "forged"], ids=["missing", "forged"])
async def test_the_device_forms_require_the_csrf_token(
        device: httpx.AsyncClient, http: httpx.AsyncClient, csrf: str | None) -> None:
    started_ = await started(device)
    token = {"csrf": csrf} if csrf else {}
    login = await http.post("/device/login", data={
        **token, "username": USERNAME, "password": PASSWORD})
    assert login.status_code == 400
    assert SESSION_COOKIE not in login.cookies
    await sign_in(http)
    entry = await http.post("/device", data={**token, "user_code": started_["user_code"]})
    assert entry.status_code == 400
    assert TV_NAME not in entry.text
    decided = await http.post("/device/decide", data={
        **token, "user_code": started_["user_code"], "decision": "allow"})
    assert decided.status_code == 400
    assert_oauth_error(await poll(device, started_["device_code"]), "authorization_pending")


async def test_a_csrf_token_of_another_browser_is_refused(
        device: httpx.AsyncClient, http: httpx.AsyncClient,
        browser2: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await sign_in(http)
    confirm = await enter_code(http, started_["user_code"])
    await sign_in(browser2)
    forged = await decide(browser2, confirm, "allow")  # the other browser's token
    assert forged.status_code == 400
    assert_oauth_error(await poll(device, started_["device_code"]), "authorization_pending")


async def test_the_login_is_throttled_like_the_interaction_login(
        http: httpx.AsyncClient) -> None:
    page = await http.get("/device")
    for _ in range(5):  # login_failures_per_user in the test settings
        wrong = await http.post("/device/login", data={
            "csrf": csrf_of(page.text), "username": USERNAME, "password": "wrong password"})
        assert wrong.status_code == 401
        assert "Incorrect username or password." in wrong.text
        assert f'value="{USERNAME}"' in wrong.text
    throttled = await http.post("/device/login", data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert SESSION_COOKIE not in throttled.cookies


async def test_a_login_starts_a_fresh_session(http: httpx.AsyncClient) -> None:
    entry = await sign_in(http)
    first = http.cookies[SESSION_COOKIE]
    again = await http.post("/device/login", data={
        "csrf": csrf_of(entry.text), "username": USERNAME, "password": PASSWORD})
    assert again.status_code == 303
    assert again.cookies[SESSION_COOKIE] != first  # no session fixation
    async with httpx.AsyncClient(transport=http._transport, base_url=ISSUER,
                                 cookies={SESSION_COOKIE: first}) as old:
        page = await old.get("/device")
    assert 'name="password"' in page.text  # the previous session ended


async def test_a_second_browser_may_enter_the_code_while_the_first_is_signed_in(
        device: httpx.AsyncClient, http: httpx.AsyncClient,
        browser2: httpx.AsyncClient) -> None:
    started_ = await started(device)
    await sign_in(http)
    first_confirm = await enter_code(http, started_["user_code"])
    assert first_confirm.status_code == 200
    await approve(browser2, started_["user_code"])  # the code is the binding, not the browser
    response = await poll(device, started_["device_code"])
    assert response.status_code == 200, response.text
    late = await decide(http, first_confirm, "deny")  # already decided in the other browser
    assert late.status_code == 400
    shift_clock(device, INTERVAL)
    assert_oauth_error(await poll(device, started_["device_code"]), "invalid_grant")


async def test_a_signed_out_browser_is_asked_to_sign_in_on_submit(
        device: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    started_ = await started(device)
    page = await http.get("/device")
    response = await http.post("/device", data={"csrf": csrf_of(page.text),
                                                "user_code": started_["user_code"]})
    assert response.status_code == 200
    assert 'name="password"' in response.text
    assert f'value="{started_["user_code"]}"' in response.text
    decided = await http.post("/device/decide", data={
        "csrf": csrf_of(page.text), "user_code": started_["user_code"], "decision": "allow"})
    assert 'name="password"' in decided.text
    assert_oauth_error(await poll(device, started_["device_code"]), "authorization_pending")


async def test_the_code_page_escapes_what_was_typed(http: httpx.AsyncClient) -> None:
    page = await http.get("/device", params={"user_code": '"><script>x</script>'})
    assert "<script>x" not in page.text
    assert "&#34;&gt;&lt;script&gt;" in page.text
