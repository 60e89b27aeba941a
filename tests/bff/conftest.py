"""Fixtures for the gateway: an in-process proofkey with the gateway's confidential client,
a resource server's client and a user, all reachable through one ``Router``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from proofkey.flows.admin import register_client, register_user
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.app import create_app
from tests.bff.kit import API_HOST, APP, BFF_ID, PROVIDER_HOST, RS_ID, Api, Router, running
from tests.helpers import PASSWORD, USERNAME


@dataclass
class World:
    router: Router
    api: Api
    bff_secret: str


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    store = open_store(settings.effective_database_url)
    await store.migrate()
    now = int(time.time())
    scopes = settings.scopes_supported
    bff = await register_client(
        store, BFF_ID, client_type="confidential", redirect_uris=[f"{APP}/bff/callback",
                                                                  "https://two.example/bff/callback"],
        scopes=scopes, supported_scopes=scopes, name="SPA gateway",
        post_logout_redirect_uris=[f"{APP}/"], now=now)  # where /logout may send it back
    rs = await register_client(
        store, RS_ID, client_type="confidential", redirect_uris=[],
        grant_types=["client_credentials"], scopes=scopes, supported_scopes=scopes,
        resource_server=True, now=now)
    await register_user(store, USERNAME, PASSWORD, name="Alice", email="alice@example.com",
                        now=now)
    await store.close()
    assert bff.secret is not None
    assert rs.secret is not None
    router = Router()
    api = Api(router, rs.secret.reveal())
    provider = create_app(settings)
    router.add(PROVIDER_HOST, provider)
    router.add(API_HOST, api.app())
    async with running(provider):
        yield World(router, api, bff.secret.reveal())
