"""The OAuth error tree (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 7009 §2.2.1;
RFC 8628 §3.5; RFC 8707 §2; RFC 9449 §5, §8; OpenID Connect Core 1.0 §3.1.2.6)."""

from __future__ import annotations

import inspect
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey import errors
from proofkey.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    RateLimited,
    ServerError,
    TemporarilyUnavailable,
    UseDpopNonce,
)

RFC_6749 = {
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
}
RFC_6750 = {"invalid_request", "invalid_token", "insufficient_scope"}
RFC_7009 = {"unsupported_token_type"}
RFC_8628 = {"slow_down", "authorization_pending", "access_denied", "expired_token"}
RFC_8707 = {"invalid_target"}
OIDC_CORE = {
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
}
RFC_7591 = {"invalid_redirect_uri", "invalid_client_metadata", "invalid_software_statement",
            "unapproved_software_statement"}
RFC_9449 = {"invalid_dpop_proof", "use_dpop_nonce"}
REGISTERED_CODES = (RFC_6749 | RFC_6750 | RFC_7009 | RFC_8628 | RFC_8707 | OIDC_CORE | RFC_7591
                    | RFC_9449)

EXPECTED_STATUS = {
    "invalid_request": 400,
    "invalid_client": 401,
    "invalid_grant": 400,
    "unauthorized_client": 400,
    "unsupported_grant_type": 400,
    "unsupported_response_type": 400,
    "invalid_scope": 400,
    "invalid_target": 400,
    "access_denied": 400,
    "login_required": 400,
    "consent_required": 400,
    "interaction_required": 400,
    "request_not_supported": 400,
    "request_uri_not_supported": 400,
    "unsupported_token_type": 400,
    "invalid_token": 401,
    "insufficient_scope": 403,
    "slow_down": 400,
    "authorization_pending": 400,
    "expired_token": 400,
    "temporarily_unavailable": 503,
    "server_error": 500,
    "invalid_redirect_uri": 400,
    "invalid_client_metadata": 400,
    "invalid_dpop_proof": 400,
    "use_dpop_nonce": 400,
}
SAFE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")


def subclasses() -> list[type[OAuthError]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, OAuthError) and obj is not OAuthError
    ]


def make(cls: type[OAuthError], description: str = "something went wrong") -> OAuthError:
    if cls is ServerError:
        return ServerError(detail=description)
    if cls is RateLimited:
        return RateLimited(description, retry_after=5)
    if cls is UseDpopNonce:
        return UseDpopNonce(description, nonce="n" * 32)
    return cls(description)


ALL = subclasses()


# RateLimited reuses RFC 8628's "slow_down" code for HTTP 429 rate limiting; it is the one
# error code with two classes (and two statuses).
RATE_LIMITED_STATUS = 429


def test_there_is_one_class_per_error_code() -> None:
    codes = [cls.error for cls in ALL if cls is not errors.RateLimited]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(EXPECTED_STATUS)


def test_every_error_class_is_exported() -> None:
    assert {cls.__name__ for cls in ALL} | {"OAuthError"} == set(errors.__all__)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_code_is_registered_by_an_rfc_or_openid_connect(
    cls: type[OAuthError],
) -> None:
    assert cls.error in REGISTERED_CODES


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_has_its_fixed_status_code(cls: type[OAuthError]) -> None:
    expected = RATE_LIMITED_STATUS if cls is errors.RateLimited else EXPECTED_STATUS[cls.error]
    assert cls.status_code == expected
    assert make(cls).status_code == expected


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_is_one_level_below_oauth_error(cls: type[OAuthError]) -> None:
    assert cls.__bases__ == (OAuthError,)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_class_documents_when_it_is_raised(cls: type[OAuthError]) -> None:
    assert cls.__doc__
    assert cls.__doc__ != OAuthError.__doc__


def test_invalid_client_is_401_and_never_redirects() -> None:
    # RFC 6749 §5.2: invalid_client "HTTP 401 (Unauthorized)".
    error = InvalidClient("bad secret")
    assert error.status_code == 401
    assert error.redirectable is False


def test_server_error_is_500_and_temporarily_unavailable_is_503() -> None:
    assert ServerError().status_code == 500
    assert TemporarilyUnavailable("store down").status_code == 503


@pytest.mark.parametrize(
    "cls",
    [errors.InvalidClient, errors.InvalidToken, errors.InsufficientScope, errors.RateLimited],
    ids=lambda c: c.__name__,
)
def test_errors_outside_the_authorization_redirect_do_not_redirect_by_default(
    cls: type[OAuthError],
) -> None:
    assert make(cls).redirectable is False


def test_redirectable_can_be_overridden_per_error() -> None:
    assert InvalidRequest("x").redirectable is True
    assert InvalidRequest("x", redirectable=False).redirectable is False
    assert InvalidClient("x", redirectable=True).redirectable is True


def test_as_dict_is_the_rfc_6749_section_5_2_body() -> None:
    assert InvalidRequest("code is missing").as_dict() == {
        "error": "invalid_request",
        "error_description": "code is missing",
    }


def test_the_message_of_an_error_names_its_code() -> None:
    assert str(InvalidRequest("code is missing")) == "invalid_request: code is missing"


def test_detail_is_kept_apart_from_the_description() -> None:
    error = InvalidRequest("bad request", detail="user=alice secret=hunter2")
    assert error.detail == "user=alice secret=hunter2"
    assert "hunter2" not in error.as_dict()["error_description"]
    assert "hunter2" not in str(error)


@given(st.text())
def test_any_description_is_sanitised_to_the_rfc_6749_character_set(text: str) -> None:
    for cls in ALL:
        body = make(cls, text).as_dict()
        assert SAFE.fullmatch(body["error_description"])
        assert SAFE.fullmatch(body["error"])


@given(st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)]))
def test_a_description_in_the_allowed_set_is_kept_as_is_except_quote_and_backslash(
    text: str,
) -> None:
    description = InvalidRequest(text).description
    assert description == text.replace('"', "?").replace("\\", "?")
    assert len(description) == len(text)


@pytest.mark.parametrize(
    ("given_text", "shown"),
    [('say "hi"', "say ?hi?"), ("a\\b", "a?b"), ("line\nbreak", "line?break"), ("é", "?")],
)
def test_characters_outside_the_set_become_question_marks(given_text: str, shown: str) -> None:
    assert InvalidRequest(given_text).as_dict()["error_description"] == shown


@given(st.text())
def test_a_server_error_never_carries_caller_text_in_its_description(text: str) -> None:
    error = ServerError(text)
    assert error.description == "The server could not complete the request."
    assert error.detail == text
    assert error.as_dict() == {
        "error": "server_error",
        "error_description": "The server could not complete the request.",
    }


def test_a_server_error_takes_no_description_argument() -> None:
    parameters = inspect.signature(ServerError).parameters
    assert list(parameters) == ["detail"]


def test_slow_down_carries_a_retry_hint() -> None:
    error = RateLimited("too many requests", retry_after=30)
    assert error.retry_after == 30
    assert error.status_code == 429


def test_errors_are_exceptions_that_can_be_raised_and_caught_as_oauth_errors() -> None:
    for cls in ALL:
        with pytest.raises(OAuthError):
            raise make(cls)
