"""The bounded, typed parse of a compact JWS: every input either parses or is an InvalidToken,
the bounds hold at their edges, and the server's own tokens parse as joserfc reads them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt

from proofkey.errors import InvalidToken
from proofkey.protocol.compact import (
    MAX_BRACKETS,
    MAX_HEADER_CHARS,
    MAX_MEMBERS,
    MAX_TOKEN_CHARS,
    parse_compact,
    parse_header,
)
from proofkey.tokens.keys import KeyRing, generate_key
from proofkey.tokens.mint import TokenMinter

HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def token_of(header: Any, claims: Any, signature: bytes = b"\x01" * 64) -> str:
    def part(value: Any) -> str:
        return b64url(value if isinstance(value, bytes) else json.dumps(value).encode())
    return f"{part(header)}.{part(claims)}.{b64url(signature)}"


def refused(token: str) -> bool:
    try:
        parse_compact(token)
    except InvalidToken:
        return True
    return False


@given(st.text(max_size=300))
def test_any_text_parses_or_is_an_invalid_token(text: str) -> None:
    refused(text)


@given(st.binary(max_size=400), st.binary(max_size=400), st.binary(max_size=100))
@settings(max_examples=300)
def test_any_decoded_segments_parse_or_are_an_invalid_token(header: bytes, payload: bytes,
                                                            signature: bytes) -> None:
    refused(token_of(header, payload, signature))


def test_the_servers_access_token_parses_as_joserfc_reads_it() -> None:
    ring = KeyRing([generate_key("ES256", 0), generate_key("RS256", 0)])
    minter = TokenMinter(ring, issuer="https://as", audience="https://as", access_ttl=60,
                         id_ttl=60)
    token = minter.access_token(client_id="c", subject="s", scope="openid", grant_id="g",
                                auth_time=5, now=10).token
    parsed = parse_compact(token)
    reference = jwt.decode(token, ring.verify_set, algorithms=["ES256"])
    assert parsed.claims == reference.claims
    assert (parsed.header.alg, parsed.header.kid, parsed.header.typ) == (
        reference.header["alg"], reference.header["kid"], reference.header["typ"])
    assert parse_header(token) == parsed.header


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_nesting_is_bounded_by_the_number_of_opening_brackets() -> None:
    assert not refused(token_of(HEADER, {"x": nested(MAX_BRACKETS - 1)}))
    assert refused(token_of(HEADER, {"x": nested(MAX_BRACKETS)}))
    assert refused(token_of(HEADER, {"x": [[]] * MAX_BRACKETS}))
    assert refused(token_of(b"[" * 300 + b"]" * 300, {}))


def test_objects_have_a_bounded_number_of_members() -> None:
    assert not refused(token_of(HEADER, {f"c{i}": i for i in range(MAX_MEMBERS)}))
    assert refused(token_of(HEADER, {f"c{i}": i for i in range(MAX_MEMBERS + 1)}))


def test_segments_and_the_token_have_bounded_lengths() -> None:
    assert refused(token_of({**HEADER, "x": "x" * MAX_HEADER_CHARS}, {}))
    assert refused(token_of(HEADER, {"x": "x" * MAX_TOKEN_CHARS}))
    assert refused(token_of(HEADER, {}, b"\x01" * 1024))


@pytest.mark.parametrize("payload", [
    b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":1e999}',
    '{"a":1}'.encode("utf-16"), b'{"a":"\xff"}', b"[]", b"1", b'"x"', b"null", b"",
], ids=["duplicate", "nan", "inf", "-inf", "overflow", "utf16", "bad-utf8", "array", "number",
        "string", "null", "empty"])
def test_a_claim_set_that_is_not_one_plain_json_object_is_refused(payload: bytes) -> None:
    assert refused(token_of(HEADER, payload))


@pytest.mark.parametrize("header", [
    {"typ": "at+jwt"}, {"alg": 1}, {"alg": None}, {"alg": "ES256", "kid": 7},
    {"alg": "ES256", "kid": ["k"]}, {"alg": "ES256", "typ": {}}, {"alg": "ES256", "kid": "k" * 129},
    {"alg": "ES256", "crit": ["exp"], "exp": 1},
], ids=["no-alg", "alg-number", "alg-null", "kid-number", "kid-list", "typ-object", "kid-long",
        "crit"])
def test_a_header_with_a_member_of_the_wrong_type_is_refused(header: dict[str, Any]) -> None:
    assert refused(token_of(header, {}))


H = b64url(json.dumps(HEADER).encode())


@pytest.mark.parametrize("token", [
    f"{H}.e30", f"{H}.e30.AA.AA", f"{H}....", "", f"{H}.e30.AA=", f"{H}.e30.A+", f"{H}=.e30.AA",
    f"{H}.e30.A", f"{H}.é30.AA", f"{H} .e30.AA", f"{H}.e30.AA\n",
], ids=["two", "four", "five", "empty", "padded", "plus", "padded-header", "short",
        "non-ascii", "space", "newline"])
def test_a_token_that_is_not_three_base64url_segments_is_refused(token: str) -> None:
    assert not refused(f"{H}.e30.AA")
    assert refused(token)
