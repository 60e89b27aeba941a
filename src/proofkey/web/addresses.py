"""The caller's address as the per-address limits see it."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

__all__ = ["address_key", "client_ip"]


def client_ip(request: Request) -> str:
    """The caller's address as a throttling key (the proxy-resolved one behind trusted
    proxies): see ``address_key``."""
    return address_key(request.client.host) if request.client else "-"


def address_key(host: str) -> str:
    """What per-address limits count: an IPv4 address (also when IPv4-mapped), or the /64
    network of an IPv6 one. One IPv6 host is usually given a whole /64 (RFC 4291, SLAAC), so
    keying on the full address would let it rotate through 2^64 fresh addresses and never
    meet a limit. Anything that is not an IP address (a test client's name) is kept."""
    if ":" not in host:  # IPv4 or a name: the token endpoint's usual case, kept cheap
        return host
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
