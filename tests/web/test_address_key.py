"""Per-address limits key IPv4 addresses as they are and IPv6 ones by their /64."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from proofkey.web.addresses import address_key


def test_ipv4_and_ipv4_mapped_addresses_are_the_same_key() -> None:
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"


def test_ipv6_addresses_key_by_their_64_and_zone_ids_are_dropped() -> None:
    assert address_key("2001:db8:0:1::1") == "2001:db8:0:1::/64"
    assert address_key("2001:db8:0:1:ffff:ffff:ffff:ffff") == "2001:db8:0:1::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"


def test_names_that_are_not_addresses_are_kept() -> None:
    assert address_key("testclient") == "testclient"


@given(st.ip_addresses(v=6), st.integers(min_value=0, max_value=2**64 - 1))
def test_every_address_of_a_64_has_one_key(address: ipaddress.IPv6Address, host: int) -> None:
    if address.ipv4_mapped is not None:
        return
    sibling = ipaddress.IPv6Address((int(address) >> 64 << 64) | host)
    if sibling.ipv4_mapped is None:
        assert address_key(str(address)) == address_key(str(sibling))
