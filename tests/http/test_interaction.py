"""Login and consent between /authorize and the code (OIDC Core §3.1.2.3–§3.1.2.6): passwords
and throttling, remembered consent, prompt and max_age, single use, browser binding, CSRF."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from proofkey.flows.admin import register_user
from proofkey.flows.context import Context
from proofkey.flows.interaction import csrf_token
from proofkey.models import Secret
from proofkey.observability.events import CodeIssued, LoginFailed, LoginThrottled
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.cookies import BROWSER_COOKIE, SESSION_COOKIE
from tests.conftest import Recorder
from tests.helpers import (
    ISSUER,
    PASSWORD,
    USERNAME,
    WEB_ID,
    WEB_REDIRECT,
    Flow,
    action_of,
    authorize_params,
    csrf_of,
    get_code,
    login_and_consent,
    new_flow,
    query_of,
)

EXPIRED = "expired or was already completed"
BOB, BOB_PASSWORD = "bob", "bob's own long password"


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:
    """The shared clients and user, plus a second user."""
    store = open_store(settings.effective_database_url)
    await store.migrate()
    await register_user(store, BOB, BOB_PASSWORD, now=int(time.time()))
    await store.close()
    return seeded


@pytest.fixture
async def other_browser(http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser on the same app: same transport, its own cookie jar."""
    async with httpx.AsyncClient(transport=http._transport, base_url=ISSUER) as client:
        yield client


async def start(http: httpx.AsyncClient, flow: Flow, **extra: str | None) -> str:
    """GET /authorize and return the interaction URL it sends the browser to."""
    response = await http.get("/authorize", params=authorize_params(flow, **extra))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/interaction/"), location
    return location


async def login_page(http: httpx.AsyncClient, flow: Flow, **extra: str | None) -> httpx.Response:
    page = await http.get(await start(http, flow, **extra))
    assert page.status_code == 200
    assert 'name="password"' in page.text, page.text
    return page


async def submit_login(http: httpx.AsyncClient, page: httpx.Response, *,
                       username: str = USERNAME, password: str = PASSWORD) -> httpx.Response:
    return await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "username": username, "password": password})


async def consent_page(http: httpx.AsyncClient, flow: Flow, **extra: str | None
                       ) -> httpx.Response:
    """Log in through a fresh request and stop at the consent page."""
    response = await submit_login(http, await login_page(http, flow, **extra))
    assert response.status_code == 303, response.text
    page = await http.get(response.headers["location"])
    assert 'name="decision"' in page.text, page.text
    return page


def session_cookie_set(response: httpx.Response) -> bool:
    return any(h.startswith(f"{SESSION_COOKIE}=")
               for h in response.headers.get_list("set-cookie"))


def throttled_scopes(events: Recorder) -> list[str]:
    return [e.scope for e in events.events if isinstance(e, LoginThrottled)]


