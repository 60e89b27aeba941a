"""Client ID Metadata Documents, the pure parts: which client_id URLs are documents (draft §3),
which addresses may be fetched (§6.5), how long a document is fresh (RFC 9111)."""

from __future__ import annotations

import ipaddress
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofkey.protocol.client_id_document import (
    MAX_CLIENT_ID_URL,
    address_allowed,
    cache_lifetime,
    check_client_id_url,
    clamp_lifetime,
    document_host,
    is_metadata_document_id,
)
from proofkey.protocol.registration import MetadataRefused


def test_a_client_id_url_with_a_path_is_split_into_host_port_and_target() -> None:
    url = check_client_id_url("https://App.example.com:8443/oauth/client.json")
    assert (url.host, url.port, url.target) == ("app.example.com", 8443, "/oauth/client.json")
    assert check_client_id_url("https://[2001:db8::1]/c").host == "2001:db8::1"
    assert check_client_id_url("https://app.example/c").port == 443


@pytest.mark.parametrize("url", [
    "http://app.example.com/client.json",  # §3: MUST have an "https" scheme
    "HTTPS://app.example.com/client.json",
    "https://app.example.com",  # MUST contain a path component
    "https://app.example.com/",
    "https://app.example.com/a/../client.json",  # MUST NOT contain dot segments
    "https://app.example.com/./client.json",
    "https://app.example.com/a/%2e%2E/client.json",
    "https://app.example.com/client.json#x",  # MUST NOT contain a fragment
    "https://user:pw@app.example.com/client.json",  # MUST NOT contain a username or password
    "https://user@app.example.com/client.json",
    "https://app.example.com/client.json?v=1",  # SHOULD NOT include a query: refused
    "https://app.example.com/client json",
    "https://app.example.com/client\\json",
    "https://app.example.com:0/client.json",
    "https://app.example.com:99999/client.json",
    "https://app.example.com:/client.json",
    "https:///client.json",
    "https://-bad-.example/client.json",
    "https://app.example.com/" + "a" * MAX_CLIENT_ID_URL,
    "https://app.example.com/caf\u00e9",
])
def test_client_id_urls_that_break_section_3_are_refused_under_pkl070(url: str) -> None:
    with pytest.raises(MetadataRefused) as refused:
        check_client_id_url(url)
    assert refused.value.rule == "PKL070"
    assert url not in refused.value.description  # raw input is not echoed


_PATH = st.text(alphabet=string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@/",
                max_size=80)


@given(st.text(max_size=200))
def test_any_string_is_accepted_or_refused_under_pkl070_never_anything_else(text: str) -> None:
    try:
        url = check_client_id_url(text)
    except MetadataRefused as refused:
        assert refused.rule == "PKL070"  # noqa: PT017 - every refusal names this rule
    else:
        assert url.url == text
        assert text.startswith("https://")
        assert url.target not in {"", "/"}


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){1,3}", fullmatch=True),
       _PATH)
def test_an_accepted_url_keeps_its_exact_string_and_has_no_dot_segments(host: str,
                                                                         path: str) -> None:
    text = f"https://{host}/{path}"
    try:
        url = check_client_id_url(text)
    except MetadataRefused:
        return
    assert url.url == text
    assert "?" not in text
    assert "#" not in text
    assert all(seg not in {".", ".."} for seg in url.target.split("/"))
    assert document_host(text) == host


def test_only_urls_are_metadata_document_ids_and_registered_ids_never_are() -> None:
    assert is_metadata_document_id("https://app.example/c")
    assert is_metadata_document_id("http://app.example/c")  # refused by name later, not unknown
    assert not is_metadata_document_id("native-app")
    assert document_host("native-app") is None
    assert document_host("https://App.Example/c") == "app.example"


@given(st.from_regex(r"[A-Za-z0-9._~-]{1,128}", fullmatch=True))
def test_no_id_the_cli_can_register_is_taken_for_a_document(client_id: str) -> None:
    assert not is_metadata_document_id(client_id)


@pytest.mark.parametrize(("address", "allowed"), [
    ("93.184.215.14", True),
    ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
    ("127.0.0.1", False), ("::1", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("0.0.0.0", False),  # noqa: S104 - an address judged, not bound
    ("224.0.0.1", False), ("240.0.0.1", False), ("fe80::1", False),
    ("fc00::1", False), ("ff02::1", False), ("::ffff:127.0.0.1", False),
    ("::ffff:10.0.0.1", False), ("192.0.2.1", False), ("2001:db8::1", False),
])
def test_only_public_unicast_addresses_may_be_fetched(address: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_loopback=False) is allowed


def test_loopback_is_fetched_only_when_the_operator_allows_it() -> None:
    for text in ("127.0.0.1", "127.5.5.5", "::1", "::ffff:127.0.0.1"):
        assert address_allowed(ipaddress.ip_address(text), allow_loopback=True)
    assert not address_allowed(ipaddress.ip_address("10.0.0.1"), allow_loopback=True)


@given(st.ip_addresses())
def test_an_allowed_address_is_never_private_loopback_or_multicast(address: object) -> None:
    assert isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    if address_allowed(address, allow_loopback=False):
        plain = (address.ipv4_mapped or address if isinstance(address, ipaddress.IPv6Address)
                 else address)
        assert not (plain.is_private)
        assert not (plain.is_loopback)
        assert not (plain.is_multicast)
        assert not (plain.is_link_local)
        assert not (plain.is_reserved)
        assert not (plain.is_unspecified)


@pytest.mark.parametrize(("cache_control", "expires", "date", "lifetime"), [
    ("max-age=600", None, None, 600),
    ("public, max-age=60, must-revalidate", None, None, 60),
    ('max-age="90"', None, None, 90),
    ("no-store", None, None, 0),
    ("no-cache, max-age=600", None, None, 0),
    ("max-age=soon", None, None, 0),
    ("max-age=600", "Thu, 01 Jan 1970 00:00:00 GMT", None, 600),  # max-age wins
    (None, "Wed, 21 Oct 2015 08:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT", 3600),
    (None, "garbage", None, 0),
    (None, "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 08:28:00 GMT", 0),
    (None, None, None, None),
    ("public", None, None, None),
])
def test_freshness_follows_rfc_9111(cache_control: str | None, expires: str | None,
                                    date: str | None, lifetime: int | None) -> None:
    assert cache_lifetime(cache_control, expires, date, now=0.0) == lifetime


@given(st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)),
       st.integers(min_value=0, max_value=1000), st.integers(min_value=1000, max_value=10**6))
def test_a_lifetime_is_always_within_the_bounds(lifetime: int | None, low: int,
                                                high: int) -> None:
    assert low <= clamp_lifetime(lifetime, low, high) <= high


@given(st.text(max_size=100), st.one_of(st.none(), st.text(max_size=60)))
def test_any_header_values_give_a_lifetime_or_none_never_an_error(
        cache_control: str, expires: str | None) -> None:
    result = cache_lifetime(cache_control, expires, None, now=0.0)
    assert result is None or result >= 0
