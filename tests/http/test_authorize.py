"""The authorization endpoint over HTTP (RFC 6749 §4.1.1–§4.1.2.1, OAuth 2.1 §4.1, RFC 7636,
RFC 8252 §7.3, RFC 9207, OIDC Core §3.1.2): which errors are shown on a page, which go back
to the client, and what a successful request looks like."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.models import Secret
from proofkey.observability.events import AuthorizationFailed, AuthorizationStarted, CodeIssued
from proofkey.settings import Settings
from proofkey.store import open_store
from tests.conftest import Recorder
from tests.helpers import (
    ISSUER,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    WEB_ID,
    WEB_REDIRECT,
    Flow,
    authorize_params,
    get_code,
    new_flow,
    query_of,
)

LOOPBACK_CONFIDENTIAL_ID = "loopback-web"
QUERY_REDIRECT = "https://app.example.com/cb?tenant=7"


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:
    """The shared clients, plus a confidential client registered with a loopback URI."""
    store = open_store(settings.effective_database_url)
    await store.migrate()
    scopes = settings.scopes_supported
    await register_client(store, LOOPBACK_CONFIDENTIAL_ID, client_type="confidential",
                          redirect_uris=[PUBLIC_REDIRECT, QUERY_REDIRECT], scopes=scopes,
                          supported_scopes=scopes, now=int(time.time()))
    await store.close()
    return seeded


async def authorize(http: httpx.AsyncClient, flow: Flow, **extra: str | None) -> httpx.Response:
    return await http.get("/authorize", params=authorize_params(flow, **extra))


async def authorize_raw(http: httpx.AsyncClient, query: str) -> httpx.Response:
    """Send ``query`` exactly as written (httpx keeps a raw query string verbatim)."""
    return await http.get(f"/authorize?{query}")


def assert_error_page(response: httpx.Response, events: Recorder,
                      error: str = "invalid_request") -> None:
    """An HTML error page, never a redirect, and no code."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert f"<code>{error}</code>" in response.text
    assert not events.of(CodeIssued)


