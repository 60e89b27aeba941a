"""Token and redirect response shapes (RFC 6749 §3.1.2, §4.1.2, §5.1, §5.2; RFC 9207) and
server metadata (RFC 8414 §2; OpenID Connect Discovery 1.0 §3)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey.errors import InvalidGrant, ServerError
from proofkey.protocol.discovery import server_metadata
from proofkey.protocol.responses import NO_STORE_HEADERS, redirect_with, token_body

ISSUER = "https://id.example.com"
# Text a client might put in ``state``: anything encodable (no lone surrogates).
state_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1)


def query_of(uri: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(uri).query, keep_blank_values=True, strict_parsing=True)


# --- redirects -------------------------------------------------------------------------------


def test_response_parameters_are_added_as_the_query() -> None:
    uri = redirect_with("https://app.example.com/cb", {"code": "abc", "state": "xyz"})
    assert uri == "https://app.example.com/cb?code=abc&state=xyz"


def test_the_redirect_uris_own_query_is_retained() -> None:
    uri = redirect_with("https://app.example.com/cb?tenant=a&x=1", {"code": "abc"})
    assert uri == "https://app.example.com/cb?tenant=a&x=1&code=abc"
    assert query_of(uri) == {"tenant": ["a"], "x": ["1"], "code": ["abc"]}


def test_parameters_with_no_value_are_left_out() -> None:
    uri = redirect_with("https://app.example.com/cb", {"code": "abc", "state": None})
    assert query_of(uri) == {"code": ["abc"]}


@pytest.mark.parametrize(
    "state",
    ["a&b=c", "=", "&", "a b", "a+b", "%41", "#frag", "?", "é€😀", "line\nbreak", "\"'<>"],
)
def test_state_is_returned_byte_exact(state: str) -> None:
    uri = redirect_with("https://app.example.com/cb?tenant=a", {"code": "c", "state": state})
    assert query_of(uri) == {"tenant": ["a"], "code": ["c"], "state": [state]}
    assert "#" not in uri


@given(state_text, state_text)
def test_any_state_and_code_round_trip_through_the_redirect(state: str, code: str) -> None:
    uri = redirect_with(
        "https://app.example.com/cb?tenant=a", {"code": code, "state": state, "iss": ISSUER}
    )
    assert query_of(uri) == {"tenant": ["a"], "code": [code], "state": [state], "iss": [ISSUER]}


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example.com/cb",
        "https://app.example.com",
        "https://app.example.com/cb;p",
        "https://app.example.com//cb",
        "http://127.0.0.1:53117/callback",
        "http://[::1]:53117/callback",
        "com.example.app:/oauth2redirect",
        "com.example.app:///oauth2redirect",  # empty authority: '//' must survive
        "com.example.app://host/oauth2redirect",
    ],
)
def test_the_redirect_goes_to_exactly_the_given_uri(redirect_uri: str) -> None:
    uri = redirect_with(redirect_uri, {"code": "abc"})
    assert uri == f"{redirect_uri}?code=abc"


def test_an_empty_query_marker_is_not_doubled() -> None:
    assert redirect_with("https://app.example.com/cb?", {"code": "abc"}) == (
        "https://app.example.com/cb?code=abc"
    )


def test_a_fragment_is_never_sent_back() -> None:
    assert redirect_with("https://app.example.com/cb#x", {"code": "abc"}) == (
        "https://app.example.com/cb?code=abc"
    )


def test_no_parameters_leave_the_uri_as_it_is() -> None:
    assert redirect_with("https://app.example.com/cb?a=1", {"state": None}) == (
        "https://app.example.com/cb?a=1"
    )


def test_an_error_redirect_carries_error_state_and_iss() -> None:
    error = InvalidGrant("nope")
    uri = redirect_with(
        "https://app.example.com/cb", {**error.as_dict(), "state": "s", "iss": ISSUER}
    )
    assert query_of(uri) == {
        "error": ["invalid_grant"],
        "error_description": ["nope"],
        "state": ["s"],
        "iss": [ISSUER],
    }


# --- token responses -------------------------------------------------------------------------


def test_a_token_response_has_the_rfc_6749_fields() -> None:
    body = token_body(
        access_token="at", expires_in=300, scope="openid email", refresh_token="rt", id_token="idt"
    )
    assert body == {
        "access_token": "at",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "openid email",
        "refresh_token": "rt",
        "id_token": "idt",
    }


def test_a_token_response_omits_absent_refresh_and_id_tokens_and_an_empty_scope() -> None:
    body = token_body(access_token="at", expires_in=300, scope="")
    assert body == {"access_token": "at", "token_type": "Bearer", "expires_in": 300}
    assert None not in body.values()


def test_responses_with_tokens_are_not_stored() -> None:
    # RFC 6749 §5.1: Cache-Control: no-store in any response containing tokens.
    assert NO_STORE_HEADERS["Cache-Control"] == "no-store"
    assert NO_STORE_HEADERS["Pragma"] == "no-cache"


def test_an_error_body_is_the_rfc_6749_section_5_2_shape() -> None:
    assert InvalidGrant("code expired").as_dict() == {
        "error": "invalid_grant",
        "error_description": "code expired",
    }


def test_a_server_error_body_is_generic() -> None:
    body = ServerError("Traceback: db password=hunter2").as_dict()
    assert body["error"] == "server_error"
    assert "hunter2" not in body["error_description"]


# --- discovery -------------------------------------------------------------------------------


def metadata() -> dict[str, object]:
    return server_metadata(ISSUER, scopes=["openid", "email"], signing_algs=["RS256", "ES256"])


def test_only_s256_is_advertised_for_pkce() -> None:
    assert metadata()["code_challenge_methods_supported"] == ["S256"]


def test_the_iss_authorization_response_parameter_is_advertised() -> None:
    # RFC 9207 §3.
    assert metadata()["authorization_response_iss_parameter_supported"] is True


def test_the_issuer_is_given_verbatim() -> None:
    assert metadata()["issuer"] == ISSUER


def test_every_endpoint_lives_under_the_issuer() -> None:
    meta = metadata()
    endpoints = {k: v for k, v in meta.items() if k.endswith(("_endpoint", "_uri"))}
    assert set(endpoints) >= {
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    }
    for value in endpoints.values():
        assert isinstance(value, str)
        assert value.startswith(ISSUER + "/")
        assert "//" not in value.removeprefix("https://")


def test_rs256_is_advertised_for_id_tokens_when_given() -> None:
    # OpenID Connect Discovery 1.0 §3: "The value RS256 MUST be included".
    algs = metadata()["id_token_signing_alg_values_supported"]
    assert isinstance(algs, list)
    assert "RS256" in algs
    assert algs == sorted(set(algs))


def test_only_the_code_flow_and_query_mode_are_advertised() -> None:
    meta = metadata()
    assert meta["response_types_supported"] == ["code"]
    assert meta["response_modes_supported"] == ["query"]
    grants = meta["grant_types_supported"]
    assert isinstance(grants, list)
    assert "implicit" not in grants
    assert "password" not in grants


def test_the_scopes_are_advertised_as_given() -> None:
    assert metadata()["scopes_supported"] == ["openid", "email"]