def assert_expired_page(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert "<code>invalid_request</code>" in response.text


def assert_code_redirect(response: httpx.Response, flow: Flow) -> str:
    assert response.status_code == 303, response.text
    query = query_of(response.headers["location"])
    assert response.headers["location"].startswith(f"{flow.redirect_uri}?")
    assert query["state"] == flow.state
    assert query["iss"] == ISSUER
    return query["code"]


# -- Login ----------------------------------------------------------------------------------


async def test_the_login_page_asks_for_username_and_password(http: httpx.AsyncClient) -> None:
    page = await login_page(http, new_flow())
    assert 'name="username"' in page.text
    assert 'name="password" type="password"' in page.text
    assert "Native App" in page.text


async def test_a_wrong_password_shows_the_login_form_again_with_a_generic_message(
        http: httpx.AsyncClient, events: Recorder) -> None:
    page = await login_page(http, new_flow())
    response = await submit_login(http, page, password="not the password")
    assert response.status_code == 401
    assert "Incorrect username or password." in response.text
    assert 'name="password"' in response.text
    assert not session_cookie_set(response)
    assert SESSION_COOKIE not in http.cookies
    assert not events.of(CodeIssued)
    assert len(events.of(LoginFailed)) == 1


async def test_an_unknown_user_gets_the_same_message_as_a_wrong_password(
        http: httpx.AsyncClient) -> None:
    page = await login_page(http, new_flow())
    wrong_password = await submit_login(http, page, password="not the password")
    unknown_user = await submit_login(http, page, username="mallory")
    assert unknown_user.status_code == wrong_password.status_code == 401
    assert unknown_user.text.replace("mallory", USERNAME) == wrong_password.text


async def test_after_too_many_failures_for_a_user_even_the_right_password_gets_429(
        http: httpx.AsyncClient, events: Recorder, settings: Settings) -> None:
    page = await login_page(http, new_flow())
    for _ in range(settings.login_failures_per_user):
        assert (await submit_login(http, page, password="wrong password")).status_code == 401
    throttled = await submit_login(http, page)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert not session_cookie_set(throttled)
    assert not events.of(CodeIssued)
    assert throttled_scopes(events) == ["user"]


@pytest.mark.parametrize("settings_overrides", [{"login_failures_per_ip": 3}])
async def test_after_too_many_failures_from_one_address_every_login_gets_429(
        http: httpx.AsyncClient, events: Recorder) -> None:
    page = await login_page(http, new_flow())
    for name in ("bob", "carol", "dave"):
        assert (await submit_login(http, page, username=name)).status_code == 401
    throttled = await submit_login(http, page)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert not events.of(CodeIssued)
    assert throttled_scopes(events) == ["ip"]


async def test_a_successful_login_resets_the_per_user_failure_count(
        http: httpx.AsyncClient, settings: Settings) -> None:
    almost = settings.login_failures_per_user - 1
    page = await login_page(http, new_flow())
    for _ in range(almost):
        assert (await submit_login(http, page, password="wrong password")).status_code == 401
    assert (await submit_login(http, page)).status_code == 303
    page = await login_page(http, new_flow(), prompt="login")
    for _ in range(almost):
        assert (await submit_login(http, page, password="wrong password")).status_code == 401
    assert (await submit_login(http, page)).status_code == 303


# -- Consent --------------------------------------------------------------------------------


async def test_consent_is_asked_after_login(http: httpx.AsyncClient) -> None:
    page = await consent_page(http, new_flow())
    assert "Native App" in page.text
    assert "<code>openid</code>" in page.text
    assert "<code>profile</code>" in page.text
    assert 'value="allow"' in page.text
    assert 'value="deny"' in page.text


async def test_denying_consent_redirects_with_access_denied_state_and_iss(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    response = await login_and_consent(http, flow, consent="deny")
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert response.headers["location"].startswith(f"{flow.redirect_uri}?")
    assert query["error"] == "access_denied"
    assert query["state"] == flow.state
    assert query["iss"] == ISSUER
    assert "code" not in query
    assert not events.of(CodeIssued)


async def test_allowing_consent_redirects_with_a_code(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    assert_code_redirect(await login_and_consent(http, flow), flow)
    assert len(events.of(CodeIssued)) == 1


async def test_remembered_consent_skips_login_and_consent_for_the_same_scopes(
        http: httpx.AsyncClient) -> None:
    # The silent path: a confidential client (a loopback public one is asked every time).
    await get_code(http, new_flow(WEB_ID, WEB_REDIRECT))
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    response = await http.get("/authorize", params=authorize_params(flow))
    assert_code_redirect(response, flow)
    narrower = new_flow(WEB_ID, WEB_REDIRECT)
    response = await http.get("/authorize", params=authorize_params(narrower, scope="openid"))
    assert_code_redirect(response, narrower)


async def test_a_broader_scope_asks_for_consent_again(http: httpx.AsyncClient) -> None:
    await get_code(http, new_flow())
    page = await http.get(await start(http, new_flow(), scope="openid profile email"))
    assert 'name="decision"' in page.text
    assert 'name="password"' not in page.text
    assert "<code>email</code>" in page.text


async def test_consent_is_remembered_per_client(http: httpx.AsyncClient) -> None:
    await get_code(http, new_flow())
    page = await http.get(await start(http, new_flow(WEB_ID, WEB_REDIRECT)))
    assert 'name="decision"' in page.text


async def test_a_client_never_approved_gets_no_code_without_consent_even_for_no_scope(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    response = await submit_login(http, await login_page(http, flow, scope=None))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/interaction/"), response.headers
    assert not events.of(CodeIssued)
    # With a session, a new request must still ask, not answer with a code.
    response = await http.get("/authorize", params=authorize_params(new_flow(), scope=None))
    assert response.headers["location"].startswith("/interaction/")
    assert not events.of(CodeIssued)


async def test_prompt_consent_asks_again_even_when_consent_is_remembered(
        http: httpx.AsyncClient) -> None:
    await get_code(http, new_flow())
    page = await http.get(await start(http, new_flow(), prompt="consent"))
    assert 'name="decision"' in page.text
    assert 'name="password"' not in page.text


async def test_prompt_login_asks_for_the_password_again_even_with_a_session(
        http: httpx.AsyncClient) -> None:
    # The silent path: a confidential client (a loopback public one is asked every time).
    await get_code(http, new_flow(WEB_ID, WEB_REDIRECT))
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    page = await login_page(http, flow, prompt="login")
    response = await submit_login(http, page)
    assert_code_redirect(response, flow)


async def test_max_age_zero_forces_a_new_login_even_within_the_same_second(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # The silent path: a confidential client (a loopback public one is asked every time).
    frozen = int(time.time())
    monkeypatch.setattr(Context, "now", lambda self: frozen)
    await get_code(http, new_flow(WEB_ID, WEB_REDIRECT))
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    page = await login_page(http, flow, max_age="0")
    assert_code_redirect(await submit_login(http, page), flow)


async def test_a_session_younger_than_max_age_is_used(http: httpx.AsyncClient) -> None:
    # The silent path: a confidential client (a loopback public one is asked every time).
    await get_code(http, new_flow(WEB_ID, WEB_REDIRECT))
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    response = await http.get("/authorize", params=authorize_params(flow, max_age="3600"))
    assert_code_redirect(response, flow)


async def test_a_session_older_than_max_age_must_log_in_again(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    await get_code(http, new_flow())
    real_now = Context.now
    monkeypatch.setattr(Context, "now", lambda self: real_now(self) + 120)
    await login_page(http, new_flow(), max_age="60")


async def test_prompt_none_without_a_session_redirects_with_login_required(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    response = await http.get("/authorize", params=authorize_params(flow, prompt="none"))
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert query["error"] == "login_required"
    assert query["state"] == flow.state
    assert query["iss"] == ISSUER
    assert "code" not in query


async def test_prompt_none_with_a_session_but_no_consent_redirects_with_consent_required(
        http: httpx.AsyncClient, events: Recorder) -> None:
    await get_code(http, new_flow())
    flow = new_flow()
    response = await http.get("/authorize", params=authorize_params(
        flow, prompt="none", scope="openid email"))
    query = query_of(response.headers["location"])
    assert query["error"] == "consent_required"
    assert query["state"] == flow.state
    assert query["iss"] == ISSUER
    assert "code" not in query
    assert len(events.of(CodeIssued)) == 1


async def test_prompt_none_with_a_session_and_consent_redirects_with_a_code(
        http: httpx.AsyncClient) -> None:
    # The silent path: a confidential client (a loopback public one is asked every time).
    await get_code(http, new_flow(WEB_ID, WEB_REDIRECT))
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    response = await http.get("/authorize", params=authorize_params(flow, prompt="none"))
    assert_code_redirect(response, flow)


# -- Single use, expiry and browser binding -------------------------------------------------


async def test_replaying_the_consent_post_after_completion_shows_the_expired_page(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    page = await consent_page(http, flow)
    form = {"csrf": csrf_of(page.text), "decision": "allow"}
    assert_code_redirect(await http.post(action_of(page.text), data=form), flow)
    replay = await http.post(action_of(page.text), data=form)
    assert_expired_page(replay)
    assert EXPIRED in replay.text
    assert len(events.of(CodeIssued)) == 1


async def test_replaying_a_denial_after_completion_shows_the_expired_page(
        http: httpx.AsyncClient) -> None:
    page = await consent_page(http, new_flow())
    form = {"csrf": csrf_of(page.text), "decision": "deny"}
    assert (await http.post(action_of(page.text), data=form)).status_code == 303
    assert_expired_page(await http.post(action_of(page.text), data=form))


async def test_replaying_the_login_post_after_completion_shows_the_expired_page(
        http: httpx.AsyncClient, events: Recorder) -> None:
    # The silent path: a confidential client (a loopback public one is asked every time).
    await get_code(http, new_flow(WEB_ID, WEB_REDIRECT))  # remembered: login alone ends it
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    page = await login_page(http, flow, prompt="login")
    assert_code_redirect(await submit_login(http, page), flow)
    replay = await submit_login(http, page)
    assert_expired_page(replay)
    assert EXPIRED in replay.text
    assert len(events.of(CodeIssued)) == 2
    assert_expired_page(await http.get(action_of(page.text).removesuffix("/login")))


async def test_a_made_up_interaction_handle_shows_the_error_page(
        http: httpx.AsyncClient) -> None:
    page = await login_page(http, new_flow())  # a real pending request exists
    made_up = "/interaction/" + "A" * 43
    assert_expired_page(await http.get(made_up))
    response = await http.post(f"{made_up}/login", data={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    assert_expired_page(response)
    assert_expired_page(await http.get("/interaction/" + "A" * 200))


async def test_an_expired_interaction_shows_the_error_page(
        http: httpx.AsyncClient, events: Recorder, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    page = await login_page(http, new_flow())
    real_now = Context.now
    monkeypatch.setattr(Context, "now",
                        lambda self: real_now(self) + settings.interaction_ttl_seconds + 1)
    assert_expired_page(await http.get(action_of(page.text).removesuffix("/login")))
    response = await submit_login(http, page)
    assert_expired_page(response)
    assert not session_cookie_set(response)
    assert not events.of(CodeIssued)


async def test_a_pending_request_cannot_be_continued_in_another_browser(
        http: httpx.AsyncClient, other_browser: httpx.AsyncClient, events: Recorder) -> None:
    page = await login_page(http, new_flow())
    interaction_url = action_of(page.text).removesuffix("/login")
    assert_expired_page(await other_browser.get(interaction_url))
    # Even with a CSRF token that is valid for the other browser's own secret.
    await other_browser.get("/account")
    secret = other_browser.cookies[BROWSER_COOKIE]
    handle = interaction_url.rsplit("/", 1)[1]
    response = await other_browser.post(f"{interaction_url}/login", data={
        "csrf": csrf_token(secret, f"login:{handle}"), "username": USERNAME,
        "password": PASSWORD})
    assert_expired_page(response)
    assert not session_cookie_set(response)
    assert not events.of(CodeIssued)


async def test_a_consent_page_cannot_be_answered_from_another_browser(
        http: httpx.AsyncClient, other_browser: httpx.AsyncClient, events: Recorder) -> None:
    page = await consent_page(http, new_flow())
    # The other browser logs in as the same user, so only the binding can stop it.
    await get_code(other_browser, new_flow(), scope="openid")
    await other_browser.get("/account")
    secret = other_browser.cookies[BROWSER_COOKIE]
    handle = action_of(page.text).split("/")[2]
    response = await other_browser.post(action_of(page.text), data={
        "csrf": csrf_token(secret, f"consent:{handle}"), "decision": "allow"})
    assert_expired_page(response)
    assert len(events.of(CodeIssued)) == 1


# -- CSRF -----------------------------------------------------------------------------------


@pytest.mark.parametrize("csrf", [None, "", "x" * 43])
async def test_a_login_post_without_a_valid_csrf_token_is_refused(
        http: httpx.AsyncClient, events: Recorder, csrf: str | None) -> None:
    page = await login_page(http, new_flow())
    form = {"username": USERNAME, "password": PASSWORD}
    if csrf is not None:
        form["csrf"] = csrf
    response = await http.post(action_of(page.text), data=form)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "<code>invalid_request</code>" in response.text
    assert not session_cookie_set(response)
    assert not events.of(CodeIssued)


async def test_a_login_post_with_another_browsers_csrf_token_is_refused(
        http: httpx.AsyncClient, other_browser: httpx.AsyncClient, events: Recorder) -> None:
    page = await login_page(http, new_flow())
    other_page = await login_page(other_browser, new_flow())
    response = await http.post(action_of(page.text), data={
        "csrf": csrf_of(other_page.text), "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 400
    assert not session_cookie_set(response)
    # The other browser's token, computed for this very request, is refused too.
    handle = action_of(page.text).split("/")[2]
    forged = csrf_token(other_browser.cookies[BROWSER_COOKIE], f"login:{handle}")
    response = await http.post(action_of(page.text), data={
        "csrf": forged, "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 400
    assert not session_cookie_set(response)
    assert not events.of(CodeIssued)


async def test_a_login_csrf_token_does_not_fit_another_request_of_the_same_browser(
        http: httpx.AsyncClient) -> None:
    first = await login_page(http, new_flow())
    second = await login_page(http, new_flow())
    response = await http.post(action_of(second.text), data={
        "csrf": csrf_of(first.text), "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 400


@pytest.mark.parametrize("csrf", [None, "", "x" * 43])
async def test_a_consent_post_without_a_valid_csrf_token_is_refused(
        http: httpx.AsyncClient, events: Recorder, csrf: str | None) -> None:
    page = await consent_page(http, new_flow())
    form = {"decision": "allow"}
    if csrf is not None:
        form["csrf"] = csrf
    response = await http.post(action_of(page.text), data=form)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert not events.of(CodeIssued)
    # The request is still pending: the real form still works.
    flow_response = await http.post(action_of(page.text), data={
        "csrf": csrf_of(page.text), "decision": "allow"})
    assert flow_response.status_code == 303
    assert len(events.of(CodeIssued)) == 1


async def test_a_consent_post_with_another_browsers_csrf_token_is_refused(
        http: httpx.AsyncClient, other_browser: httpx.AsyncClient, events: Recorder) -> None:
    page = await consent_page(http, new_flow())
    handle = action_of(page.text).split("/")[2]
    await other_browser.get("/account")
    forged = csrf_token(other_browser.cookies[BROWSER_COOKIE], f"consent:{handle}")
    response = await http.post(action_of(page.text), data={"csrf": forged,
                                                           "decision": "allow"})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert not events.of(CodeIssued)


async def test_a_consent_post_with_the_login_csrf_token_is_refused(
        http: httpx.AsyncClient, events: Recorder) -> None:
    login = await login_page(http, new_flow())
    response = await submit_login(http, login)
    consent_url = f"{response.headers['location']}/consent"
    response = await http.post(consent_url, data={"csrf": csrf_of(login.text),
                                                  "decision": "allow"})
    assert response.status_code == 400
    assert not events.of(CodeIssued)


async def test_consent_cannot_be_given_after_the_browser_signed_in_as_another_user(
        http: httpx.AsyncClient, events: Recorder) -> None:
    page = await consent_page(http, new_flow())  # alice's request, waiting for consent
    account = await http.get("/account")
    response = await http.post("/account/login", data={
        "csrf": csrf_of(account.text), "username": BOB, "password": BOB_PASSWORD})
    assert response.status_code == 303
    response = await http.post(action_of(page.text), data={"csrf": csrf_of(page.text),
                                                           "decision": "allow"})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert not events.of(CodeIssued)


async def test_a_consent_post_without_a_decision_is_refused(
        http: httpx.AsyncClient, events: Recorder) -> None:
    page = await consent_page(http, new_flow())
    for decision in (None, "maybe"):
        form = {"csrf": csrf_of(page.text)}
        if decision:
            form["decision"] = decision
        response = await http.post(action_of(page.text), data=form)
        assert response.status_code == 400
    assert not events.of(CodeIssued)


async def test_a_login_post_that_is_not_a_form_is_refused(
        http: httpx.AsyncClient, events: Recorder) -> None:
    page = await login_page(http, new_flow())
    response = await http.post(action_of(page.text), json={
        "csrf": csrf_of(page.text), "username": USERNAME, "password": PASSWORD})
    assert response.status_code == 400
    assert not session_cookie_set(response)
