"""A connector marked ``legacy`` (its upstream does not advertise PKCE S256) is flagged by
``proofkey lint --from-db`` (rule PKL090, TOML and database connectors) and by the status page."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx

from proofkey.observability.events import EventBus
from proofkey.settings import load_settings
from proofkey.web.app import create_app
from tests.helpers import ISSUER
from tests.process.conftest import clean_env, run_cli

TOML_LEGACY = json.dumps([{"name": "oldcorp", "issuer": "https://old.test", "client_id": "c",
                           "legacy": True},
                          {"name": "newcorp", "issuer": "https://new.test", "client_id": "c"}])


def test_lint_flags_legacy_connectors_from_the_settings_and_the_store(tmp_path: Path) -> None:
    env = clean_env(tmp_path, issuer=ISSUER, connectors=TOML_LEGACY)
    added = run_cli(["connector", "add", "stored", "--issuer", "https://stored.test",
                     "--client-id", "c", "--legacy"], env)
    assert added.returncode == 0, added.stderr
    run_cli(["connector", "add", "fine", "--issuer", "https://fine.test", "--client-id", "c"],
            env)
    linted = run_cli(["lint", "--from-db", "--format", "json"], env)
    flagged = {(i["client"], i["source"]) for i in json.loads(linted.stdout)["issues"]
               if i["rule"] == "PKL090"}
    assert flagged == {("connector oldcorp", "settings"), ("connector stored", "store")}


async def test_the_status_page_flags_legacy_connectors(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    settings = load_settings({"data_dir": str(tmp_path), "issuer": ISSUER, "demo": False,
                              "admin_token": token, "connectors": json.loads(TOML_LEGACY)},
                             environ={})
    app = create_app(settings, bus=EventBus())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
        page = await http.get("/status", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert 'id="legacy-connectors"' in page.text
    assert "oldcorp" in page.text
    assert "newcorp" not in page.text


async def test_with_password_login_off_the_login_page_offers_only_connectors(
        tmp_path: Path) -> None:
    from proofkey.flows.admin import register_client, register_user
    from proofkey.store import open_store
    from tests.helpers import (
        PASSWORD,
        PUBLIC_ID,
        PUBLIC_REDIRECT,
        USERNAME,
        action_of,
        authorize_params,
        new_flow,
    )

    settings = load_settings({"data_dir": str(tmp_path), "issuer": ISSUER, "demo": False,
                              "password_login": False, "connectors": json.loads(TOML_LEGACY)},
                             environ={})
    store = open_store(settings.effective_database_url)
    await store.migrate()
    scopes = settings.scopes_supported
    await register_client(store, PUBLIC_ID, client_type="public", redirect_uris=[PUBLIC_REDIRECT],
                          scopes=scopes, supported_scopes=scopes, now=0)
    await register_user(store, USERNAME, PASSWORD, now=0)
    await store.close()
    app = create_app(settings, bus=EventBus())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
        start = await http.get("/authorize", params=authorize_params(new_flow()))
        page = await http.get(start.headers["location"])
        assert 'name="password"' not in page.text
        assert f'{start.headers["location"]}/connectors/oldcorp"' in page.text
        account = await http.get("/account")
        refused = await http.post(action_of(account.text), data={
            "csrf": account.text.split('name="csrf" value="')[1].split('"')[0],
            "username": USERNAME, "password": PASSWORD})
        assert refused.status_code == 403
        assert "pk_session" not in refused.cookies
