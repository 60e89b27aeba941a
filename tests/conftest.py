"""Fixtures: the real app with its lifespan, on a fresh store, driven over HTTP.

The store is SQLite unless a directory's conftest parametrises ``store_backend`` (the
protocol suites in tests/http and tests/sdk run on both SQLite and PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from proofkey.flows.admin import register_client, register_user
from proofkey.models import Secret
from proofkey.observability.events import Event, EventBus
from proofkey.settings import Settings, load_settings
from proofkey.store import open_store
from proofkey.web.app import create_app
from tests.helpers import (
    ISSUER,
    PASSWORD,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    USERNAME,
    WEB_ID,
    WEB_REDIRECT,
    TestClock,
)
from tests.pg import fresh_schema


class Recorder:
    """Collects the domain events an app emits."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def store_backend() -> str:
    return "sqlite"


@pytest.fixture
async def database_url(store_backend: str) -> AsyncIterator[str]:
    """Empty for the default SQLite file in the data dir; a fresh schema on PostgreSQL."""
    if store_backend == "sqlite":
        yield ""
        return
    async with fresh_schema() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, settings_overrides: dict[str, object],
             database_url: str) -> Settings:
    values: dict[str, object] = {"data_dir": str(tmp_path), "issuer": ISSUER, "demo": False,
                                 "login_failures_per_user": 5, "database_url": database_url}
    values.update(settings_overrides)
    return load_settings(values, environ={})


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
async def seeded(settings: Settings) -> Secret:
    """Register the test clients and user; return the confidential client's secret."""
    store = open_store(settings.effective_database_url)
    await store.migrate()
    now = int(time.time())
    scopes = settings.scopes_supported
    await register_client(store, PUBLIC_ID, client_type="public",
                          redirect_uris=[PUBLIC_REDIRECT, "com.example.app:/cb"],
                          scopes=scopes, supported_scopes=scopes, name="Native App", now=now)
    web = await register_client(
        store, WEB_ID, client_type="confidential", redirect_uris=[WEB_REDIRECT],
        scopes=scopes, supported_scopes=scopes,
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        name="Web App", now=now)
    await register_client(
        store, "post-app", client_type="confidential", redirect_uris=[WEB_REDIRECT],
        scopes=scopes, supported_scopes=scopes, auth_method="client_secret_post", now=now)
    await register_user(store, USERNAME, PASSWORD, name="Alice", email="alice@example.com",
                        now=now)
    await store.close()
    assert web.secret is not None
    return web.secret


@pytest.fixture
async def http(settings: Settings, seeded: Secret, events: Recorder) -> AsyncIterator[
        httpx.AsyncClient]:
    bus = EventBus()
    bus.subscribe(events)
    app = create_app(settings, bus=bus, clock=TestClock())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            yield client


@pytest.fixture
def web_secret(seeded: Secret) -> str:
    return seeded.reveal()


@pytest.fixture
def artifacts() -> Path:
    path = Path(__file__).parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