def assert_error_redirect(response: httpx.Response, flow: Flow, events: Recorder,
                          error: str) -> dict[str, str]:
    """A 303 to the client's redirect URI with error, description, state and iss; no code."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    separator = "&" if "?" in flow.redirect_uri else "?"
    assert location.startswith(f"{flow.redirect_uri}{separator}"), location
    query = query_of(location)
    assert query["error"] == error, query
    assert query["error_description"]
    assert query["state"] == flow.state
    assert query["iss"] == ISSUER
    assert "code" not in query
    assert not events.of(CodeIssued)
    return query


# -- Before the client and its redirect URI are verified: a page, never a redirect ----------


async def test_a_missing_client_id_is_shown_on_a_page(
        http: httpx.AsyncClient, events: Recorder) -> None:
    response = await authorize(http, new_flow(), client_id=None)
    assert_error_page(response, events)
    failed = events.of(AuthorizationFailed)
    assert failed == [AuthorizationFailed(None, "invalid_request", False, False)]


async def test_an_unknown_client_id_is_shown_on_a_page(
        http: httpx.AsyncClient, events: Recorder) -> None:
    response = await authorize(http, new_flow(), client_id="no-such-client")
    assert_error_page(response, events)


async def test_a_missing_redirect_uri_is_shown_on_a_page(
        http: httpx.AsyncClient, events: Recorder) -> None:
    response = await authorize(http, new_flow(), redirect_uri=None)
    assert_error_page(response, events)


@pytest.mark.parametrize("redirect_uri", [
    "https://app.example.com/cb/",            # trailing slash
    "https://app.example.com:8443/cb",        # different port, not loopback
    "https://app.example.com:443/cb",         # explicit default port is still a different string
    "https://app.example.com/cb?x=1",         # extra query
    "https://APP.example.com/cb",             # different case (host)
    "https://app.example.com/CB",             # different case (path)
    "https://app.example.com/cb/evil",        # registered URI is a prefix
    "https://app.example.com/cbx",            # registered URI is a prefix
    "https://app.example.com/c",              # requested URI is a prefix
    "https://app.example.com.evil.test/cb",   # registered host is a prefix
    "http://app.example.com/cb",              # different scheme
    "https://app.example.com/cb#frag",        # fragment
    "https://evil.test/cb",
])
async def test_a_redirect_uri_that_is_not_exactly_registered_is_shown_on_a_page(
        http: httpx.AsyncClient, events: Recorder, redirect_uri: str) -> None:
    response = await authorize(http, new_flow(WEB_ID, redirect_uri))
    assert_error_page(response, events)
    assert redirect_uri not in response.text.replace("&amp;", "&")


@pytest.mark.parametrize("redirect_uri", [
    "http://127.0.0.1/callback/",
    "http://127.0.0.1/callback?x=1",
    "http://127.0.0.1/Callback",
    "http://127.0.0.1/callbackx",
    "http://127.0.0.1:53123/other",           # any port, but not any path
    "http://127.0.0.1:53123/callback/",
    "http://127.0.0.1:0/callback",
    "http://[::1]:53123/callback",            # another loopback address is another URI
    "http://localhost:53123/callback",
    "http://127.0.0.1:53123@evil.test/callback",
])
async def test_a_public_client_loopback_uri_matches_only_with_the_registered_path(
        http: httpx.AsyncClient, events: Recorder, redirect_uri: str) -> None:
    response = await authorize(http, new_flow(PUBLIC_ID, redirect_uri))
    assert_error_page(response, events)


@pytest.mark.parametrize("raw", [
    "client_id={cid}&client_id={cid}",
    "redirect_uri={ru}&redirect_uri={ru}",
    "state=one&state=two",
    "state=same&state=same",
    "code_challenge={cc}&code_challenge={cc}",
    "scope=openid&scope=",
])
async def test_a_repeated_parameter_is_shown_on_a_page(
        http: httpx.AsyncClient, events: Recorder, raw: str) -> None:
    flow = new_flow()
    base = authorize_params(flow)
    duplicated = raw.format(cid=flow.client_id, ru=flow.redirect_uri, cc=flow.challenge)
    names = {pair.split("=", 1)[0] for pair in duplicated.split("&")}
    rest = urlencode({k: v for k, v in base.items() if k not in names})
    response = await authorize_raw(http, f"{rest}&{duplicated}")
    assert_error_page(response, events)
    assert "must not be repeated" in response.text


@pytest.mark.parametrize("bad", ["state=%zz", "state=abc%4", "state=%", "st%ate=x",
                                 "state=%FF%FE", "state=a%00b"])
async def test_malformed_percent_encoding_is_shown_on_a_page(
        http: httpx.AsyncClient, events: Recorder, bad: str) -> None:
    flow = new_flow()
    rest = urlencode({k: v for k, v in authorize_params(flow).items() if k != "state"})
    response = await authorize_raw(http, f"{rest}&{bad}")
    assert_error_page(response, events)


async def test_an_over_long_query_string_gets_414_and_no_redirect(
        http: httpx.AsyncClient, events: Recorder, settings: Settings) -> None:
    flow = new_flow()
    padding = "x" * settings.max_query_bytes
    response = await authorize(http, flow, nonce=padding)
    assert response.status_code == 414, response.text
    assert "location" not in response.headers
    assert not events.of(CodeIssued)


# -- Loopback redirect URIs (RFC 8252 §7.3) ---------------------------------------------------


async def test_a_public_client_loopback_redirect_uri_may_use_any_port(
        http: httpx.AsyncClient) -> None:
    flow = new_flow(PUBLIC_ID, "http://127.0.0.1:53123/callback")
    await get_code(http, flow)
    errors = await authorize(http, flow, response_type="token")
    assert errors.headers["location"].startswith("http://127.0.0.1:53123/callback?")


async def test_a_confidential_client_loopback_redirect_uri_is_matched_exactly(
        http: httpx.AsyncClient, events: Recorder) -> None:
    exact = await authorize(http, new_flow(LOOPBACK_CONFIDENTIAL_ID, PUBLIC_REDIRECT))
    assert exact.status_code == 303
    assert exact.headers["location"].startswith("/interaction/")
    other_port = await authorize(
        http, new_flow(LOOPBACK_CONFIDENTIAL_ID, "http://127.0.0.1:53123/callback"))
    assert_error_page(other_port, events)


# -- After verification: errors go back to the client (RFC 6749 §4.1.2.1, RFC 9207) --------


async def test_the_state_is_echoed_byte_exact_in_an_error_redirect(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    flow.state = "a b&c=d%e+f/?#;é✓ 日本 \U0001f511"
    response = await authorize(http, flow, response_type="token")
    assert_error_redirect(response, flow, events, "unsupported_response_type")


async def test_the_redirect_uri_keeps_its_registered_query_in_an_error_redirect(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow(LOOPBACK_CONFIDENTIAL_ID, QUERY_REDIRECT)
    response = await authorize(http, flow, response_type=None)
    query = assert_error_redirect(response, flow, events, "invalid_request")
    assert query["tenant"] == "7"


async def test_a_registered_query_must_be_sent_exactly(
        http: httpx.AsyncClient, events: Recorder) -> None:
    for near_miss in ("https://app.example.com/cb?tenant=8",
                      "https://app.example.com/cb?tenant=7&x=1",
                      "https://app.example.com/cb"):
        response = await authorize(http, new_flow(LOOPBACK_CONFIDENTIAL_ID, near_miss))
        assert_error_page(response, events)


@pytest.mark.parametrize(("extra", "error"), [
    ({"response_type": None}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_type": "id_token"}, "unsupported_response_type"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"scope": "openid \"quoted\""}, "invalid_scope"),
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": "s256"}, "invalid_request"),
    ({"code_challenge": "A" * 42}, "invalid_request"),
    ({"code_challenge": "A" * 44}, "invalid_request"),
    ({"code_challenge": "A" * 42 + "="}, "invalid_request"),
    ({"code_challenge": "+" + "A" * 42}, "invalid_request"),
    ({"code_challenge": "/" + "A" * 42}, "invalid_request"),
    ({"code_challenge": "A" * 43 + "="}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "none consent"}, "invalid_request"),
    ({"prompt": "select_account"}, "invalid_request"),
    ({"prompt": "bogus"}, "invalid_request"),
    ({"max_age": "soon"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"max_age": "1.5"}, "invalid_request"),
    ({"max_age": "٣"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://app.example.com/request.jwt"}, "request_uri_not_supported"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"response_mode": "form_post"}, "invalid_request"),
])
async def test_an_invalid_request_from_a_verified_client_redirects_with_the_error(
        http: httpx.AsyncClient, events: Recorder, extra: dict[str, str | None],
        error: str) -> None:
    flow = new_flow()
    response = await authorize(http, flow, **extra)
    assert_error_redirect(response, flow, events, error)
    failed = events.of(AuthorizationFailed)
    assert len(failed) == 1
    assert isinstance(failed[0], AuthorizationFailed)
    assert failed[0].redirected
    assert failed[0].error == error


async def test_a_confidential_client_also_gets_errors_at_its_redirect_uri(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    response = await authorize(http, flow, code_challenge=None, code_challenge_method=None)
    assert_error_redirect(response, flow, events, "invalid_request")


async def test_a_missing_code_challenge_is_recorded_as_missing_pkce(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    response = await authorize(http, flow, code_challenge=None, code_challenge_method=None)
    assert_error_redirect(response, flow, events, "invalid_request")
    assert events.of(AuthorizationFailed) == [
        AuthorizationFailed(PUBLIC_ID, "invalid_request", True, True)]


async def test_a_present_but_bad_code_challenge_is_not_recorded_as_missing_pkce(
        http: httpx.AsyncClient, events: Recorder) -> None:
    response = await authorize(http, new_flow(), code_challenge_method="plain")
    assert response.status_code == 303
    assert events.of(AuthorizationFailed) == [
        AuthorizationFailed(PUBLIC_ID, "invalid_request", True, False)]


async def test_an_error_redirect_without_state_carries_no_state(
        http: httpx.AsyncClient) -> None:
    response = await authorize(http, new_flow(), state=None, response_type="token")
    query = query_of(response.headers["location"])
    assert query["error"] == "unsupported_response_type"
    assert query["iss"] == ISSUER
    assert "state" not in query


async def test_an_empty_parameter_is_treated_as_omitted(
        http: httpx.AsyncClient, events: Recorder) -> None:
    flow = new_flow()
    response = await authorize(http, flow, code_challenge="")
    assert_error_redirect(response, flow, events, "invalid_request")


# -- Success --------------------------------------------------------------------------------


async def test_a_valid_request_without_a_session_goes_to_the_login_page(
        http: httpx.AsyncClient, events: Recorder) -> None:
    response = await authorize(http, new_flow())
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/interaction/")
    assert response.headers["cache-control"] == "no-store"
    page = await http.get(location)
    assert page.status_code == 200
    assert 'name="username"' in page.text
    assert 'name="password"' in page.text
    assert not events.of(CodeIssued)


async def test_a_code_is_delivered_by_303_with_state_and_iss(
        http: httpx.AsyncClient, events: Recorder) -> None:
    # A confidential client: a loopback public client is asked every time (RFC 8252 §8.6).
    flow = new_flow(WEB_ID, WEB_REDIRECT)
    flow.state = "a b&c=d%e+f ✓"
    code = await get_code(http, flow)
    # A second request with the now-remembered session and consent answers at once.
    response = await authorize(http, flow)
    assert response.status_code == 303
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location.startswith(f"{WEB_REDIRECT}?")
    query = query_of(location)
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == flow.state
    assert query["iss"] == ISSUER
    assert query["code"] != code
    assert len(query["code"]) >= 43  # ≥ 256 bits of base64url
    assert len(events.of(CodeIssued)) == 2


async def test_an_authorization_answered_at_once_is_one_audit_line_and_one_lean_redirect(
        http: httpx.AsyncClient, events: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    """With a session and remembered consent, the request's CodeIssued line (with its scope and
    prompt) is its only audit line; AuthorizationStarted still reaches the other subscribers.
    The 303 carries exactly Location and the no-store headers."""
    await get_code(http, new_flow(WEB_ID, WEB_REDIRECT))
    capsys.readouterr()
    response = await authorize(http, new_flow(WEB_ID, WEB_REDIRECT), prompt="none")
    assert response.status_code == 303
    assert {k: v for k, v in response.headers.items() if k != "location"} == {
        "content-length": "0", "cache-control": "no-store", "pragma": "no-cache",
        "x-content-type-options": "nosniff"}
    assert "code" in query_of(response.headers["location"])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    audit = [line["audit"] for line in lines if "audit" in line]
    assert [a["event"] for a in audit] == ["CodeIssued"]
    assert (audit[0]["client_id"], audit[0]["scope"], audit[0]["prompt"]) == (
        WEB_ID, "openid profile", "none")
    started = events.of(AuthorizationStarted)
    assert started[-1].immediate  # type: ignore[attr-defined]
    assert not started[0].immediate  # type: ignore[attr-defined]  # the first one logged in


async def test_an_authorization_that_needs_the_user_keeps_its_own_audit_line(
        http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = await authorize(http, new_flow(WEB_ID, WEB_REDIRECT))
    assert response.headers["location"].startswith("/interaction/")
    audit = [json.loads(line)["audit"] for line in capsys.readouterr().err.splitlines()
             if line.startswith("{") and '"audit"' in line]
    assert [a["event"] for a in audit] == ["AuthorizationStarted"]
