"""The concrete ``MetadataFetcher``: GET a client ID metadata document over https, under the
SSRF rules of draft-ietf-oauth-client-id-metadata-document §6.5 and §6.6. The same fetcher,
with its own size cap, gets private_key_jwt clients' ``jwks_uri`` key sets
(``flows.client_keys.KeySetFetcher``): another URL a client chooses and the server fetches.

* https only (the URL was checked by ``protocol.client_id_document``); no redirect is followed
  (§4: "MUST NOT automatically follow HTTP redirects"); only a 200 is a document.
* The host is resolved here and EVERY address it resolves to must be public unicast
  (``address_allowed``; loopback only with ``PROOFKEY_CLIENT_METADATA_ALLOW_LOOPBACK``). The
  connection then goes to a checked address, with the host name kept for SNI, certificate
  verification and the Host header: a second resolution (DNS rebinding between check and
  connect) cannot send the request elsewhere.
* Connect and read timeouts, plus an overall deadline (connect + read) that a server dripping
  bytes cannot stretch; at most ``max_bytes`` are read, streaming, with no content coding
  (``Accept-Encoding: identity``; a compressed answer is refused, so no decompression bomb).
* Certificates are verified against the system CA store, which honours ``SSL_CERT_FILE`` and
  ``SSL_CERT_DIR`` (private CAs); proxies from the environment are NOT used (a proxy would
  connect to addresses this module never checked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from proofkey.flows.client_metadata import Fetched, FetchFailed
from proofkey.protocol.client_id_document import (
    ClientIdUrl,
    IPAddress,
    address_allowed,
    cache_lifetime,
)

__all__ = ["HttpsMetadataFetcher", "Resolver", "system_resolver"]

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, by the system's resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_tls(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "SSL" in str(error) or "certificate" in str(error)


class HttpsMetadataFetcher:
    """Fetches documents with a fresh connection each time (they are cached, so rare)."""

    def __init__(self, *, ssl_context: ssl.SSLContext, connect_timeout: float,
                 read_timeout: float, max_bytes: int, allow_loopback: bool,
                 resolver: Resolver = system_resolver, accept: str = "application/json") -> None:
        self._ssl = ssl_context
        self._timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout,
                                      write=read_timeout, pool=connect_timeout)
        self._deadline = connect_timeout + read_timeout
        self._max_bytes = max_bytes
        self._allow_loopback = allow_loopback
        self._resolver = resolver
        self._accept = accept

    async def fetch(self, url: ClientIdUrl) -> Fetched:
        try:
            async with asyncio.timeout(self._deadline):
                addresses = await self._addresses(url)
                return await self._first_answer(url, addresses)
        except TimeoutError:
            raise FetchFailed("timeout", "the server took too long to answer") from None

    async def _addresses(self, url: ClientIdUrl) -> list[IPAddress]:
        try:
            literal: IPAddress | None = ipaddress.ip_address(url.host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            try:
                found = [ipaddress.ip_address(a.split("%", 1)[0])
                         for a in await self._resolver(url.host, url.port)]
            except (OSError, UnicodeError, ValueError):
                found = []
            if not found:
                raise FetchFailed("dns", "the host name does not resolve")
        if not all(address_allowed(a, allow_loopback=self._allow_loopback) for a in found):
            raise FetchFailed("address_refused", "the host resolves to an address that is "
                              "not public (loopback, private, link-local or reserved)")
        return found

    async def _first_answer(self, url: ClientIdUrl, addresses: list[IPAddress]) -> Fetched:
        failure = FetchFailed("connect", "no connection to the host")
        for address in addresses:
            try:
                return await self._get(url, address)
            except httpx.ConnectTimeout:
                failure = FetchFailed("timeout", "connecting to the host timed out")
            except httpx.ConnectError as error:
                if _is_tls(error):
                    raise FetchFailed("tls", "the TLS handshake or the certificate check "
                                      "failed") from None
                failure = FetchFailed("connect", "no connection to the host")
        raise failure

    async def _get(self, url: ClientIdUrl, address: IPAddress) -> Fetched:
        host = f"[{address}]" if address.version == 6 else str(address)
        async with httpx.AsyncClient(verify=self._ssl, trust_env=False, follow_redirects=False,
                                     timeout=self._timeout) as client:
            request = client.build_request(
                "GET", f"https://{host}:{url.port}{url.target}",
                headers={"Host": urlsplit(url.url).netloc, "Accept": self._accept,
                         "Accept-Encoding": "identity"},
                extensions={"sni_hostname": url.host})
            try:
                response = await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                raise  # the caller tries the next address
            except httpx.TimeoutException:
                raise FetchFailed("timeout", "the server took too long to answer") from None
            except httpx.HTTPError:
                raise FetchFailed("connect", "the server's answer was not valid HTTP") \
                    from None
            try:
                return await self._read(response)
            except httpx.TimeoutException:
                raise FetchFailed("timeout", "the server took too long to answer") from None
            except httpx.HTTPError:
                raise FetchFailed("connect", "the connection failed while reading") from None
            finally:
                await response.aclose()

    async def _read(self, response: httpx.Response) -> Fetched:
        if 300 <= response.status_code < 400:
            raise FetchFailed("redirect", f"the server answered {response.status_code} "
                              "(redirects are not followed)")
        if response.status_code != 200:
            raise FetchFailed("status", f"the server answered {response.status_code}, not 200")
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            raise FetchFailed("too_large", "the document must be sent without content coding")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise FetchFailed("too_large", f"the document is larger than {self._max_bytes} "
                              "bytes")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self._max_bytes:
                raise FetchFailed("too_large", f"the document is larger than "
                                  f"{self._max_bytes} bytes")
        lifetime = cache_lifetime(response.headers.get("cache-control"),
                                  response.headers.get("expires"),
                                  response.headers.get("date"),
                                  time.time())
        return Fetched(bytes(body), lifetime)
