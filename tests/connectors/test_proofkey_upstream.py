"""A second proofkey as the upstream, added with ``proofkey connector add`` (its secret from
standard input, stored sealed): an SPA's full flow through it, the CLI's list/show (never
the secret), and a removed connector whose users can no longer sign in through it."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import httpx
import pytest

from proofkey.settings import Settings
from tests.connectors.conftest import (
    BROKER_ID,
    PK2_PASSWORD,
    PK2_USER,
    SPA_ID,
    SPA_REDIRECT,
    consent_if_asked,
    local,
    upstream_browser,
)
from tests.helpers import ISSUER, authorize_params, exchange, new_flow, query_of
from tests.process.conftest import clean_env, run_cli

pytestmark = pytest.mark.interop


def cli(settings: Settings, *args: str, stdin: str | None = None) -> str:
    env = clean_env(settings.data_dir, issuer=ISSUER)
    done = run_cli(list(args), env, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def sign_in_through_pk2(http: httpx.AsyncClient) -> httpx.Response:
    flow = new_flow(SPA_ID, SPA_REDIRECT)
    response = await http.get("/authorize", params=authorize_params(flow, idp_hint="pk2"))
    hop = await http.get(response.headers["location"])
    assert hop.status_code == 303, hop.text
    return hop


async def test_an_spa_signs_in_through_a_second_proofkey_added_by_the_cli(
        browser: httpx.AsyncClient, settings: Settings,
        proofkey_upstream: tuple[str, str]) -> None:
    upstream, secret = proofkey_upstream
    added = cli(settings, "connector", "add", "pk2", "--issuer", upstream, "--client-id",
                BROKER_ID, "--client-secret-stdin", stdin=secret + "\n")
    assert f"{ISSUER}/connectors/pk2/callback" in added
    shown = json.loads(cli(settings, "connector", "show", "pk2", "--json"))
    assert shown["has_secret"] is True
    assert secret not in json.dumps(shown)
    # Not by reading the file: closing a descriptor of a live SQLite file in this process
    # would drop the server's POSIX locks on it. Through SQLite, which tracks them.
    with contextlib.closing(sqlite3.connect(settings.data_dir / "proofkey.db")) as db:
        rows = repr(db.execute("SELECT * FROM connectors").fetchall())
    assert "pk2" in rows
    assert secret not in rows
    listed = json.loads(cli(settings, "connector", "list", "--json"))
    assert [c["name"] for c in listed] == ["pk2"]

    flow = new_flow(SPA_ID, SPA_REDIRECT)
    response = await browser.get("/authorize", params=authorize_params(flow, idp_hint="pk2"))
    hop = await browser.get(response.headers["location"])
    assert hop.headers["location"].startswith(upstream)
    back = upstream_browser(hop.headers["location"],
                            {"username": PK2_USER, "password": PK2_PASSWORD})
    assert query_of(back)["iss"] == upstream
    final = await consent_if_asked(browser, await browser.get(local(back)))
    answer = query_of(final)
    assert final.startswith(SPA_REDIRECT)
    assert answer["state"] == flow.state
    tokens = (await exchange(browser, flow, answer["code"])).json()
    info = (await browser.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"})).json()
    assert info["preferred_username"].startswith("pk2:")



async def test_a_removed_connector_is_refused_at_the_start(
        browser: httpx.AsyncClient, settings: Settings,
        proofkey_upstream: tuple[str, str]) -> None:
    upstream, secret = proofkey_upstream
    cli(settings, "connector", "add", "pk2", "--issuer", upstream, "--client-id", BROKER_ID,
        "--client-secret-stdin", stdin=secret + "\n")
    assert (await sign_in_through_pk2(browser)).headers["location"].startswith(upstream)
    assert "removed connector pk2" in cli(settings, "connector", "remove", "pk2")
    refused = await sign_in_through_pk2(browser)
    assert refused.headers["location"].startswith(SPA_REDIRECT)
    assert query_of(refused.headers["location"])["error"] == "invalid_request"


async def test_a_callback_for_a_connector_removed_meanwhile_is_refused(
        browser: httpx.AsyncClient, settings: Settings,
        proofkey_upstream: tuple[str, str]) -> None:
    upstream, secret = proofkey_upstream
    cli(settings, "connector", "add", "pk2", "--issuer", upstream, "--client-id", BROKER_ID,
        "--client-secret-stdin", stdin=secret + "\n")
    hop = await sign_in_through_pk2(browser)
    back = upstream_browser(hop.headers["location"],
                            {"username": PK2_USER, "password": PK2_PASSWORD})
    cli(settings, "connector", "remove", "pk2")
    response = await browser.get(local(back))
    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "access_denied"
