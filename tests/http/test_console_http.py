"""The operator console over HTTP: every page no-store, a strict CSP without framing, the login
redirect for a stranger, 403 for a user without the admin role, CSRF on every form, and the
pages' data (catalog with posture, findings and the day's exchange rates; users; sessions;
keys; audit) on both stores."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from proofkey.flows.admin import register_client, register_user
from proofkey.flows.console_audit import read_audit
from proofkey.models import Secret
from proofkey.observability.events import AdminChange, EventBus
from proofkey.settings import Settings
from proofkey.store import open_store
from proofkey.web.app import create_app
from proofkey.web.console.common import ADMIN_COOKIE
from tests.conftest import Recorder
from tests.fapi2_keys import public_jwks
from tests.helpers import (
    ISSUER,
    PASSWORD,
    PUBLIC_ID,
    USERNAME,
    TestClock,
    csrf_of,
    exchange,
    get_code,
    new_flow,
)
from tests.process.conftest import free_port

ADMIN, ADMIN_PASSWORD = "root", "operator password 1"
PAGES = ("/admin/clients", "/admin/users", "/admin/sessions", "/admin/keys", "/admin/audit")


@pytest.fixture
async def seeded(seeded: Secret, settings: Settings) -> Secret:
    """The shared clients and user, an administrator, and a client with a lint finding."""
    store = open_store(settings.effective_database_url)
    await store.migrate()
    now = int(time.time())
    await register_user(store, ADMIN, ADMIN_PASSWORD, now=now)
    assert await store.set_role(ADMIN, "admin")
    scopes = settings.scopes_supported
    await register_client(store, "origin-app", client_type="public",
                          redirect_uris=["https://origin.example.com"], scopes=scopes,
                          supported_scopes=scopes, require_par=True,
                          reject_reused_challenge=True, now=now)
    await store.close()
    return seeded


async def sign_in(http: httpx.AsyncClient, username: str = ADMIN,
                  password: str = ADMIN_PASSWORD) -> httpx.Response:
    form = await http.get("/admin/login")
    return await http.post("/admin/login", data={"csrf": csrf_of(form.text),
                                                 "username": username, "password": password})


def assert_console_headers(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert "script-src" not in csp
    assert "unsafe-inline" not in csp
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_a_stranger_is_sent_to_the_login_page(http: httpx.AsyncClient) -> None:
    for path in ("/admin", *PAGES):
        response = await http.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/admin/login"
        assert response.headers["cache-control"] == "no-store"
    response = await http.post("/admin/sessions/end", data={"csrf": "x"})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"


async def test_the_login_page_is_no_store_unframeable_and_strict(
        http: httpx.AsyncClient) -> None:
    response = await http.get("/admin/login")
    assert response.status_code == 200
    assert_console_headers(response)
    assert "<script" not in response.text
    assert "style=" not in response.text


async def test_a_user_without_the_admin_role_is_refused_with_403(
        http: httpx.AsyncClient) -> None:
    response = await sign_in(http, USERNAME, PASSWORD)
    assert response.status_code == 403
    assert "no admin role" in response.text
    assert_console_headers(response)
    assert not [c for c in response.headers.get_list("set-cookie")
                if c.startswith(f"{ADMIN_COOKIE}=")]
    assert (await http.get("/admin/clients")).status_code == 303


async def test_a_wrong_password_is_401(http: httpx.AsyncClient) -> None:
    response = await sign_in(http, ADMIN, "not the password")
    assert response.status_code == 401
    assert "Incorrect username or password." in response.text


async def test_the_login_form_without_csrf_is_refused(http: httpx.AsyncClient) -> None:
    await http.get("/admin/login")
    response = await http.post("/admin/login", data={"username": ADMIN,
                                                     "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert "form has expired" in response.text
    assert (await http.get("/admin/clients")).status_code == 303


async def test_an_admin_signs_in_with_a_strict_cookie_and_every_page_is_no_store(
        http: httpx.AsyncClient) -> None:
    response = await sign_in(http)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/clients"
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith(f"{ADMIN_COOKIE}="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/admin"} <= attributes
    for path in PAGES:
        page = await http.get(path)
        assert page.status_code == 200, path
        assert_console_headers(page)
        assert 'id="console-admin">root<' in page.text


async def test_the_catalog_shows_posture_findings_share_and_the_days_rates(
        http: httpx.AsyncClient) -> None:
    flow = new_flow()
    good = await exchange(http, flow, await get_code(http, flow))
    assert good.status_code == 200
    flow = new_flow()
    bad = await exchange(http, flow, await get_code(http, flow), code_verifier="x" * 43)
    assert bad.status_code == 400
    await sign_in(http)
    page = (await http.get("/admin/clients")).text
    row = page.split(f"<code>{PUBLIC_ID}</code>", 1)[1].split("</tr>", 1)[0]
    assert "success 50.0 %" in row
    assert "verifier mismatch 50.0 %" in row
    assert "kind-loopback" in row
    assert "kind-custom-scheme" in row
    local = page.split("<code>origin-app</code>", 1)[1].split("</tr>", 1)[0]
    assert "PKL011" in local
    assert "warning" in local
    assert "PAR required" in local
    assert "Reused challenge rejected" in local
    assert "PAR optional" in row
    web = page.split("<code>web-app</code>", 1)[1].split("</tr>", 1)[0]
    assert "kind-https" in web
    assert "client_secret_basic" in web
    share = page.split('id="client-share"', 1)[1].split("</dl>", 1)[0]
    assert "<dd>4</dd>" in share  # native, web, post and origin apps
    assert "<dd>2 (50 %)</dd>" in share  # 2 public, 2 confidential


async def test_the_catalog_shows_keys_dpop_profile_and_their_findings(
        http: httpx.AsyncClient, settings: Settings) -> None:
    store = open_store(settings.effective_database_url)
    now, scopes = int(time.time()), settings.scopes_supported
    try:
        await register_client(
            store, "bank", client_type="confidential", redirect_uris=["https://bank.example/cb"],
            scopes=scopes, supported_scopes=scopes, grant_types=["authorization_code"],
            id_token_alg="ES256", require_par=True, require_dpop=True, profile="fapi2",
            jwks=public_jwks(), auth_signing_alg="ES256", now=now)
        await register_client(
            store, "keyed", client_type="confidential", redirect_uris=["https://k.example/cb"],
            scopes=scopes, supported_scopes=scopes, jwks_uri="https://k.example/jwks.json",
            now=now)
        bank = await store.get_client("bank")
        assert bank is not None  # weakened behind the policy's back: the console says so
        assert await store.update_client(replace(bank, require_dpop=False))
    finally:
        await store.close()
    await sign_in(http)
    page = (await http.get("/admin/clients")).text
    row = page.split("<code>bank</code>", 1)[1].split("</tr>", 1)[0]
    assert "FAPI 2.0" in row
    assert "private_key_jwt" in row
    assert "inline JWK Set, 1 key" in row
    assert "alg <code>ES256</code>" in row
    assert "DPoP optional" in row
    assert "PKL103" in row
    assert '<span class="tag">1</span> key or profile finding (PKL06x, PKL10x)' in row
    keyed = page.split("<code>keyed</code>", 1)[1].split("</tr>", 1)[0]
    assert "jwks_uri https://k.example/jwks.json" in keyed
    assert "private_key_jwt" in keyed
    assert "FAPI 2.0" not in keyed
    assert "key or profile finding" not in keyed
    web = page.split("<code>web-app</code>", 1)[1].split("</tr>", 1)[0]
    assert "DPoP optional" in web
    assert "keys:" not in web  # client_secret_basic: no key line


async def test_users_are_listed_and_searched(http: httpx.AsyncClient) -> None:
    await sign_in(http)
    everyone = (await http.get("/admin/users")).text
    assert "<code>alice</code>" in everyone
    assert "<code>root</code>" in everyone
    found = (await http.get("/admin/users", params={"q": "ALICE@example"})).text
    assert "<code>alice</code>" in found
    assert "<code>root</code>" not in found
    assert "1 of 2 users" in found


async def test_an_admin_ends_a_users_session_with_a_csrf_protected_post(
        http: httpx.AsyncClient, settings: Settings) -> None:
    flow = new_flow()
    await get_code(http, flow)  # alice signs in: one session
    await sign_in(http)
    page = await http.get("/admin/sessions", params={"user": USERNAME})
    assert page.text.count('class="session"') == 1
    digest = page.text.split('name="session" value="', 1)[1].split('"', 1)[0]
    refused = await http.post("/admin/sessions/end", data={"user": USERNAME,
                                                           "session": digest})
    assert refused.status_code == 400
    assert (await http.get("/admin/sessions", params={"user": USERNAME})
            ).text.count('class="session"') == 1
    ended = await http.post("/admin/sessions/end", data={
        "csrf": csrf_of(page.text), "user": USERNAME, "session": digest})
    assert ended.status_code == 303
    assert ended.headers["location"] == f"/admin/sessions?user={USERNAME}"
    after = await http.get("/admin/sessions", params={"user": USERNAME})
    assert 'class="session"' not in after.text
    assert "No live session." in after.text
    assert (await http.get("/admin/sessions", params={"user": "nobody"})).status_code == 404


async def test_keys_are_listed_with_their_phase(http: httpx.AsyncClient) -> None:
    await sign_in(http)
    page = (await http.get("/admin/keys")).text
    assert page.count('class="key"') >= 2  # ES256 for access tokens, RS256 for id_tokens
    assert "phase-active" in page
    assert "ES256" in page
    assert "RS256" in page
    assert "private" not in page.lower().replace("private-use", "")


async def test_the_audit_page_explains_where_the_log_goes(http: httpx.AsyncClient) -> None:
    await sign_in(http)
    page = (await http.get("/admin/audit")).text
    assert "PROOFKEY_AUDIT_LOG" in page
    assert "standard error" in page


async def test_signing_out_needs_csrf_and_ends_the_console_session(
        http: httpx.AsyncClient, events: Recorder) -> None:
    await sign_in(http)
    page = await http.get("/admin/clients")
    assert (await http.post("/admin/logout", data={})).status_code == 400
    assert (await http.get("/admin/clients")).status_code == 200
    out = await http.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/admin/login"
    assert (await http.get("/admin/clients")).status_code == 303
    actions = [e.action for e in events.of(AdminChange)]  # type: ignore[attr-defined]
    assert actions == ["console_signed_in", "console_signed_out"]


async def test_losing_the_role_or_the_password_ends_console_access(
        http: httpx.AsyncClient, settings: Settings) -> None:
    await sign_in(http)
    store = open_store(settings.effective_database_url)
    try:
        await store.set_role(ADMIN, "user")
        assert (await http.get("/admin/clients")).status_code == 303
        await store.set_role(ADMIN, "admin")
        await sign_in(http)
        assert (await http.get("/admin/clients")).status_code == 200
        await store.set_password(ADMIN, "another hash")
        assert (await http.get("/admin/clients")).status_code == 303
    finally:
        await store.close()


class TestOnTheAdminPort:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"admin_port": free_port()}

    @pytest.fixture
    async def admin_http(self, settings: Settings, seeded: Secret) -> AsyncIterator[
            tuple[httpx.AsyncClient, httpx.AsyncClient]]:
        app = create_app(settings, bus=EventBus(), clock=TestClock())
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=ISSUER) as main, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.admin_port}") as admin:
            yield main, admin

    async def test_the_console_moves_to_the_admin_port(
            self, admin_http: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
        main, admin = admin_http
        assert (await main.get("/admin/login")).status_code == 404
        page = await admin.get("/admin/login")
        assert page.status_code == 200
        assert_console_headers(page)
        response = await sign_in(admin)
        assert response.status_code == 303
        assert (await admin.get("/admin/clients")).status_code == 200


AUDIT_LINES = [
    '{"ts":"2026-01-01T00:00:00.000Z","level":"info","logger":"proofkey.audit",'
    '"audit":{"ts":1,"event":"AdminChange","action":"user_added","subject":"u-1"}}',
    "not json at all",
    '{"ts":"2026-01-01T00:00:01.000Z","level":"info","logger":"proofkey","msg":"started"}',
    '{"ts":"2026-01-01T00:00:02.000Z","level":"info","logger":"proofkey.audit",'
    '"audit":{"ts":2,"event":"LoginFailed","username_fp":"abc","client_id":null}}',
]


class TestWithAnAuditFile:
    @pytest.fixture
    def settings_overrides(self, tmp_path: Path) -> dict[str, object]:
        path = tmp_path / "audit" / "audit.jsonl"
        path.parent.mkdir()
        path.write_text("\n".join(AUDIT_LINES) + "\n")
        return {"audit_log": str(path)}

    async def test_the_newest_audit_lines_are_shown_and_filtered(
            self, http: httpx.AsyncClient) -> None:
        await sign_in(http)
        page = (await http.get("/admin/audit")).text
        assert "standard error" not in page
        events = [line.split("<code>", 1)[1].split("</code>", 1)[0]
                  for line in page.split('<td data-label="Event">')[1:]]
        assert events[0] == "AdminChange"  # this sign-in, appended by the server
        assert events[-2:] == ["LoginFailed", "AdminChange"]  # newest first; junk skipped
        only = (await http.get("/admin/audit", params={"event": "AdminChange",
                                                        "q": "user_added"})).text
        assert only.count('class="entry"') == 1
        assert "u-1" in only


async def test_only_the_tail_of_a_large_audit_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join(AUDIT_LINES * 50) + "\n")
    view = await read_audit(audit_log=str(path), data_dir=tmp_path, max_bytes=1000)
    assert view.complete
    assert 0 < len(view.entries) < 10
    assert {e.event for e in view.entries} <= {"AdminChange", "LoginFailed"}
