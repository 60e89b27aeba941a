"""Client authentication input at the token endpoint (RFC 6749 §2.3, §2.3.1; OAuth 2.1 §2.4)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from types import MappingProxyType
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from proofkey.errors import InvalidClient, InvalidRequest
from proofkey.models import Secret
from proofkey.protocol.credentials import ClientCredentials, read_client_credentials
from proofkey.protocol.params import Params

NO_FORM: Params = MappingProxyType({})
# RFC 6749 Appendix A.1/A.2: client-id and client-secret = *VSCHAR (%x20-7E).
vschar_text = st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)], max_size=40)


def basic(client_id: str, secret: str, *, quote_via: Callable[..., str] = quote_plus) -> str:
    """An Authorization header the RFC 6749 §2.3.1 way: form-urlencode each part, then Basic."""
    pair = f"{quote_via(client_id, safe='')}:{quote_via(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def raw_basic(pair: bytes) -> str:
    return "Basic " + base64.b64encode(pair).decode("ascii")


def form(**fields: str) -> Params:
    return MappingProxyType(fields)


# --- client_secret_basic ---------------------------------------------------------------------


def test_basic_credentials_name_the_client_and_its_secret() -> None:
    creds = read_client_credentials(basic("web-app", "s3cret"), NO_FORM)
    assert creds == ClientCredentials("web-app", Secret("s3cret"), "client_secret_basic")
    assert creds.secret is not None
    assert creds.secret.reveal() == "s3cret"


def test_the_basic_scheme_name_is_case_insensitive() -> None:
    header = basic("web-app", "s3cret").replace("Basic", "bAsIc")
    assert read_client_credentials(header, NO_FORM).client_id == "web-app"


def test_form_urlencoded_colons_and_percent_signs_in_basic_credentials_are_decoded() -> None:
    creds = read_client_credentials(basic("urn:client:1", "p%ss:w:rd%"), NO_FORM)
    assert creds.client_id == "urn:client:1"
    assert creds.secret == Secret("p%ss:w:rd%")


def test_a_form_urlencoded_plus_in_basic_credentials_is_a_space() -> None:
    # RFC 6749 §2.3.1 + Appendix B: a space is encoded as '+', a '+' as '%2B'.
    creds = read_client_credentials(basic("my client", "a b+c"), NO_FORM)
    assert creds.client_id == "my client"
    assert creds.secret == Secret("a b+c")


def test_a_basic_client_id_with_a_space_agrees_with_the_same_id_in_the_body() -> None:
    creds = read_client_credentials(basic("my client", "x"), form(client_id="my client"))
    assert creds.client_id == "my client"


def test_utf_8_basic_credentials_are_decoded() -> None:
    creds = read_client_credentials(basic("clïent", "sécret€"), NO_FORM)
    assert creds.client_id == "clïent"
    assert creds.secret == Secret("sécret€")


@given(vschar_text.filter(bool), vschar_text)
def test_any_rfc_client_id_and_secret_survive_basic_encoding(client_id: str, secret: str) -> None:
    creds = read_client_credentials(basic(client_id, secret), NO_FORM)
    assert creds.client_id == client_id
    assert creds.secret == Secret(secret)
    assert creds.method == "client_secret_basic"


@given(vschar_text.filter(bool), vschar_text)
def test_percent_20_spaces_decode_the_same_as_plus(client_id: str, secret: str) -> None:
    creds = read_client_credentials(basic(client_id, secret, quote_via=quote), NO_FORM)
    assert creds.client_id == client_id
    assert creds.secret == Secret(secret)


def test_only_the_first_colon_separates_id_from_secret() -> None:
    creds = read_client_credentials(raw_basic(b"web-app:a:b"), NO_FORM)
    assert creds.client_id == "web-app"
    assert creds.secret == Secret("a:b")


def test_an_empty_secret_in_basic_is_still_basic() -> None:
    creds = read_client_credentials(raw_basic(b"web-app:"), NO_FORM)
    assert creds.method == "client_secret_basic"
    assert creds.secret == Secret("")


def test_a_matching_client_id_in_the_body_is_allowed_with_basic() -> None:
    creds = read_client_credentials(basic("web-app", "s3cret"), form(client_id="web-app"))
    assert creds.method == "client_secret_basic"


def test_basic_and_a_client_secret_in_the_body_are_an_invalid_request() -> None:
    # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method".
    with pytest.raises(InvalidRequest, match="only one"):
        read_client_credentials(basic("web-app", "s3cret"), form(client_secret="s3cret"))


def test_basic_with_a_different_client_id_in_the_body_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="differs"):
        read_client_credentials(basic("web-app", "s3cret"), form(client_id="other-app"))


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic ",
        "Basic !!!!",
        "Basic d2ViLWFwcA",  # unpadded
        "Basic d2ViLWFwcA=",  # wrongly padded
        "Basic d2ViLWFw\ncA==",
        "Basic d2ViLWFwcA==",  # "web-app": no colon
        "Basic " + base64.b64encode(b":secret").decode(),  # empty client_id
        "Basic " + base64.b64encode(b"web-app\xff:secret").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b"web-app:sec\xc3").decode(),
        "Basic " + base64.urlsafe_b64encode(b"web-app?>:s~~~>?").decode(),  # url-safe alphabet
        "Basic wëb",
        raw_basic(b"web-app:%ff"),  # a percent escape that is not UTF-8
        raw_basic(b"web%C3:secret"),
    ],
)
def test_malformed_basic_credentials_are_an_invalid_client(header: str) -> None:
    with pytest.raises(InvalidClient, match="malformed Basic"):
        read_client_credentials(header, NO_FORM)


@pytest.mark.parametrize(
    "header", ["Bearer abc", "Digest username=x", "BasicX d2ViLWFwcDp4", "Negotiate abc", "x"]
)
def test_an_authorization_scheme_other_than_basic_is_an_invalid_client(header: str) -> None:
    with pytest.raises(InvalidClient, match="unsupported Authorization scheme"):
        read_client_credentials(header, NO_FORM)


def test_an_invalid_client_from_a_header_does_not_redirect() -> None:
    with pytest.raises(InvalidClient) as caught:
        read_client_credentials("Bearer abc", NO_FORM)
    assert caught.value.redirectable is False
    assert caught.value.status_code == 401


@given(st.text(max_size=80))
def test_any_authorization_header_yields_credentials_or_an_oauth_error(header: str) -> None:
    try:
        creds = read_client_credentials(header, NO_FORM)
    except (InvalidClient, InvalidRequest):
        return
    assert creds.method == "client_secret_basic"
    assert creds.client_id


@given(st.binary(max_size=60))
def test_any_base64_payload_yields_credentials_or_an_invalid_client(payload: bytes) -> None:
    try:
        creds = read_client_credentials(raw_basic(payload), NO_FORM)
    except InvalidClient:
        return
    assert b":" in payload
    assert creds.client_id


# --- client_secret_post and none -------------------------------------------------------------


def test_a_client_secret_in_the_body_is_client_secret_post() -> None:
    creds = read_client_credentials(None, form(client_id="web-app", client_secret="s3cret"))
    assert creds == ClientCredentials("web-app", Secret("s3cret"), "client_secret_post")


def test_a_client_id_alone_is_a_public_client_with_method_none() -> None:
    creds = read_client_credentials(None, form(client_id="native-app"))
    assert creds == ClientCredentials("native-app", None, "none")


def test_an_empty_authorization_header_counts_as_absent() -> None:
    assert read_client_credentials("", form(client_id="native-app")).method == "none"


def test_no_client_id_anywhere_is_an_invalid_client() -> None:
    with pytest.raises(InvalidClient, match="client_id is missing"):
        read_client_credentials(None, NO_FORM)
    with pytest.raises(InvalidClient):
        read_client_credentials(None, form(client_secret="s3cret"))


# --- the secret stays secret -----------------------------------------------------------------


@given(vschar_text.filter(lambda s: len(s) >= 4))
def test_the_secret_never_shows_in_repr_or_str(secret: str) -> None:
    masked = repr(Secret(""))
    assume(secret not in f"ClientCredentials(client_id='web-app', secret={masked}")
    creds = read_client_credentials(basic("web-app", secret), NO_FORM)
    assert secret not in repr(creds)
    assert secret not in repr(creds.secret)
    assert secret not in str(creds.secret)
    assert "**" in repr(creds.secret)


def test_a_real_secret_is_masked_everywhere_it_could_be_printed() -> None:
    creds = read_client_credentials(None, form(client_id="web-app", client_secret="hunter2-xyz"))
    for shown in (repr(creds), str(creds), repr(creds.secret), str(creds.secret), f"{creds}"):
        assert "hunter2" not in shown


def test_credentials_are_immutable() -> None:
    creds = read_client_credentials(None, form(client_id="web-app"))
    with pytest.raises(AttributeError):
        creds.client_id = "other"  # type: ignore[misc]


# --- private_key_jwt (RFC 7523 §2.2) ------------------------------------------------------------

def _jws(sub: object) -> str:
    def b64(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'ES256'})}.{b64({'sub': sub, 'iss': sub})}.c2ln"


JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_an_assertion_names_its_client_by_sub_when_client_id_is_left_out() -> None:
    signed = _jws("robot")
    creds = read_client_credentials(None, form(client_assertion_type=JWT_BEARER,
                                               client_assertion=signed))
    assert (creds.client_id, creds.method, creds.secret) == ("robot", "private_key_jwt", None)
    assert creds.assertion is not None
    assert creds.assertion.reveal() == signed
    assert signed not in repr(creds)


def test_a_client_id_sent_with_the_assertion_is_the_one_looked_up() -> None:
    creds = read_client_credentials(None, form(client_assertion_type=JWT_BEARER,
                                               client_assertion=_jws("robot"),
                                               client_id="other"))
    assert creds.client_id == "other"  # verification then refuses: sub must be the client_id


@pytest.mark.parametrize("fields", [
    {"client_assertion": "a.b.c"},  # no type
    {"client_assertion_type": "urn:x", "client_assertion": "a.b.c"},
    {"client_assertion_type": JWT_BEARER},  # no assertion
    {"client_assertion_type": JWT_BEARER, "client_assertion": "not-a-jws"},
    {"client_assertion_type": JWT_BEARER, "client_assertion": "e30.e30.c2ln"},  # no sub
])
def test_an_unusable_assertion_is_invalid_client(fields: dict[str, str]) -> None:
    with pytest.raises(InvalidClient):
        read_client_credentials(None, form(**fields))


@pytest.mark.parametrize(("authorization", "fields"), [
    (basic("robot", "s"), {}),
    (None, {"client_secret": "s"}),
])
def test_an_assertion_with_another_method_is_invalid_request(
        authorization: str | None, fields: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        read_client_credentials(authorization, form(
            client_assertion_type=JWT_BEARER, client_assertion=_jws("robot"), **fields))
