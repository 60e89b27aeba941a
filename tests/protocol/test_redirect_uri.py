"""Redirect URI registration and exact matching (RFC 6749 §3.1.2; RFC 8252 §7.1, §7.3, §8.3;
RFC 9700 §4.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from proofkey.protocol.redirect_uri import (
    is_loopback_ip_uri,
    match_redirect_uri,
    validate_registration,
)

WEB = "https://app.example.com/cb"
WEB_WITH_QUERY = "https://app.example.com/cb?tenant=a"
NATIVE_V4 = "http://127.0.0.1/callback"
NATIVE_V6 = "http://[::1]/callback"
NATIVE_V4_PORT = "http://127.0.0.1:8400/callback"
PRIVATE_USE = "com.example.app:/oauth2redirect"

ports = st.integers(min_value=1, max_value=65535)


def matches(registered: str | list[str], requested: str, *, loopback: bool = True) -> bool:
    regs = [registered] if isinstance(registered, str) else registered
    return match_redirect_uri(regs, requested, loopback_any_port=loopback)


# --- exact matching --------------------------------------------------------------------------


@pytest.mark.parametrize("uri", [WEB, WEB_WITH_QUERY, NATIVE_V4, NATIVE_V6, PRIVATE_USE])
@pytest.mark.parametrize("loopback", [True, False])
def test_a_registered_redirect_uri_matches_itself(uri: str, loopback: bool) -> None:
    assert matches(uri, uri, loopback=loopback)


def test_any_of_several_registered_uris_matches() -> None:
    assert matches([WEB, PRIVATE_USE], PRIVATE_USE)
    assert not matches([WEB, PRIVATE_USE], NATIVE_V4)


def test_nothing_matches_an_empty_registration() -> None:
    assert not matches([], WEB)


def test_registered_uris_may_be_any_iterable() -> None:
    assert match_redirect_uri(iter([WEB]), WEB, loopback_any_port=False)
    assert match_redirect_uri(frozenset([WEB]), WEB, loopback_any_port=False)


@pytest.mark.parametrize(
    "requested",
    [
        "https://app.example.com/cb/",  # trailing slash
        "https://app.example.com/CB",  # case change in the path
        "https://APP.example.com/cb",  # case change in the host: still not the same string
        "https://app.example.com/cb?x=1",  # extra query parameter
        "https://app.example.com/cb?",  # empty query
        "https://app.example.com/cb#frag",  # fragment
        "http://app.example.com/cb",  # different scheme
        "https://app.example.com:443/cb",  # explicit default port
        "https://app.example.com:8443/cb",  # other port
        "https://user@app.example.com/cb",  # userinfo prefix
        "https://app.example.com@evil.example/cb",  # '@' trick: host is evil.example
        "https://evil.example/@app.example.com/cb",
        "https://evil.example#@app.example.com/cb",
        "https://evil.example\\@app.example.com/cb",
        "https://app.example.com/%63b",  # percent-encoded variant of the same path
        "https://app.example.com/c%62",
        "https://app.example.com%2Fcb",
        "https://app.example.com/cb/../cb",  # dot segments
        "https://app.example.com/./cb",
        "https://app.example.com/cb/evil",  # prefix match
        "https://app.example.com/cbx",
        "https://app.example.com/c",
        "https://evil.app.example.com/cb",  # subdomain
        "https://app.example.com.evil.example/cb",  # suffix domain
        "https://app.example.com./cb",  # trailing dot in the host
        " https://app.example.com/cb",  # whitespace
        "https://app.example.com/cb ",
        "https://app.example.com/cb\n",
        "",
    ],
)
def test_a_near_miss_of_a_registered_uri_is_refused(requested: str) -> None:
    assert not matches(WEB, requested)


@pytest.mark.parametrize(
    "requested",
    [
        "https://app.example.com/cb",  # registered with a query: the query is part of the URI
        "https://app.example.com/cb?tenant=b",
        "https://app.example.com/cb?tenant=a&x=1",
        "https://app.example.com/cb?tenant=A",
        "https://app.example.com/cb?tenant=%61",
    ],
)
def test_the_registered_query_must_match_exactly(requested: str) -> None:
    assert not matches(WEB_WITH_QUERY, requested)


@given(st.text(max_size=60))
def test_no_other_string_matches_a_non_loopback_registration(requested: str) -> None:
    if requested != WEB:
        assert not matches(WEB, requested)


# --- loopback IP literals (RFC 8252 §7.3) ----------------------------------------------------


@given(ports)
def test_a_loopback_ipv4_uri_matches_any_port_when_allowed(port: int) -> None:
    assert matches(NATIVE_V4, f"http://127.0.0.1:{port}/callback")
    assert matches(NATIVE_V4_PORT, f"http://127.0.0.1:{port}/callback")


@given(ports)
def test_a_loopback_ipv6_uri_matches_any_port_when_allowed(port: int) -> None:
    assert matches(NATIVE_V6, f"http://[::1]:{port}/callback")


@given(ports)
def test_a_loopback_uri_matches_another_port_only_when_allowed(port: int) -> None:
    assert not matches(NATIVE_V4, f"http://127.0.0.1:{port}/callback", loopback=False)
    assert not matches(NATIVE_V6, f"http://[::1]:{port}/callback", loopback=False)


def test_a_loopback_uri_keeps_its_query_when_the_port_varies() -> None:
    registered = "http://127.0.0.1/callback?app=1"
    assert matches(registered, "http://127.0.0.1:5000/callback?app=1")
    assert not matches(registered, "http://127.0.0.1:5000/callback?app=2")
    assert not matches(registered, "http://127.0.0.1:5000/callback")
    assert not matches(registered, "http://127.0.0.1:5000/callback?app=1&x=2")


@pytest.mark.parametrize(
    "requested",
    [
        "http://127.0.0.1:5000/callback/",
        "http://127.0.0.1:5000/Callback",
        "http://127.0.0.1:5000/callback?x=1",
        "http://127.0.0.1:5000/callback#x",
        "http://127.0.0.1:5000/",
        "http://127.0.0.1:5000",
        "http://127.0.0.1:5000/callbackx",
        "http://127.0.0.1:5000/%63allback",
        "http://[::1]:5000/callback",  # the other loopback literal
        "http://localhost:5000/callback",
        "https://127.0.0.1:5000/callback",
        "HTTP://127.0.0.1:5000/callback",
        "http://127.0.0.2:5000/callback",
        "http://127.0.0.1.evil.example:5000/callback",
        "http://127.0.0.1:5000@evil.example/callback",
        "http://127.0.0.1@evil.example:5000/callback",
        "http://user@127.0.0.1:5000/callback",
        "http://0x7f000001:5000/callback",
        "http://2130706433:5000/callback",
        "http://[0:0:0:0:0:0:0:1]:5000/callback",
        "http://127.0.0.1:/callback",
        "http://127.0.0.1:+80/callback",
        "http://127.0.0.1: 80/callback",
        "http://127.0.0.1:８０/callback",
    ],
)
def test_a_loopback_uri_on_another_port_must_keep_the_same_host_path_and_query(
    requested: str,
) -> None:
    assert not matches(NATIVE_V4, requested)


@pytest.mark.parametrize("port", ["0", "00", "65536", "99999"])
def test_a_loopback_port_of_zero_or_above_65535_is_refused(port: str) -> None:
    assert not matches(NATIVE_V4, f"http://127.0.0.1:{port}/callback")
    assert not matches(NATIVE_V6, f"http://[::1]:{port}/callback")


def test_a_loopback_port_has_at_most_five_digits() -> None:
    assert not matches(NATIVE_V4, "http://127.0.0.1:000080/callback")


@given(ports)
def test_localhost_never_matches_by_port(port: int) -> None:
    assume(port != 8000)
    assert matches("http://localhost/callback", "http://localhost/callback")
    assert not matches("http://localhost/callback", f"http://localhost:{port}/callback")
    assert not matches("http://localhost:8000/callback", f"http://localhost:{port}/callback")


@given(ports)
def test_a_non_loopback_host_never_matches_by_port(port: int) -> None:
    assume(port != 8443)
    assert not matches("https://app.example.com:8443/cb", f"https://app.example.com:{port}/cb")


def test_is_loopback_ip_uri_knows_the_two_literals_and_nothing_else() -> None:
    assert is_loopback_ip_uri("http://127.0.0.1/cb")
    assert is_loopback_ip_uri("http://127.0.0.1:1234/cb")
    assert is_loopback_ip_uri("http://[::1]:1234/cb")
    assert is_loopback_ip_uri("http://127.0.0.1")
    assert not is_loopback_ip_uri("http://localhost/cb")
    assert not is_loopback_ip_uri("https://127.0.0.1/cb")
    assert not is_loopback_ip_uri("http://127.0.0.1/cb#frag")
    assert not is_loopback_ip_uri("http://127.0.0.1.nip.io/cb")


# --- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/cb",
        "https://app.example.com/cb?tenant=a",
        "https://app.example.com:8443/cb",
        "https://localhost/cb",
    ],
)
@pytest.mark.parametrize("public", [True, False])
def test_an_https_uri_may_be_registered_by_any_client(uri: str, public: bool) -> None:
    validate_registration(uri, public=public)


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1/cb", "http://127.0.0.1:8400/cb", "http://[::1]/cb", "http://[::1]:1/cb"],
)
@pytest.mark.parametrize("public", [True, False])
def test_an_http_loopback_ip_uri_may_be_registered(uri: str, public: bool) -> None:
    validate_registration(uri, public=public)


@pytest.mark.parametrize(
    "uri", ["com.example.app:/oauth2redirect", "com.example.app:/cb?x=1", "io.proofkey.cli:/cb"]
)
def test_a_reverse_domain_private_use_scheme_may_be_registered_by_a_public_client(
    uri: str,
) -> None:
    validate_registration(uri, public=True)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("https://app.example.com/cb#frag", "fragment"),
        ("https://app.example.com/cb#", "fragment"),
        ("/cb", "absolute"),
        ("//app.example.com/cb", "absolute"),
        ("cb", "absolute"),
        ("", "absolute"),
        ("http://app.example.com/cb", "loopback"),
        ("http://10.0.0.1/cb", "loopback"),
        ("http://127.0.0.2/cb", "loopback"),
        ("http://localhost/cb", "localhost"),
        ("http://localhost:8400/cb", "localhost"),
        ("myapp:/cb", "reverse domain"),
        ("myapp://cb", "reverse domain"),
        ("javascript:alert(1)", "reverse domain"),
        ("data:text/html,hi", "reverse domain"),
        ("https:///cb", "host"),
        ("https:/cb", "host"),
        ("https://app.example.com/ cb", "spaces"),
        ("https://app.example.com/cb\n", "control"),
        ("https://app.example.com/cb\t", "control"),
        ("https://app.example.com/\x00", "control"),
        ("https://app.example.com/\x7f", "control"),
        ("https://app.example.com/\u2028", "spaces"),
        ("https://app.example.com/" + "a" * 2000, "2000"),
    ],
)
def test_a_redirect_uri_that_breaks_the_rules_cannot_be_registered(uri: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_registration(uri, public=True)


@pytest.mark.parametrize("uri", ["com.example.app:/cb", "myapp:/cb"])
def test_a_confidential_client_may_not_register_a_private_use_scheme(uri: str) -> None:
    with pytest.raises(ValueError, match="public native clients only"):
        validate_registration(uri, public=False)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "http://[::1]:99999/cb",
        "https://app.example.com:0/cb",
        "https://app.example.com:99999/cb",
        "https://app.example.com:port/cb",
    ],
)
def test_a_redirect_uri_with_an_impossible_port_cannot_be_registered(uri: str) -> None:
    with pytest.raises(ValueError, match="port"):
        validate_registration(uri, public=True)


@given(st.text(max_size=80))
def test_validation_of_any_text_raises_only_value_error(uri: str) -> None:
    try:
        validate_registration(uri, public=True)
    except ValueError:
        return
    assert "#" not in uri
    assert not any(c.isspace() or ord(c) < 0x21 for c in uri)
