"""The logout request (OIDC RP-Initiated Logout 1.0 §2) and its exact post-logout redirect
(§3.1), as pure functions, with properties over arbitrary input."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from proofkey.errors import InvalidRequest
from proofkey.protocol.logout import LogoutRequest, parse_logout_request, post_logout_target

BYE = "https://rp.example/bye"
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


def test_the_parameters_proofkey_acts_on_are_read_and_the_rest_ignored() -> None:
    request = parse_logout_request({"id_token_hint": "a.b.c", "client_id": "rp",
                                    "post_logout_redirect_uri": BYE, "state": "s",
                                    "ui_locales": "fr-CA en", "logout_hint": "ada"})
    assert request == LogoutRequest("a.b.c", "rp", BYE, "s")


def test_empty_parameters_read_as_absent() -> None:
    assert parse_logout_request({"client_id": "", "state": ""}) == LogoutRequest()


@pytest.mark.parametrize("name", ["id_token_hint", "client_id", "post_logout_redirect_uri",
                                  "state", "ui_locales"])
def test_an_overlong_parameter_is_refused(name: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_logout_request({name: "x" * 20000})
    assert refused.value.redirectable is False


@given(st.dictionaries(st.sampled_from(["id_token_hint", "client_id", "state",
                                        "post_logout_redirect_uri", "other"]), text))
def test_parsing_never_fails_otherwise_and_keeps_values_unchanged(params: dict[str, str]
                                                                  ) -> None:
    request = parse_logout_request(params)
    assert request.client_id == (params.get("client_id") or None)
    assert request.state == (params.get("state") or None)
    assert request.id_token_hint == (params.get("id_token_hint") or None)


def test_a_registered_uri_gets_the_state_and_keeps_its_own_query() -> None:
    assert post_logout_target([BYE], BYE, "a b") == f"{BYE}?state=a+b"
    assert post_logout_target([BYE], BYE, None) == BYE
    assert post_logout_target([f"{BYE}?x=1"], f"{BYE}?x=1", "z") == f"{BYE}?x=1&state=z"


@given(st.text(max_size=40))
def test_anything_added_to_a_registered_uri_is_refused(suffix: str) -> None:
    assume(suffix)
    assert post_logout_target([BYE], BYE + suffix, "s") is None


@given(text, st.lists(text, max_size=4), st.one_of(st.none(), text))
def test_a_target_is_only_ever_a_registered_uri_with_at_most_the_state_added(
        requested: str, registered: list[str], state: str | None) -> None:
    target = post_logout_target(registered, requested, state)
    if requested not in registered:
        assert target is None
        return
    assert target is not None
    assert target.startswith(requested.partition("#")[0])
    if state:
        assert parse_qs(urlsplit(target).query, keep_blank_values=True)["state"][-1] == state
