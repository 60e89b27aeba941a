"""Hostile and malformed input at the token, revocation, introspection and userinfo endpoints:
strict form parsing (RFC 6749 §3.1–3.2), size caps, odd headers, and a fuzz that must never
produce a 5xx or a non-RFC error."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from proofkey.settings import Settings
from proofkey.store.base import StoreUnavailable
from tests.helpers import PUBLIC_ID, WEB_ID
from tests.http.test_token_code_grant import app_services, assert_oauth_error, public_tokens

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ENDPOINTS = ["/token", "/revoke", "/introspect"]

TOKEN_ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                "unsupported_grant_type", "invalid_scope"}
REVOKE_ERRORS = {"invalid_request", "invalid_client", "unsupported_token_type"}
INTROSPECT_ERRORS = {"invalid_request", "invalid_client"}
USERINFO_ERRORS = {"invalid_request", "invalid_token", "insufficient_scope"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# -- content type and body syntax --------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_json_body_is_invalid_request(http: httpx.AsyncClient, path: str) -> None:
    response = await http.post(path, json={"grant_type": "client_credentials",
                                           "client_id": PUBLIC_ID, "token": "x"})
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data; boundary=x",
                                          "application/x-www-form-urlencodedx"])
async def test_a_body_that_is_not_form_encoded_is_invalid_request(
        http: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await http.post("/token", content=b"grant_type=client_credentials&client_id=x",
                               headers=headers)
    assert_oauth_error(response, "invalid_request")


async def test_a_charset_parameter_on_the_form_content_type_is_accepted(
        http: httpx.AsyncClient, web_secret: str) -> None:
    response = await http.post("/token", content=b"grant_type=client_credentials",
                               headers={"Content-Type": "Application/X-WWW-Form-Urlencoded; "
                                                        "charset=UTF-8"},
                               auth=(WEB_ID, web_secret))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body", [
    b"grant_type=client_credentials&client_id=%FF",
    b"grant_type=client_credentials&client_id=\xff\xfe",
    b"grant_type=client_credentials&client_id=%C3%28",
    b"grant_type=client_credentials&client_id=%ED%A0%80",  # an encoded UTF-16 surrogate
], ids=["percent-ff", "raw-ff", "bad-sequence", "surrogate"])
async def test_a_body_that_is_not_utf8_is_invalid_request(
        http: httpx.AsyncClient, body: bytes) -> None:
    assert_oauth_error(await http.post("/token", content=body, headers=FORM), "invalid_request")


@pytest.mark.parametrize("body", [
    b"grant_type=client_credentials&client_id=%G1",
    b"grant_type=client_credentials&client_id=%",
    b"grant_type=client_credentials&client_id=a%2",
    b"grant_type%=client_credentials&client_id=x",
], ids=["non-hex", "bare", "short", "in-name"])
async def test_malformed_percent_encoding_is_invalid_request(
        http: httpx.AsyncClient, body: bytes) -> None:
    assert_oauth_error(await http.post("/token", content=body, headers=FORM), "invalid_request")


@pytest.mark.parametrize("body", [
    b"grant_type=client_credentials&client_id=x%00",
    b"grant_type=client_credentials&client_id=x%0B",
    b"grant_type=client_credentials&client_id=x%7F",
], ids=["nul", "vt", "del"])
async def test_control_characters_in_parameters_are_invalid_request(
        http: httpx.AsyncClient, body: bytes) -> None:
    assert_oauth_error(await http.post("/token", content=body, headers=FORM), "invalid_request")


@pytest.mark.parametrize(("path", "body"), [
    ("/token", b"grant_type=client_credentials&grant_type=client_credentials"),
    ("/token", b"grant_type=refresh_token&client_id=native-app&refresh_token=a&refresh_token=b"),
    ("/token", b"grant_type=client_credentials&client_id=native-app&client_id="),
    ("/token", b"grant_type=client_credentials&client_%69d=a&client_id=a"),
    ("/revoke", b"client_id=native-app&token=a&token=b"),
    ("/introspect", b"token=a&token=a"),
], ids=["grant_type", "refresh_token", "one-empty", "encoded-name", "revoke", "introspect"])
async def test_a_repeated_parameter_is_invalid_request(
        http: httpx.AsyncClient, path: str, body: bytes) -> None:
    # RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    assert_oauth_error(await http.post(path, content=body, headers=FORM), "invalid_request")


async def test_parameters_without_a_value_are_treated_as_omitted(
        http: httpx.AsyncClient) -> None:
    # RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted."
    flow_body = b"grant_type=authorization_code&client_id=native-app&code=&redirect_uri=x"
    response = await http.post("/token", content=flow_body + b"&code_verifier=" + b"a" * 43,
                               headers=FORM)
    assert_oauth_error(response, "invalid_request")
    assert_oauth_error(await http.post("/token", content=b"grant_type=", headers=FORM),
                       "invalid_request")


# -- size caps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*ENDPOINTS, "/userinfo"])
async def test_a_body_over_max_body_bytes_is_413_invalid_request(
        http: httpx.AsyncClient, settings: Settings, path: str) -> None:
    body = b"grant_type=client_credentials&scope=" + b"a" * settings.max_body_bytes
    response = await http.post(path, content=body, headers=FORM)
    assert_oauth_error(response, "invalid_request", status=413)


async def test_a_chunked_body_over_max_body_bytes_is_413_invalid_request(
        http: httpx.AsyncClient, settings: Settings) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"grant_type=client_credentials&scope="
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b"a" * 1024

    response = await http.post("/token", content=chunks(), headers=FORM)
    assert "content-length" not in response.request.headers
    assert_oauth_error(response, "invalid_request", status=413)


async def test_a_body_at_max_body_bytes_is_read(
        http: httpx.AsyncClient, settings: Settings, web_secret: str) -> None:
    body = b"grant_type=client_credentials&scope=profile"
    body += b"&pad=" + b"a" * (settings.max_body_bytes - len(body) - 5)
    assert len(body) == settings.max_body_bytes
    response = await http.post("/token", content=body, headers=FORM, auth=(WEB_ID, web_secret))
    assert response.status_code == 200, response.text


async def test_a_too_large_response_still_carries_nosniff(
        http: httpx.AsyncClient, settings: Settings) -> None:
    body = b"a" * (settings.max_body_bytes + 1)
    response = await http.post("/token", content=body, headers=FORM)
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"
    long_query = await http.get("/authorize", params={"x": "a" * settings.max_query_bytes})
    assert long_query.status_code == 414
    assert long_query.headers["x-content-type-options"] == "nosniff"


# -- failures inside the server ----------------------------------------------------------------


async def test_an_unexpected_error_is_a_generic_server_error_and_does_not_escape_the_app(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # The exception must not propagate to the ASGI server either: uvicorn would log it with
    # its message ("Exception in ASGI application"), and messages may quote request values.
    # Over ASGITransport an escaping exception is raised into the test.
    async def broken(*args: object) -> None:
        raise RuntimeError("the-client-secret-was-s3cr3t")

    monkeypatch.setattr(app_services(http).store, "get_client", broken)
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               "client_id": "x", "client_secret": "s3cr3t"})
    body = assert_oauth_error(response, "server_error", status=500, secrets=["s3cr3t"])
    assert body["error_description"] == "The server could not complete the request."
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_store_outage_is_503_temporarily_unavailable_with_retry_after(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(*args: object) -> None:
        raise StoreUnavailable("connection refused to db.internal:5432")

    monkeypatch.setattr(app_services(http).store, "get_client", down)
    response = await http.post("/token", data={"grant_type": "client_credentials",
                                               "client_id": "x"})
    assert_oauth_error(response, "temporarily_unavailable", status=503, secrets=["db.internal"])
    assert response.headers["retry-after"] == "5"


# -- methods -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/token"), ("PUT", "/token"), ("DELETE", "/token"), ("GET", "/revoke"),
    ("GET", "/introspect"), ("DELETE", "/userinfo")])
async def test_a_wrong_method_is_405_not_a_server_error(
        http: httpx.AsyncClient, method: str, path: str) -> None:
    response = await http.request(method, path)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"] or "GET" in response.headers["allow"]
    assert response.json() == {"error": "invalid_request",
                               "error_description": "method not allowed"}


async def test_an_unknown_path_is_a_json_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/no-such-endpoint")
    assert response.status_code == 404
    assert response.json()["error"] == "invalid_request"


# -- odd Authorization headers -----------------------------------------------------------------


@pytest.mark.parametrize("header", [
    "Basic " + "A" * 100_000,
    "Basic " + b64(b"web-app:" + b"x" * 60_000),
    "Basic " + b64(b"x" * 60_000 + b":secret"),
    "Bearer " + "A" * 100_000,
    "Basic " + "A" * 100_001,
], ids=["basic-blob", "long-secret", "long-client-id", "bearer-blob", "bad-padding"])
async def test_a_huge_authorization_header_at_the_token_endpoint_is_invalid_client(
        http: httpx.AsyncClient, header: str) -> None:
    response = await http.post("/token", data={"grant_type": "client_credentials"},
                               headers={"Authorization": header})
    assert_oauth_error(response, "invalid_client", status=401)
    assert len(response.content) < 1000


async def test_a_huge_bearer_token_at_userinfo_is_invalid_token(
        http: httpx.AsyncClient) -> None:
    token = ".".join(["A" * 40_000] * 3)
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert_oauth_error(response, "invalid_token", status=401)
    assert len(response.content) < 1000


@pytest.mark.parametrize("header", [
    b"Basic " + "ééé".encode(),
    ("Basic " + b64("clïent:sécret".encode())).encode(),
    ("Basic " + b64(b"\xff\xfe:\xff")).encode(),
    ("Basic " + b64(quote("wéb-app").encode() + b":x")).encode(),
    "Básic xyz".encode("latin-1"),
], ids=["raw-utf8", "utf8-credentials", "not-utf8", "percent-utf8", "latin1-scheme"])
async def test_non_ascii_in_basic_credentials_is_invalid_client(
        http: httpx.AsyncClient, header: bytes) -> None:
    response = await http.post("/token", data={"grant_type": "client_credentials"},
                               headers={"Authorization": header})  # type: ignore[dict-item]
    assert_oauth_error(response, "invalid_client", status=401)


async def test_non_ascii_in_a_bearer_token_is_invalid_token(http: httpx.AsyncClient) -> None:
    headers: Any = {"Authorization": "Bearer é.é.é".encode()}
    response = await http.get("/userinfo", headers=headers)
    assert_oauth_error(response, "invalid_token", status=401)


# -- fuzz --------------------------------------------------------------------------------------
# Strategies lean towards well-formed requests (form content type, a real client, a real token
# spliced in for the REAL_* markers) so that the fuzz gets past parsing into client
# authentication and the grants; the rest is noise.

T = TypeVar("T")
NAMES = ["grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret",
         "refresh_token", "scope", "token", "token_type_hint", "access_token"]
FORM_TYPE = "application/x-www-form-urlencoded"


def mostly(common: st.SearchStrategy[T], rare: st.SearchStrategy[T],
           percent: int = 80) -> st.SearchStrategy[T]:
    return st.integers(0, 99).flatmap(lambda n: common if n < percent else rare)


VALUES = st.one_of(
    st.sampled_from(["authorization_code", "refresh_token", "client_credentials", PUBLIC_ID,
                     WEB_ID, "post-app", "openid", "profile", "openid profile", "access_token",
                     "refresh_token", "REAL_REFRESH", "REAL_ACCESS", "REAL_SECRET", "a" * 43,
                     "a.b.c", "https://app.example.com/cb", "http://127.0.0.1/callback"]),
    mostly(st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=80),
           st.text(max_size=80)),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~",
            min_size=40, max_size=130),
)
PARAMS = st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=6)
NOISE = mostly(st.just([]), st.lists(st.tuples(st.text(max_size=12), VALUES), max_size=3))
RAW_BODIES = st.binary(max_size=300) | st.text(
    alphabet="abc=&%+0123456789ABCDEFé;\x00 ", max_size=120).map(lambda t: t.encode())
GRANT_TYPES = mostly(st.sampled_from(["authorization_code", "refresh_token",
                                      "client_credentials"]), st.none() | st.text(max_size=20))
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                             exclude_characters="\x7f"), max_size=120)
AUTHORIZATION = mostly(st.sampled_from(["REAL_BASIC", "PUBLIC_BODY"]), st.one_of(
    st.none(),
    HEADER_TEXT,
    st.tuples(st.sampled_from(["Basic ", "Bearer ", "basic ", "BEARER "]),
              HEADER_TEXT).map("".join),
    st.binary(max_size=80).map(lambda raw: "Basic " + b64(raw)),
    st.tuples(st.sampled_from([WEB_ID, PUBLIC_ID, "post-app", "", "%"]), HEADER_TEXT).map(
        lambda pair: "Basic " + b64(f"{pair[0]}:{pair[1]}".encode())),
), percent=60)
CONTENT_TYPE = mostly(st.just(FORM_TYPE), st.one_of(
    st.just(FORM_TYPE + "; charset=utf-8"),
    st.sampled_from(["application/json", "text/plain", "", "multipart/form-data"]),
    HEADER_TEXT,
), percent=85)
Body = list[tuple[str, str]] | bytes


def with_first(name: str, values: st.SearchStrategy[str | None]) -> st.SearchStrategy[Body]:
    """A form led by ``name`` (when drawn), then other known parameters, then noise;
    sometimes raw bytes instead."""
    def build(first: str | None, params: dict[str, str], noise: list[tuple[str, str]]) -> Body:
        lead = [] if first is None else [(name, first)]
        return lead + [(k, v) for k, v in params.items() if k != name] + noise

    return mostly(st.builds(build, values, PARAMS, NOISE), RAW_BODIES, percent=85)


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
async def real(http: httpx.AsyncClient, web_secret: str) -> dict[str, str]:
    """Genuine values the fuzz may splice in, so that it also reaches the deeper checks."""
    tokens = await public_tokens(http)
    return {"REAL_REFRESH": tokens["refresh_token"], "REAL_ACCESS": tokens["access_token"],
            "REAL_SECRET": web_secret,
            "REAL_BASIC": "Basic " + b64(f"{WEB_ID}:{web_secret}".encode())}


def splice(value: str, real: dict[str, str]) -> str:
    return real.get(value, value)


def header_bytes(value: str) -> bytes:
    return value.encode("latin-1")


def request_parts(body: Body, authorization: str | None, content_type: str,
                  real: dict[str, str]) -> tuple[bytes, dict[str, Any]]:
    headers: dict[str, Any] = {"Content-Type": header_bytes(content_type)}
    if authorization == "PUBLIC_BODY":
        if isinstance(body, list) and all(k != "client_id" for k, _ in body):
            body = [*body, ("client_id", PUBLIC_ID)]
    elif authorization is not None:
        headers["Authorization"] = header_bytes(splice(authorization, real))
    if isinstance(body, list):
        body = "&".join(f"{quote(k, safe='')}={quote(splice(v, real), safe='')}"
                        for k, v in body).encode()
    return body, headers


def assert_well_formed(response: httpx.Response, errors: set[str]) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text
        body = response.json()
        assert body["error"] in errors, body
        assert set(body) <= {"error", "error_description"}, body
        assert response.headers["cache-control"] == "no-store"
        event(f"{response.status_code} {body['error']}")
    else:
        event(str(response.status_code))


COMPLETE_TOKEN_REQUESTS = st.one_of(
    st.fixed_dictionaries({"grant_type": st.just("authorization_code"), "code": VALUES,
                           "redirect_uri": VALUES, "code_verifier": VALUES}),
    st.fixed_dictionaries({"grant_type": st.just("refresh_token"),
                           "refresh_token": mostly(st.just("REAL_REFRESH"), VALUES, 30)},
                          optional={"scope": VALUES}),
    st.fixed_dictionaries({"grant_type": st.just("client_credentials")},
                          optional={"scope": VALUES}),
).map(lambda form: list(form.items()))


@given(body=mostly(COMPLETE_TOKEN_REQUESTS, with_first("grant_type", GRANT_TYPES), 50),
       authorization=AUTHORIZATION,
       content_type=CONTENT_TYPE)
@FUZZ
async def test_fuzzed_token_requests_never_fail_with_a_server_error(
        http: httpx.AsyncClient, real: dict[str, str], body: Body, authorization: str | None,
        content_type: str) -> None:
    content, headers = request_parts(body, authorization, content_type, real)
    response = await http.post("/token", content=content, headers=headers)
    assert_well_formed(response, TOKEN_ERRORS)
    if response.status_code == 200:
        assert response.json()["token_type"] == "Bearer"


@given(body=with_first("token", VALUES), authorization=AUTHORIZATION,
       content_type=CONTENT_TYPE)
@FUZZ
async def test_fuzzed_revocation_requests_never_fail_with_a_server_error(
        http: httpx.AsyncClient, real: dict[str, str], body: Body, authorization: str | None,
        content_type: str) -> None:
    content, headers = request_parts(body, authorization, content_type, real)
    response = await http.post("/revoke", content=content, headers=headers)
    assert_well_formed(response, REVOKE_ERRORS)
    if response.status_code == 200:
        assert response.content == b""


@given(body=with_first("token", VALUES), authorization=AUTHORIZATION,
       content_type=CONTENT_TYPE)
@FUZZ
async def test_fuzzed_introspection_requests_never_fail_with_a_server_error(
        http: httpx.AsyncClient, real: dict[str, str], body: Body, authorization: str | None,
        content_type: str) -> None:
    content, headers = request_parts(body, authorization, content_type, real)
    response = await http.post("/introspect", content=content, headers=headers)
    assert_well_formed(response, INTROSPECT_ERRORS)
    if response.status_code == 200 and not response.json()["active"]:
        assert response.json() == {"active": False}


@given(body=with_first("access_token", VALUES), content_type=CONTENT_TYPE,
       authorization=mostly(st.sampled_from([None, "Bearer REAL_ACCESS"]), AUTHORIZATION, 50),
       method=st.sampled_from(["GET", "POST"]))
@FUZZ
async def test_fuzzed_userinfo_requests_never_fail_with_a_server_error(
        http: httpx.AsyncClient, real: dict[str, str], body: Body, authorization: str | None,
        content_type: str, method: str) -> None:
    if authorization is not None:
        authorization = authorization.replace("REAL_ACCESS", real["REAL_ACCESS"])
    content, headers = request_parts(body, authorization, content_type, real)
    if method == "GET":
        response = await http.get("/userinfo", headers=headers)
    else:
        response = await http.post("/userinfo", content=content, headers=headers)
    assert_well_formed(response, USERINFO_ERRORS)
    if response.status_code in {401, 403}:
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_store_outage_at_authorize_is_a_503_page_a_browser_can_retry(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """/authorize is served outside the router (web.app.ProofkeyApp): a store outage still
    gets the retryable page, never a redirect and never the database's name."""
    async def down(*args: object) -> None:
        raise StoreUnavailable("connection refused to db.internal:5432")

    monkeypatch.setattr(app_services(http).store, "get_session", down)
    http.cookies.set("pk_session", "x" * 43)
    response = await http.get("/authorize", params={"client_id": "web-app"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"] == "5"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "db.internal" not in response.text


@pytest.mark.parametrize(("method", "path"), [("POST", "/token"), ("GET", "/authorize")])
async def test_an_unexpected_error_on_a_hot_route_is_a_bare_server_error(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, method: str,
        path: str) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("secret-ish detail from db.internal")

    monkeypatch.setattr(app_services(http).store, "get_client", broken)
    response = await http.request(method, path, params={"client_id": "web-app"},
                                  data={"grant_type": "client_credentials",
                                        "client_id": "web-app"} if method == "POST" else None)
    assert_oauth_error(response, "server_error", status=500, secrets=["db.internal"])


async def test_head_on_authorize_still_takes_the_router(http: httpx.AsyncClient) -> None:
    response = await http.head("/authorize")
    assert response.status_code == 400  # the error page's headers (no client_id), no page
    assert response.content == b""
    assert response.headers["content-type"].startswith("text/html")
