"""Strict application/x-www-form-urlencoded parsing (RFC 6749 §3.1, §3.2, Appendix B)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofkey.errors import InvalidRequest
from proofkey.protocol.params import REPEATABLE, parse_urlencoded

# Printable text: no control characters (Cc) and no lone surrogates (Cs, not encodable).
printable = st.text(st.characters(exclude_categories=["Cc", "Cs"]))
param_dicts = st.dictionaries(printable, printable.filter(bool), max_size=8)

FIXED_DESCRIPTIONS = {
    "malformed percent-encoding in request parameters",
    "request parameters must be UTF-8",
    "request parameters must not contain control characters",
    "request parameters are too large",
}
REPEATED = re.compile(r"parameter ([A-Za-z0-9_.\-?]{1,40}) must not be repeated")


@given(param_dicts)
def test_any_form_encoded_dict_of_text_round_trips(params: dict[str, str]) -> None:
    encoded = urlencode(params)
    assert dict(parse_urlencoded(encoded.encode("ascii"))) == params
    assert dict(parse_urlencoded(encoded)) == params


@given(param_dicts)
def test_percent_encoded_spaces_round_trip_as_well_as_plus(params: dict[str, str]) -> None:
    encoded = urlencode(params, quote_via=quote)
    assert dict(parse_urlencoded(encoded.encode("ascii"))) == params


def test_plus_is_a_space_and_percent_2b_is_a_plus() -> None:
    assert parse_urlencoded(b"state=a+b%2Bc&x+y=1") == {"state": "a b+c", "x y": "1"}


def test_a_value_may_contain_equals_signs() -> None:
    assert parse_urlencoded(b"a=b=c") == {"a": "b=c"}


def test_utf_8_percent_escapes_are_decoded() -> None:
    assert parse_urlencoded(b"name=%C3%A9%E2%82%AC") == {"name": "é€"}


def test_an_empty_body_is_no_parameters() -> None:
    assert parse_urlencoded(b"") == {}
    assert parse_urlencoded(b"&&&") == {}


@pytest.mark.parametrize(
    "body",
    [
        b"a=1&a=2",
        b"a=1&a=1",
        b"a=&a=1",
        b"a=1&a=",
        b"a&a=1",
        b"a=1&a",
        b"a=1&%61=2",
        b"a+b=1&a%20b=2",
    ],
)
def test_a_repeated_parameter_is_an_invalid_request_even_if_one_value_is_empty(
    body: bytes,
) -> None:
    with pytest.raises(InvalidRequest, match="must not be repeated"):
        parse_urlencoded(body)


@given(printable.filter(lambda n: n not in REPEATABLE), printable, printable)
def test_any_repeated_name_is_refused(name: str, first: str, second: str) -> None:
    body = urlencode([(name, first), (name, second)])
    with pytest.raises(InvalidRequest, match="must not be repeated"):
        parse_urlencoded(body.encode("ascii"))


def test_a_parameter_without_a_value_is_treated_as_omitted() -> None:
    params = parse_urlencoded(b"scope=&state&client_id=abc")
    assert params == {"client_id": "abc"}
    assert "scope" not in params
    assert params.get("state") is None


@pytest.mark.parametrize(
    "body",
    [b"a=%zz", b"a=%4", b"a=1%", b"a=%", b"%zz=1", b"a=%g0", b"a=%%41", b"a=%4-"],
)
def test_malformed_percent_encoding_is_an_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="malformed percent-encoding"):
        parse_urlencoded(body)


@pytest.mark.parametrize(
    "body", [b"a=%ff", b"a=%C3", b"a=%C3%28", b"%80=1", b"a=\xff", b"a=%ED%A0%80"]
)
def test_invalid_utf_8_is_an_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="UTF-8"):
        parse_urlencoded(body)


@pytest.mark.parametrize(
    "body",
    [b"a=%00", b"a=%0b", b"a=%0B", b"a=%0c", b"a=%1f", b"a=%7f", b"a=\x00", b"%00=1", b"a=x\x1b",
     b"a=%09", b"a=%0a", b"a=%0D", b"a=x%0d%0ay", b"a=%c2%85", b"a=%e2%80%a8"],
)
def test_control_characters_are_an_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="control characters"):
        parse_urlencoded(body)


def test_input_over_the_size_limit_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="too large"):
        parse_urlencoded(b"a=" + b"x" * 16383)
    with pytest.raises(InvalidRequest, match="too large"):
        parse_urlencoded(b"a=12345", max_bytes=6)


def test_input_exactly_at_the_size_limit_is_parsed() -> None:
    assert parse_urlencoded(b"a=" + b"x" * 16382) == {"a": "x" * 16382}
    assert parse_urlencoded(b"a=12345", max_bytes=7) == {"a": "12345"}


def test_the_parsed_parameters_are_immutable() -> None:
    params = parse_urlencoded(b"a=1")
    with pytest.raises(TypeError):
        params["a"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        del params["a"]  # type: ignore[attr-defined]
    assert not hasattr(params, "update")


def _check_only_invalid_request(data: bytes | str) -> None:
    description: str | None = None
    try:
        parsed = parse_urlencoded(data)
    except InvalidRequest as error:
        description = error.description
    if description is not None:
        assert description in FIXED_DESCRIPTIONS or REPEATED.fullmatch(description)
        return
    for name, value in parsed.items():
        assert isinstance(name, str)
        assert isinstance(value, str)
        assert value


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_either_parse_or_raise_invalid_request_only(data: bytes) -> None:
    _check_only_invalid_request(data)


TRICKY = [b"a", b"b", b"=", b"&", b"%", b"+", b"%4", b"%41", b"%ff", b"\x00", b"%0a", b"%c3%a9"]


@given(st.lists(st.sampled_from(TRICKY), max_size=30))
def test_arbitrary_mixes_of_tricky_pieces_raise_invalid_request_only(pieces: list[bytes]) -> None:
    _check_only_invalid_request(b"".join(pieces))


@given(st.text(max_size=100))
def test_arbitrary_text_either_parses_or_raises_invalid_request_only(data: str) -> None:
    _check_only_invalid_request(data)


def test_a_text_query_with_characters_beyond_latin_1_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        parse_urlencoded("state=\u20ac")
    with pytest.raises(InvalidRequest):
        parse_urlencoded("state=\ud800")


@given(printable)
def test_the_error_for_a_repeated_name_echoes_only_a_sanitised_name(name: str) -> None:
    body = urlencode([(name, "1"), (name, "2")])
    with pytest.raises(InvalidRequest) as caught:
        parse_urlencoded(body.encode("ascii"))
    echoed = REPEATED.fullmatch(caught.value.description)
    assert echoed is not None
    assert len(echoed.group(1)) <= 40


def test_a_hostile_repeated_name_is_not_echoed() -> None:
    name = "<script>alert(1)</script>\"'" + "x" * 100
    body = urlencode([(name, "1"), (name, "2")]).encode("ascii")
    with pytest.raises(InvalidRequest) as caught:
        parse_urlencoded(body)
    assert "<" not in caught.value.description
    assert "'" not in caught.value.description
    assert "x" * 41 not in caught.value.description


def test_a_value_is_never_echoed_in_an_error() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_urlencoded(b"code=secret-code-value&code=other-secret")
    assert "secret" not in caught.value.description
    assert caught.value.description == "parameter code must not be repeated"


PIECES = [b"a", b"Z", b"0", b"-", b".", b"_", b"~", b"=", b"&", b"+", b"%41", b"%2B", b"%26",
          b"%3D", b"%c3%a9", b"\xc3\xa9", b"resource", b"state", b" ", b"/", b":"]


@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_what_parses_is_what_a_standard_decoder_reads(pieces: list[bytes]) -> None:
    """The plain-bytes shortcut (names and values that need no decoding) gives the same mapping
    as decoding every part with urllib."""
    data = b"".join(pieces)
    try:
        parsed = parse_urlencoded(data)
    except InvalidRequest:
        return
    expected: dict[str, str] = {}
    for pair in filter(None, data.split(b"&")):
        raw_name, _, raw_value = pair.partition(b"=")
        name, value = (unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
                       for raw in (raw_name, raw_value))
        if value:
            expected[name] = (f"{expected[name]}\n{value}" if name in REPEATABLE
                              and name in expected else value)
    assert dict(parsed) == expected
