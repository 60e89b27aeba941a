"""Scope syntax and policy (RFC 6749 §3.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey.errors import InvalidScope
from proofkey.protocol.scope import check_scope, format_scope, parse_scope

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
TOKEN_CHARS = "".join(chr(c) for c in [0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)])
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
SUPPORTED = ("openid", "profile", "email", "offline_access", "api:read")


def test_a_scope_string_is_split_on_spaces_in_order() -> None:
    assert parse_scope("openid profile email") == ("openid", "profile", "email")


def test_a_missing_scope_is_no_scope() -> None:
    assert parse_scope(None) == ()
    assert parse_scope("") == ()


def test_repeated_scope_tokens_are_kept_once_in_first_order() -> None:
    assert parse_scope("email openid email profile openid") == ("email", "openid", "profile")


def test_scope_tokens_are_case_sensitive() -> None:
    assert parse_scope("openid OpenID") == ("openid", "OpenID")


def test_extra_spaces_between_tokens_are_tolerated() -> None:
    assert parse_scope(" openid  profile ") == ("openid", "profile")


@given(st.lists(tokens, max_size=10))
def test_parsing_dedups_and_keeps_the_order_of_first_appearance(items: list[str]) -> None:
    parsed = parse_scope(" ".join(items))
    assert parsed == tuple(dict.fromkeys(items))
    assert len(set(parsed)) == len(parsed)


@given(st.lists(tokens, max_size=10, unique=True))
def test_format_and_parse_are_inverse(items: list[str]) -> None:
    assert parse_scope(format_scope(items)) == tuple(items)


@pytest.mark.parametrize(
    "raw",
    [
        'open"id',
        "open\\id",
        "openid\tprofile",
        "openid\nprofile",
        "openid\x00",
        "openid\x7f",
        "öpenid",
        "openid profil\u00e9",
        "openid\u00a0profile",
        "openid\u3000profile",
        "ｏｐｅｎｉｄ",
    ],
)
def test_a_scope_with_characters_outside_the_rfc_set_is_invalid_scope(raw: str) -> None:
    with pytest.raises(InvalidScope):
        parse_scope(raw)


@given(st.lists(tokens, max_size=4), st.characters(exclude_characters=TOKEN_CHARS + " "))
def test_any_character_outside_the_rfc_set_is_refused(items: list[str], bad: str) -> None:
    raw = " ".join([*items, f"x{bad}y"])
    with pytest.raises(InvalidScope):
        parse_scope(raw)


def test_the_syntax_error_description_survives_rfc_6749_sanitising_unchanged() -> None:
    with pytest.raises(InvalidScope) as caught:
        parse_scope('a"b')
    assert "?" not in caught.value.description
    assert "RFC 6749" in caught.value.description


def test_check_scope_returns_a_known_and_permitted_request() -> None:
    assert check_scope(("openid", "email"), allowed=SUPPORTED, supported=SUPPORTED) == (
        "openid",
        "email",
    )


def test_check_scope_accepts_an_empty_request() -> None:
    assert check_scope((), allowed=(), supported=SUPPORTED) == ()


def test_a_scope_unknown_to_the_server_is_invalid_scope() -> None:
    with pytest.raises(InvalidScope, match="unknown"):
        check_scope(("openid", "admin"), allowed=[*SUPPORTED, "admin"], supported=SUPPORTED)


def test_a_scope_the_client_is_not_registered_for_is_invalid_scope() -> None:
    with pytest.raises(InvalidScope, match="not registered"):
        check_scope(("openid", "email"), allowed={"openid"}, supported=SUPPORTED)


def test_scope_matching_is_case_sensitive() -> None:
    with pytest.raises(InvalidScope):
        check_scope(("OpenID",), allowed=SUPPORTED, supported=SUPPORTED)


@given(st.lists(tokens, max_size=6), st.lists(tokens, max_size=6), st.lists(tokens, max_size=6))
def test_check_scope_passes_exactly_the_requests_within_both_sets(
    requested: list[str], allowed: list[str], supported: list[str]
) -> None:
    ok = all(t in allowed and t in supported for t in requested)
    if ok:
        assert check_scope(tuple(requested), allowed=allowed, supported=supported) == tuple(
            requested
        )
    else:
        with pytest.raises(InvalidScope):
            check_scope(tuple(requested), allowed=allowed, supported=supported)


def test_an_invalid_scope_error_does_not_echo_the_request() -> None:
    with pytest.raises(InvalidScope) as caught:
        check_scope(("secret-scope-name",), allowed=(), supported=())
    assert "secret-scope-name" not in caught.value.description
