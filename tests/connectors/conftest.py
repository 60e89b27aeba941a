"""Connector tests: proofkey (in-process, its real app and lifespan) signs users in through real
upstream providers — node-oidc-provider 9 and a second ``proofkey serve`` — which the test
plays the browser at. The upstreams reach nothing of ours: only the browser goes between them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from proofkey.flows.admin import register_client
from proofkey.settings import Settings
from proofkey.store import open_store
from tests.helpers import ISSUER, action_of, csrf_of, query_of
from tests.interop.conftest import (
    NodeOidcProvider,
    ensure_node_packages,
    start_node_oidc_provider,
)
from tests.process.conftest import free_port, running_server, seed

BROKER_ID = "proofkey-broker"
# Begins with "-" on purpose: token_urlsafe does so 1 time in 64, which node's parseArgs
# refuses unless the value is passed as --web-client-secret=VALUE.
BROKER_SECRET = "-" + secrets.token_urlsafe(32)
SPA_ID = "spa"
SPA_REDIRECT = "https://spa.example/callback"
PK2_USER, PK2_PASSWORD = "grace", "cobol compiler 1959"


@pytest.fixture(scope="module")
def node_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOidcProvider]:
    running = start_node_oidc_provider(
        ensure_node_packages(), tmp_path_factory.mktemp("node-upstream"),
        extra_args=["--web-client-id", BROKER_ID, f"--web-client-secret={BROKER_SECRET}",
                    "--web-redirect-uri", f"{ISSUER}/connectors/node/callback"])
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def proofkey_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A second proofkey as an upstream: (its issuer, the broker's client secret there)."""
    data_dir = tmp_path_factory.mktemp("pk2") / "data"
    made = seed(data_dir, confidential_clients={BROKER_ID: [f"{ISSUER}/connectors/pk2/callback"]},
                users={PK2_USER: PK2_PASSWORD})
    with running_server(data_dir) as server:
        yield server.base_url, made[BROKER_ID]


@pytest.fixture
def settings_overrides(node_upstream: NodeOidcProvider,
                       monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setenv("TEST_NODE_SECRET", BROKER_SECRET)
    closed = f"http://127.0.0.1:{free_port()}"
    return {"connectors": [
        {"name": "node", "issuer": node_upstream.issuer, "client_id": BROKER_ID,
         "client_secret_env": "TEST_NODE_SECRET"},
        # the same upstream under another name: where a mix-up would send A's answer
        {"name": "decoy", "issuer": node_upstream.issuer, "client_id": BROKER_ID,
         "client_secret_env": "TEST_NODE_SECRET"},
        {"name": "down", "issuer": closed, "client_id": BROKER_ID},
    ]}


@pytest.fixture
async def spa(settings: Settings, seeded: object) -> None:
    store = open_store(settings.effective_database_url)
    await store.migrate()
    scopes = settings.scopes_supported
    await register_client(store, SPA_ID, client_type="public", redirect_uris=[SPA_REDIRECT],
                          scopes=scopes, supported_scopes=scopes, name="SPA",
                          now=int(time.time()))
    await store.close()


@pytest.fixture
async def browser(http: httpx.AsyncClient, spa: None) -> AsyncIterator[httpx.AsyncClient]:
    return http


def local(url: str) -> str:
    """A URL at our in-process issuer as the path the ASGI client asks for."""
    assert url.startswith(ISSUER) or url.startswith("/"), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def consent_if_asked(http: httpx.AsyncClient, response: httpx.Response) -> str:
    """Follow our pages after the upstream: the consent page if one comes; the final URL."""
    location = response.headers["location"]
    if location.startswith("/interaction/"):
        page = await http.get(location)
        assert 'name="decision"' in page.text, page.text
        response = await http.post(action_of(page.text), data={
            "csrf": csrf_of(page.text), "decision": "allow"})
        assert response.status_code == 303, response.text
        location = response.headers["location"]
    return location


def upstream_browser(url: str, fill: dict[str, str], decision: str = "allow") -> str:
    """Play the person at an upstream's own pages (node-oidc-provider's or proofkey's); return
    the URL the upstream finally sends the browser to (our callback)."""
    with httpx.Client(timeout=10) as browser:
        response = browser.get(url)
        for _ in range(10):
            if response.status_code not in (302, 303):
                raise AssertionError(f"{response.status_code} at {response.url}: {response.text}")
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(ISSUER):
                return location
            page = browser.get(location)
            if page.status_code in (302, 303):
                response = page
                continue
            assert page.status_code == 200, page.text
            form: dict[str, str] = {}
            if 'name="csrf"' in page.text:
                form["csrf"] = csrf_of(page.text)
            form.update(fill if 'name="password"' in page.text else {"decision": decision})
            response = browser.post(urljoin(location, action_of(page.text)), data=form)
    raise AssertionError("the upstream never sent the browser back")


__all__ = ["BROKER_ID", "PK2_PASSWORD", "PK2_USER", "SPA_ID", "SPA_REDIRECT", "Path",
           "consent_if_asked", "local", "query_of", "upstream_browser"]
