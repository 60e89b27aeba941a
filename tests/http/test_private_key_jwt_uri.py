"""private_key_jwt clients whose keys live at their ``jwks_uri`` (RFC 7591 §2), over HTTP
against the real app: the server fetches the JWK Set from a real https server on loopback (its
private CA trusted through SSL_CERT_FILE), keeps it, and refetches it when an assertion names a
key it does not hold — at most once per interval, so made-up kids cost one fetch."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from proofkey.flows.client_keys import ClientKeySets
from proofkey.models import Client, Secret
from proofkey.protocol.client_assertion import AssertionRefused
from proofkey.settings import Settings
from proofkey.web.app import create_app
from proofkey.web.metadata_fetcher import HttpsMetadataFetcher
from tests.docserver import Answer, DocServer, running_docserver
from tests.helpers import ISSUER, TestClock
from tests.http.test_token_code_grant import app_services, assert_oauth_error, register
from tests.pkjwt import assertion, auth_form, es_key, jwks_of, rs_key

CLIENT_ID = "pk-uri"
PATH = "/keys/jwks.json"
KEY_A, KEY_B = es_key("a"), rs_key("b")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"client_metadata_allow_loopback": True}


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DocServer]:
    for server in running_docserver(tmp_path):
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # the private CA
        yield server


def serve(docs: DocServer, *keys: object, headers: dict[str, str] | None = None) -> None:
    docs.answers[PATH] = Answer(json.dumps(jwks_of(*keys)).encode(),  # type: ignore[arg-type]
                                headers={"Content-Type": "application/jwk-set+json",
                                         **(headers or {})})


@pytest.fixture
async def http(settings: Settings, seeded: Secret, docs: DocServer) -> AsyncIterator[
        httpx.AsyncClient]:
    serve(docs, KEY_A)
    await register(settings, CLIENT_ID, jwks_uri=docs.url(PATH),
                   grant_types=["client_credentials"], redirect_uris=[])
    app = create_app(settings, clock=TestClock())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER) as client:
        yield client


async def token_with(http: httpx.AsyncClient, key: object, **options: object) -> httpx.Response:
    signed = assertion(key, CLIENT_ID, now=app_services(http).ctx.now(),  # type: ignore[arg-type]
                       **options)
    return await http.post("/token", data={"grant_type": "client_credentials",
                                           **auth_form(signed)})


def advance(http: httpx.AsyncClient, seconds: float) -> None:
    clock = app_services(http).ctx.clock
    assert isinstance(clock, TestClock)
    clock.advance(seconds)


async def test_the_key_set_is_fetched_once_and_kept(http: httpx.AsyncClient,
                                                    docs: DocServer) -> None:
    for _ in range(3):
        response = await token_with(http, KEY_A)
        assert response.status_code == 200, response.text
    assert docs.hits[PATH] == 1


async def test_a_rotated_key_is_found_by_refetching_at_most_once_per_interval(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    assert (await token_with(http, KEY_A)).status_code == 200
    serve(docs, KEY_B)  # the client rotates: only the new key is published
    # Within the refresh interval of the last fetch, an unknown kid fetches nothing.
    early = await token_with(http, KEY_B)
    assert_oauth_error(early, "invalid_client", status=401)
    assert docs.hits[PATH] == 1
    advance(http, 31)
    response = await token_with(http, KEY_B)
    assert response.status_code == 200, response.text
    assert docs.hits[PATH] == 2
    # The old key is gone from the set: refused, and no further fetch for it yet.
    stale = await token_with(http, KEY_A)
    assert_oauth_error(stale, "invalid_client", status=401)
    assert docs.hits[PATH] == 2


async def test_made_up_kids_cost_one_fetch_per_interval(http: httpx.AsyncClient,
                                                        docs: DocServer) -> None:
    assert (await token_with(http, KEY_A)).status_code == 200
    advance(http, 31)
    for n in range(6):
        response = await token_with(http, KEY_A, kid=f"made-up-{n}")
        assert_oauth_error(response, "invalid_client", status=401)
    assert docs.hits[PATH] == 2


async def test_the_caching_headers_bound_how_long_the_set_is_kept(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    serve(docs, KEY_A, headers={"Cache-Control": "max-age=120"})
    assert (await token_with(http, KEY_A)).status_code == 200
    advance(http, 100)
    assert (await token_with(http, KEY_A)).status_code == 200
    assert docs.hits[PATH] == 1
    advance(http, 30)  # 130 s: stale, fetched again
    assert (await token_with(http, KEY_A)).status_code == 200
    assert docs.hits[PATH] == 2


async def test_an_unreachable_key_set_is_invalid_client_and_not_fetched_per_request(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    docs.answers[PATH] = Answer(b"gone", status=404)
    for _ in range(3):
        response = await token_with(http, KEY_A)
        body = assert_oauth_error(response, "invalid_client", status=401)
        assert "could not be fetched" in body["error_description"]
    assert docs.hits[PATH] == 1


async def test_keys_fetched_before_stay_in_use_when_a_refetch_fails(
        http: httpx.AsyncClient, docs: DocServer) -> None:
    assert (await token_with(http, KEY_A)).status_code == 200
    docs.answers[PATH] = Answer(b"", status=503)
    advance(http, 3601)  # past the longest a set is kept
    response = await token_with(http, KEY_A)
    assert response.status_code == 200, response.text
    assert docs.hits[PATH] == 2


async def test_a_private_key_in_the_fetched_set_is_never_used(http: httpx.AsyncClient,
                                                              docs: DocServer) -> None:
    docs.answers[PATH] = Answer(json.dumps(
        {"keys": [KEY_A.as_dict(private=True)]}).encode())
    response = await token_with(http, KEY_A)
    assert_oauth_error(response, "invalid_client", status=401)


async def test_a_loopback_key_set_is_not_fetched_unless_loopback_is_allowed(
        docs: DocServer) -> None:
    serve(docs, KEY_A)
    fetcher = HttpsMetadataFetcher(ssl_context=docs.client_context(), connect_timeout=2,
                                   read_timeout=2, max_bytes=65536, allow_loopback=False)
    keys = ClientKeySets(fetcher, clock=time.time)
    client = Client(client_id="c", client_type="confidential", redirect_uris=(),
                    scopes=frozenset(), grant_types=frozenset({"client_credentials"}),
                    token_endpoint_auth_method="private_key_jwt", jwks_uri=docs.url(PATH))
    with pytest.raises(AssertionRefused) as refused:
        await keys.keys(client)
    assert refused.value.reason == "keys_unavailable"
    assert docs.hits[PATH] == 0
