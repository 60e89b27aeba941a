"""RFC 7591 client metadata from strangers: parsed, bounded, every refusal naming its rule."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey.protocol.registration import (
    ClientMetadata,
    MetadataLimits,
    MetadataRefused,
    error_for_rule,
    parse_client_metadata,
)

GOOD = {"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "client_name": "App",
        "scope": "openid profile"}


def test_a_public_native_client_parses_with_rfc_7591_defaults_filled_in() -> None:
    meta = parse_client_metadata(GOOD)
    assert meta.public
    assert meta.response_types == ("code",)
    assert meta.scope == ("openid", "profile")
    assert parse_client_metadata({"redirect_uris": ["https://a.example/cb"]}) == ClientMetadata(
        redirect_uris=("https://a.example/cb",))


def test_omitted_scope_is_none_and_an_empty_one_is_empty() -> None:
    assert parse_client_metadata({**GOOD, "scope": ""}).scope == ()
    assert parse_client_metadata({k: v for k, v in GOOD.items() if k != "scope"}).scope is None


@pytest.mark.parametrize(("change", "rule"), [
    ({"redirect_uris": "https://a.example/cb"}, "PKL050"),
    ({"redirect_uris": [f"https://a.example/{i}" for i in range(11)]}, "PKL051"),
    ({"redirect_uris": ["https://a.example/" + "x" * 2000]}, "PKL051"),
    ({"client_name": "x" * 201}, "PKL051"),
    ({"client_name": "a\nb"}, "PKL050"),
    ({"response_types": ["token"]}, "PKL052"),
    ({"response_types": ["code id_token"]}, "PKL052"),
    ({"grant_types": ["implicit"]}, "PKL053"),
    ({"grant_types": ["password"]}, "PKL053"),
    ({"token_endpoint_auth_method": "private_key_jwt_typo"}, "PKL054"),
    ({"logo_uri": "http://a.example/logo.png"}, "PKL055"),
    ({"client_uri": "javascript:alert(1)"}, "PKL055"),
    ({"policy_uri": "https://user:pw@a.example/"}, "PKL055"),
    ({"grant_types": ["client_credentials"], "response_types": ["code"]}, "PKL056"),
    ({"id_token_signed_response_alg": "none"}, "PKL057"),
    ({"client_id": 7}, "PKL050"),
])
def test_each_refusal_names_its_rule(change: dict[str, object], rule: str) -> None:
    with pytest.raises(MetadataRefused) as refused:
        parse_client_metadata({**GOOD, **change})
    assert refused.value.rule == rule
    assert refused.value.description.endswith(f"[{rule}]")
    assert refused.value.error == "invalid_client_metadata"


def test_redirect_rules_map_to_invalid_redirect_uri() -> None:
    assert error_for_rule("PKL010") == "invalid_redirect_uri"
    assert error_for_rule("PKL016") == "invalid_redirect_uri"
    assert error_for_rule("PKL053") == "invalid_client_metadata"


def test_bounds_are_configurable() -> None:
    with pytest.raises(MetadataRefused):
        parse_client_metadata(GOOD, MetadataLimits(max_name_length=2))


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                     lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(st.text(max_size=10), kids, max_size=4), max_leaves=20)
_keys = st.sampled_from(["redirect_uris", "grant_types", "response_types", "scope",
                         "token_endpoint_auth_method", "client_name", "logo_uri", "contacts",
                         "client_id", "id_token_signed_response_alg", "software_id"])


@given(st.dictionaries(_keys, _json, max_size=8) | _json)
def test_any_json_either_parses_or_is_refused_with_a_rule(doc: object) -> None:
    outcome: ClientMetadata | MetadataRefused
    try:
        outcome = parse_client_metadata(json.loads(json.dumps(doc)))
    except MetadataRefused as refused:
        outcome = refused
    if isinstance(outcome, MetadataRefused):
        assert outcome.rule.startswith("PKL05")
        assert outcome.error in ("invalid_redirect_uri", "invalid_client_metadata")
    else:
        assert all(isinstance(u, str) for u in outcome.redirect_uris)
        assert set(outcome.response_types) <= {"code"}
