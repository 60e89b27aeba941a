"""Fetching client ID metadata documents (draft-ietf-oauth-client-id-metadata-document §4,
§6.5, §6.6) from a real https server on loopback with a private CA: what the fetcher refuses,
how the resolver checks the document, and how long it keeps it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proofkey.errors import InvalidClient
from proofkey.flows.client_metadata import CacheBounds, FetchFailed, MetadataResolver
from proofkey.protocol.client_id_document import check_client_id_url
from proofkey.web.metadata_fetcher import HttpsMetadataFetcher, Resolver, system_resolver
from tests.docserver import Answer, DocServer, running_docserver

SCOPES = ("openid", "profile", "email", "offline_access")


@pytest.fixture
def docs(tmp_path: Path) -> Iterator[DocServer]:
    yield from running_docserver(tmp_path)


def fetcher(docs: DocServer, *, allow_loopback: bool = True, read: float = 2.0,
            connect: float = 2.0, max_bytes: int = 5120, resolver: Resolver = system_resolver,
            context: ssl.SSLContext | None = None) -> HttpsMetadataFetcher:
    return HttpsMetadataFetcher(ssl_context=context or docs.client_context(),
                                connect_timeout=connect, read_timeout=read,
                                max_bytes=max_bytes, allow_loopback=allow_loopback,
                                resolver=resolver)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def resolver_for(docs: DocServer, clock: Clock, **bounds: int) -> MetadataResolver:
    return MetadataResolver(fetcher(docs), scopes_supported=SCOPES,
                            bounds=CacheBounds(**{"min_seconds": 60, "max_seconds": 3600,
                                                  "failure_seconds": 10, **bounds}),
                            clock=clock)


async def refusal(docs: DocServer, url: str, **kw: object) -> FetchFailed:
    with pytest.raises(FetchFailed) as failed:
        await fetcher(docs, **kw).fetch(check_client_id_url(url))  # type: ignore[arg-type]
    return failed.value


# -- the fetcher --------------------------------------------------------------------------

async def test_a_document_is_fetched_over_https_trusting_the_private_ca(
        docs: DocServer) -> None:
    url = docs.document("/client.json", headers={"Cache-Control": "max-age=120"})
    fetched = await fetcher(docs).fetch(check_client_id_url(url))
    assert b'"client_id"' in fetched.body
    assert fetched.lifetime == 120
    assert docs.host_headers == [f"localhost:{docs.port}"]


async def test_a_certificate_from_an_unknown_ca_is_refused(docs: DocServer) -> None:
    url = docs.document("/client.json")
    failed = await refusal(docs, url, context=ssl.create_default_context())
    assert failed.problem == "tls"


async def test_the_ca_in_ssl_cert_file_is_trusted(docs: DocServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(docs.ca_file))
    url = docs.document("/client.json")
    fetched = await fetcher(docs, context=ssl.create_default_context()).fetch(
        check_client_id_url(url))
    assert fetched.body


async def test_a_redirect_is_not_followed(docs: DocServer) -> None:
    target = docs.document("/real.json")
    docs.answers["/client.json"] = Answer(b"", status=302, headers={"Location": target})
    failed = await refusal(docs, docs.url("/client.json"))
    assert failed.problem == "redirect"
    assert docs.hits["/real.json"] == 0


async def test_only_a_200_is_a_document(docs: DocServer) -> None:
    docs.answers["/client.json"] = Answer(b"{}", status=203)
    assert (await refusal(docs, docs.url("/client.json"))).problem == "status"
    assert (await refusal(docs, docs.url("/missing.json"))).problem == "status"


@pytest.mark.parametrize("declare_length", [True, False])
async def test_a_document_over_the_size_cap_is_refused_while_streaming(
        docs: DocServer, declare_length: bool) -> None:
    docs.answers["/big.json"] = Answer(b"{" + b" " * 6000 + b"}",
                                       declare_length=declare_length)
    failed = await refusal(docs, docs.url("/big.json"), max_bytes=5120)
    assert failed.problem == "too_large"


async def test_a_compressed_answer_is_refused(docs: DocServer) -> None:
    docs.answers["/gz.json"] = Answer(b"\x1f\x8b", headers={"Content-Encoding": "gzip"})
    assert (await refusal(docs, docs.url("/gz.json"))).problem == "too_large"


async def test_a_slow_server_times_out(docs: DocServer) -> None:
    docs.answers["/slow.json"] = Answer(b"{}", delay=1.5)
    started = asyncio.get_running_loop().time()
    failed = await refusal(docs, docs.url("/slow.json"), read=0.3, connect=0.3)
    assert failed.problem == "timeout"
    assert asyncio.get_running_loop().time() - started < 1.2


async def test_a_server_dripping_bytes_cannot_stretch_the_deadline(docs: DocServer) -> None:
    docs.answers["/drip.json"] = Answer(b"{" + b" " * 40 + b"}", drip=0.1)
    started = asyncio.get_running_loop().time()
    failed = await refusal(docs, docs.url("/drip.json"), read=0.4, connect=0.4)
    assert failed.problem == "timeout"
    assert asyncio.get_running_loop().time() - started < 1.5


async def test_loopback_is_refused_unless_allowed_and_nothing_is_requested(
        docs: DocServer) -> None:
    url = docs.document("/client.json")
    for host_url in (url, docs.url("/client.json", host="127.0.0.1")):
        failed = await refusal(docs, host_url, allow_loopback=False)
        assert failed.problem == "address_refused"
    assert docs.hits["/client.json"] == 0


async def test_private_link_local_and_metadata_addresses_are_refused(docs: DocServer) -> None:
    for url in ("https://10.0.0.7/client.json", "https://169.254.169.254/latest/meta-data",
                "https://[fd00::1]/client.json", "https://192.168.0.1/client.json"):
        assert (await refusal(docs, url)).problem == "address_refused"


async def test_every_resolved_address_is_checked(docs: DocServer) -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.1"]

    failed = await refusal(docs, "https://mixed.example/client.json", resolver=mixed)
    assert failed.problem == "address_refused"


async def test_the_checked_address_is_the_one_connected_to_never_a_second_lookup(
        docs: DocServer) -> None:
    """docs.test exists only in this resolver: the fetch reaches the server although nothing
    else could resolve the name, and the certificate is verified for the name (SNI)."""
    lookups: list[str] = []

    async def pinned(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    url = docs.document("/client.json", host="docs.test")
    fetched = await fetcher(docs, resolver=pinned).fetch(check_client_id_url(url))
    assert fetched.body
    assert lookups == ["docs.test"]
    assert docs.host_headers == [f"docs.test:{docs.port}"]


async def test_a_name_that_does_not_resolve_is_a_dns_failure(docs: DocServer) -> None:
    async def nothing(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    failed = await refusal(docs, "https://nowhere.example/client.json", resolver=nothing)
    assert failed.problem == "dns"


# -- the resolver: checks on the document --------------------------------------------------

async def test_a_document_becomes_a_public_client_under_the_registration_policy(
        docs: DocServer) -> None:
    url = docs.document("/client.json", client_name="Tool")
    client = await resolver_for(docs, Clock()).resolve(url)
    assert client.client_id == url
    assert client.is_public
    assert client.token_endpoint_auth_method == "none"
    assert client.redirect_uris == ("http://127.0.0.1/callback",)
    assert client.scopes == {"openid", "profile"}
    assert client.name == "Tool"


@pytest.mark.parametrize(("members", "rule"), [
    ({"client_id": "https://other.example/client.json"}, "PKL071"),
    ({"token_endpoint_auth_method": "client_secret_basic"}, "PKL072"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "PKL072"),
    ({"client_secret": "s3cret"}, "PKL073"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "PKL012"),
    ({"grant_types": ["client_credentials"], "redirect_uris": []}, "PKL023"),
    ({"scope": "openid admin"}, "PKL058"),
    ({"redirect_uris": "http://127.0.0.1/cb"}, "PKL050"),
])
async def test_a_document_that_breaks_a_rule_is_refused_naming_it(
        docs: DocServer, members: dict[str, Any], rule: str) -> None:
    url = docs.document("/client.json", **members)
    with pytest.raises(InvalidClient) as refused:
        await resolver_for(docs, Clock()).resolve(url)
    assert f"[{rule}]" in refused.value.description, refused.value.description
    assert refused.value.detail == rule


async def test_a_document_that_is_not_json_is_refused(docs: DocServer) -> None:
    docs.answers["/client.json"] = Answer(b"<html>hello</html>")
    with pytest.raises(InvalidClient) as refused:
        await resolver_for(docs, Clock()).resolve(docs.url("/client.json"))
    assert refused.value.detail == "fetch:not_json"


async def test_an_http_client_id_is_refused_without_a_fetch(docs: DocServer) -> None:
    with pytest.raises(InvalidClient) as refused:
        await resolver_for(docs, Clock()).resolve(f"http://localhost:{docs.port}/client.json")
    assert refused.value.detail == "PKL070"
    assert "https" in refused.value.description
    assert sum(docs.hits.values()) == 0


# -- the resolver: caching ----------------------------------------------------------------

async def test_max_age_is_honoured(docs: DocServer) -> None:
    clock = Clock()
    url = docs.document("/client.json", headers={"Cache-Control": "max-age=600"})
    resolver = resolver_for(docs, clock)
    await resolver.resolve(url)
    clock.now += 599
    await resolver.resolve(url)
    assert docs.hits["/client.json"] == 1
    clock.now += 2
    await resolver.resolve(url)
    assert docs.hits["/client.json"] == 2


@pytest.mark.parametrize(("headers", "kept", "refetched"), [
    ({"Cache-Control": "max-age=99999999"}, 3599, 3601),  # clamped to the maximum
    ({"Cache-Control": "max-age=1"}, 59, 61),  # clamped to the minimum
    ({"Cache-Control": "no-store"}, 59, 61),  # kept for the minimum, never less
    ({}, 59, 61),  # no caching headers: the minimum
    ({"Expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, 3599, 3601),
])
async def test_the_lifetime_is_clamped_to_the_bounds(
        docs: DocServer, headers: dict[str, str], kept: int, refetched: int) -> None:
    clock = Clock()
    url = docs.document("/client.json", headers=headers)
    resolver = resolver_for(docs, clock)
    await resolver.resolve(url)
    clock.now += kept
    await resolver.resolve(url)
    assert docs.hits["/client.json"] == 1
    clock.now += refetched - kept
    await resolver.resolve(url)
    assert docs.hits["/client.json"] == 2


async def test_a_failure_is_remembered_briefly_then_fetched_again(docs: DocServer) -> None:
    clock = Clock()
    resolver = resolver_for(docs, clock, failure_seconds=10)
    url = docs.url("/client.json")
    for _ in range(5):
        with pytest.raises(InvalidClient):
            await resolver.resolve(url)
    assert docs.hits["/client.json"] == 1
    docs.document("/client.json")  # fixed meanwhile
    clock.now += 11
    assert (await resolver.resolve(url)).client_id == url
    assert docs.hits["/client.json"] == 2


async def test_with_no_failure_cache_every_lookup_fetches(docs: DocServer) -> None:
    resolver = resolver_for(docs, Clock(), failure_seconds=0)
    for _ in range(2):
        with pytest.raises(InvalidClient):
            await resolver.resolve(docs.url("/client.json"))
    assert docs.hits["/client.json"] == 2


async def test_concurrent_lookups_of_one_url_share_one_fetch(docs: DocServer) -> None:
    url = docs.document("/client.json")
    docs.answers["/client.json"].delay = 0.3
    resolver = resolver_for(docs, Clock())
    clients = await asyncio.gather(*(resolver.resolve(url) for _ in range(20)))
    assert {c.client_id for c in clients} == {url}
    assert docs.hits["/client.json"] == 1


async def test_the_cache_holds_a_bounded_number_of_documents(docs: DocServer) -> None:
    resolver = resolver_for(docs, Clock(), max_entries=2)
    urls = [docs.document(f"/c{i}.json") for i in range(3)]
    for url in urls:
        await resolver.resolve(url)
    await resolver.resolve(urls[2])
    await resolver.resolve(urls[0])  # evicted as the least recently used: fetched again
    assert [docs.hits[f"/c{i}.json"] for i in range(3)] == [2, 1, 1]
