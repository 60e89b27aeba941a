"""PKCE, S256 only (RFC 7636 §4.1–4.6; OAuth 2.1 §4.1.1; RFC 9700 §2.1.1)."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from proofkey.errors import InvalidGrant, InvalidRequest
from proofkey.protocol import pkce

UNRESERVED = string.ascii_letters + string.digits + "-._~"
BASE64URL = string.ascii_letters + string.digits + "-_"

# RFC 7636 Appendix B.
APPENDIX_B_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
APPENDIX_B_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

verifiers = st.text(alphabet=UNRESERVED, min_size=43, max_size=128)
# Anything that is not an unreserved character: ASCII punctuation, controls, the base64
# characters '+', '/', '=' and arbitrary unicode (letters and digits of other scripts too).
forbidden_chars = st.characters(
    exclude_characters=UNRESERVED, exclude_categories=["Cs"]
) | st.sampled_from(list("+/= %\t\n\r\x00é٣ａ"))


# --- the verifier ----------------------------------------------------------------------------


def test_the_rfc_7636_appendix_b_verifier_gives_the_appendix_b_challenge() -> None:
    assert pkce.challenge_s256(APPENDIX_B_VERIFIER) == APPENDIX_B_CHALLENGE


def test_the_rfc_7636_appendix_b_pair_verifies() -> None:
    pkce.verify(APPENDIX_B_VERIFIER, APPENDIX_B_CHALLENGE)


@given(st.integers(min_value=43, max_value=128))
def test_a_new_verifier_of_any_length_from_43_to_128_is_valid(length: int) -> None:
    verifier = pkce.new_verifier(length)
    assert len(verifier) == length
    assert pkce.is_valid_verifier(verifier)
    assert pkce.check_verifier_syntax(verifier) == verifier


def test_a_new_verifier_is_64_characters_by_default() -> None:
    assert len(pkce.new_verifier()) == 64


def test_new_verifiers_are_random() -> None:
    made = {pkce.new_verifier(43) for _ in range(200)}
    assert len(made) == 200


def test_new_verifiers_use_the_whole_unreserved_alphabet() -> None:
    seen = set("".join(pkce.new_verifier(128) for _ in range(50)))
    assert seen <= set(UNRESERVED)
    assert len(seen) > 60


@given(st.integers(max_value=42) | st.integers(min_value=129))
def test_a_verifier_length_outside_43_to_128_cannot_be_made(length: int) -> None:
    with pytest.raises(ValueError, match="43 to 128"):
        pkce.new_verifier(length)


@given(verifiers)
def test_43_to_128_unreserved_characters_are_a_valid_verifier(verifier: str) -> None:
    assert pkce.is_valid_verifier(verifier)


@given(st.text(alphabet=UNRESERVED, max_size=42) | st.text(alphabet=UNRESERVED, min_size=129))
def test_a_verifier_of_the_wrong_length_is_refused(verifier: str) -> None:
    assert not pkce.is_valid_verifier(verifier)
    with pytest.raises(InvalidRequest):
        pkce.check_verifier_syntax(verifier)


@given(verifiers, forbidden_chars, st.data())
def test_a_verifier_with_a_character_outside_unreserved_is_refused(
    verifier: str, bad: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(verifier) - 1))
    spoiled = verifier[:at] + bad + verifier[at + 1 :]
    assert not pkce.is_valid_verifier(spoiled)
    with pytest.raises(InvalidRequest):
        pkce.check_verifier_syntax(spoiled)


@pytest.mark.parametrize(
    "verifier",
    [
        "a" * 42,
        "a" * 129,
        "a" * 42 + "+",
        "a" * 42 + "/",
        "a" * 42 + "=",
        "a" * 42 + " ",
        "a" * 43 + "\n",
        "\n" + "a" * 43,
        "a" * 42 + "é",
        "a" * 42 + "٣",  # a unicode digit: \d would accept it, RFC 7636 does not
    ],
)
def test_near_miss_verifiers_are_refused(verifier: str) -> None:
    assert not pkce.is_valid_verifier(verifier)


def test_a_missing_verifier_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="code_verifier is required"):
        pkce.check_verifier_syntax(None)


def test_an_empty_verifier_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        pkce.check_verifier_syntax("")


# --- the challenge ---------------------------------------------------------------------------


@given(verifiers)
def test_an_s256_challenge_is_43_characters_of_canonical_unpadded_base64url(
    verifier: str,
) -> None:
    challenge = pkce.challenge_s256(verifier)
    assert len(challenge) == 43
    assert set(challenge) <= set(BASE64URL)
    raw = base64.urlsafe_b64decode(challenge + "=")
    assert len(raw) == 32
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == challenge
    assert pkce.is_valid_challenge(challenge)
    assert pkce.check_challenge(challenge, "S256") == challenge


@given(st.binary(min_size=32, max_size=32))
def test_every_canonical_encoding_of_32_bytes_is_a_valid_challenge(raw: bytes) -> None:
    challenge = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert pkce.is_valid_challenge(challenge)


@given(st.text(alphabet=BASE64URL, min_size=43, max_size=43))
def test_a_challenge_is_valid_exactly_when_it_decodes_canonically_to_32_bytes(
    challenge: str,
) -> None:
    raw = base64.urlsafe_b64decode(challenge + "=")
    canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == challenge
    assert pkce.is_valid_challenge(challenge) is canonical


@given(verifiers)
def test_a_verifier_always_verifies_against_its_own_challenge(verifier: str) -> None:
    pkce.verify(verifier, pkce.challenge_s256(verifier))


@settings(max_examples=200)
@given(verifiers, verifiers)
def test_any_other_verifier_is_an_invalid_grant(verifier: str, other: str) -> None:
    assume(other != verifier)
    with pytest.raises(InvalidGrant) as caught:
        pkce.verify(other, pkce.challenge_s256(verifier))
    assert caught.value.detail == "verifier_mismatch"
    assert verifier not in caught.value.description
    assert other not in caught.value.description


def test_the_plain_method_does_not_verify_a_verifier_sent_as_its_own_challenge() -> None:
    verifier = pkce.new_verifier(43)
    with pytest.raises(InvalidGrant):
        pkce.verify(verifier, verifier)


@given(st.text(max_size=200))
def test_verify_refuses_any_text_as_a_verifier_with_invalid_grant_and_nothing_else(
    text: str,
) -> None:
    assume(text != APPENDIX_B_VERIFIER)
    with pytest.raises(InvalidGrant):
        pkce.verify(text, APPENDIX_B_CHALLENGE)


def test_a_non_ascii_verifier_is_an_invalid_grant_not_a_crash() -> None:
    with pytest.raises(InvalidGrant):
        pkce.verify("é" * 43, APPENDIX_B_CHALLENGE)


def test_a_missing_challenge_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="code_challenge is required"):
        pkce.check_challenge(None, "S256")


def test_a_missing_method_means_plain_and_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="code_challenge_method"):
        pkce.check_challenge(APPENDIX_B_CHALLENGE, None)


@pytest.mark.parametrize(
    "method", ["plain", "PLAIN", "s256", "S256 ", " S256", "S384", "", "SHA256", "S256\n"]
)
def test_any_method_but_exactly_s256_is_an_invalid_request(method: str) -> None:
    with pytest.raises(InvalidRequest, match="must be S256"):
        pkce.check_challenge(APPENDIX_B_CHALLENGE, method)


@given(st.text(max_size=20))
def test_any_method_text_but_s256_is_refused(method: str) -> None:
    assume(method != "S256")
    with pytest.raises(InvalidRequest):
        pkce.check_challenge(APPENDIX_B_CHALLENGE, method)


def test_a_plain_challenge_that_is_a_verifier_is_refused_even_with_s256() -> None:
    with pytest.raises(InvalidRequest):
        pkce.check_challenge(pkce.new_verifier(64), "S256")


@pytest.mark.parametrize(
    "challenge",
    [
        APPENDIX_B_CHALLENGE[:-1],  # 42 characters
        APPENDIX_B_CHALLENGE + "A",  # 44 characters
        APPENDIX_B_CHALLENGE + "=",  # padded
        APPENDIX_B_CHALLENGE[:-1] + "N",  # non-canonical: low bits of the last char set
        APPENDIX_B_CHALLENGE[:-1] + "z",
        APPENDIX_B_CHALLENGE[:-1] + "_",
        APPENDIX_B_CHALLENGE.replace("-", "+"),  # standard, not url-safe, base64
        APPENDIX_B_CHALLENGE.replace("-", "/"),
        APPENDIX_B_CHALLENGE + "\n",
        " " + APPENDIX_B_CHALLENGE[1:],
        "",
    ],
)
def test_a_malformed_challenge_is_an_invalid_request(challenge: str) -> None:
    assert not pkce.is_valid_challenge(challenge)
    with pytest.raises(InvalidRequest, match="43 characters"):
        pkce.check_challenge(challenge, "S256")


@given(st.text(alphabet=BASE64URL, max_size=42) | st.text(alphabet=BASE64URL, min_size=44))
def test_a_challenge_of_the_wrong_length_is_refused(challenge: str) -> None:
    assert not pkce.is_valid_challenge(challenge)


@given(
    st.text(alphabet=BASE64URL, min_size=43, max_size=43),
    st.characters(exclude_characters=BASE64URL, exclude_categories=["Cs"])
    | st.sampled_from(list("+/=.~ \né٣")),
    st.data(),
)
def test_a_challenge_with_a_character_outside_base64url_is_refused(
    challenge: str, bad: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(min_value=0, max_value=42))
    assert not pkce.is_valid_challenge(challenge[:at] + bad + challenge[at + 1 :])


def test_only_s256_is_exported_as_a_method() -> None:
    assert pkce.S256 == "S256"
    assert not any("plain" in name.lower() for name in pkce.__all__)
