"""``proofkey user passwd`` against a running server: a new password ends the user's sessions
and revokes their refresh tokens unless ``--keep-sessions`` says otherwise; both are audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.helpers import (
    PASSWORD,
    USERNAME,
    authorize_params,
    get_code,
    new_flow,
)
from tests.process.conftest import clean_env, run_cli, running_server, seed
from tests.process.test_cli_audit import AuditFile

NEW_PASSWORD = "a brand new long password"
# A public client with a web redirect: remembered consent makes its authorizations silent (a
# loopback one asks every time, RFC 8252 §8.6), so a code without a login shows the session.
SPA_ID, SPA_REDIRECT = "spa-app", "https://spa.example.com/cb"


async def _signed_in_with_refresh(http: httpx.AsyncClient) -> str:
    """Log alice in through the browser flow; return the refresh token she got."""
    flow = new_flow(SPA_ID, SPA_REDIRECT)
    code = await get_code(http, flow, scope="openid offline_access")
    response = await http.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
        "client_id": flow.client_id, "code_verifier": flow.verifier})
    assert response.status_code == 200, response.text
    return str(response.json()["refresh_token"])


async def _refresh(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                           "client_id": SPA_ID})


async def _authorize_without_login(http: httpx.AsyncClient) -> bool:
    """True if the browser's session still gets a code without logging in again."""
    response = await http.get("/authorize", params=authorize_params(new_flow(SPA_ID, SPA_REDIRECT),
                                                                     scope="openid"))
    assert response.status_code == 303, response.text
    return "code=" in response.headers["location"]


async def _passwd(env: dict[str, str], audit: AuditFile,
                  *flags: str) -> tuple[str, list[tuple[object, object]]]:
    result = await asyncio.to_thread(run_cli, ["user", "passwd", USERNAME, "--password-stdin",
                                               *flags], env, stdin=NEW_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert NEW_PASSWORD not in result.stdout + result.stderr
    assert NEW_PASSWORD not in audit.path.read_text()
    return result.stdout, [(line["action"], line["subject"]) for line in audit.new()]


async def test_a_new_password_ends_sessions_and_refresh_tokens_unless_kept(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    seed(data_dir, public_clients={SPA_ID: [SPA_REDIRECT]}, users={USERNAME: PASSWORD})
    env = clean_env(data_dir)
    audit_file = AuditFile(data_dir / "audit.log")
    with running_server(data_dir) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            refresh = await _signed_in_with_refresh(http)

            out, audit = await _passwd(env, audit_file, "--keep-sessions")
            assert "password changed for alice" in out
            assert audit == [("password_changed", "alice")]
            kept = await _refresh(http, refresh)
            assert kept.status_code == 200, kept.text
            assert await _authorize_without_login(http)

            refresh = kept.json()["refresh_token"]
            out, audit = await _passwd(env, audit_file)
            assert "password changed for alice" in out
            assert "ended 1 session" in out
            assert audit == [("password_changed", "alice"), ("sessions_revoked", "alice")]
            refused = await _refresh(http, refresh)
            assert refused.status_code == 400
            assert refused.json()["error"] == "invalid_grant"
            assert not await _authorize_without_login(http)
