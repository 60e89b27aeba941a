"""A real ``proofkey serve`` at debug level, every endpoint exercised: nothing it writes holds a
verifier, code, token, password or secret; no false detections either; and /metrics and
/status on a separate admin port stop cleanly with the server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from proofkey.ops import logscan
from tests.helpers import (
    PASSWORD,
    PUBLIC_ID,
    PUBLIC_REDIRECT,
    USERNAME,
    WEB_ID,
    WEB_REDIRECT,
    authorize_params,
    csrf_of,
    exchange,
    get_code,
    new_flow,
)
from tests.observability.scrape import key, parse
from tests.process.conftest import STOPPED_BY_SIGTERM, clean_env, run_cli, seed, start_server

ADMIN_TOKEN = "thedUQ3VCoxN12ZKsHxFgK2kaIbpgM2ia-8f8hmkXvY"
WRONG_PASSWORD = "not the right password at all"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register_confidential(data_dir: Path) -> str:
    result = run_cli(["client", "add", WEB_ID, "--redirect-uri", WEB_REDIRECT,
                      "--confidential", "--json"], clean_env(data_dir))
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["client_secret"])


def tokens_of(body: dict[str, object]) -> list[str]:
    return [str(body[k]) for k in ("access_token", "refresh_token", "id_token") if k in body]


async def drive_everything(base: str, web_secret: str) -> list[str]:
    """Every endpoint, successes and refusals; returns every secret value that was in flight."""
    secrets = [PASSWORD, WRONG_PASSWORD, web_secret, ADMIN_TOKEN]
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        account = await http.get("/account")
        wrong = await http.post("/account/login", data={
            "csrf": csrf_of(account.text), "username": USERNAME, "password": WRONG_PASSWORD})
        assert wrong.status_code == 401

        flow = new_flow()
        code = await get_code(http, flow)
        tokens = (await exchange(http, flow, code)).json()
        secrets += [flow.verifier, code, *tokens_of(tokens), *http.cookies.values()]
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await http.get("/userinfo", headers=bearer)).status_code == 200
        rotated = await http.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": PUBLIC_ID})
        assert rotated.status_code == 200
        secrets += tokens_of(rotated.json())
        reused = await http.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": PUBLIC_ID})
        assert reused.status_code == 400
        assert (await exchange(http, flow, code)).status_code == 400  # replay

        web = new_flow(WEB_ID, WEB_REDIRECT)
        web_code = await get_code(http, web)
        web_tokens = await http.post("/token", auth=(WEB_ID, web_secret), data={
            "grant_type": "authorization_code", "code": web_code,
            "redirect_uri": WEB_REDIRECT, "code_verifier": web.verifier})
        assert web_tokens.status_code == 200
        secrets += [web.verifier, web_code, *tokens_of(web_tokens.json())]
        introspected = await http.post("/introspect", auth=(WEB_ID, web_secret),
                                       data={"token": web_tokens.json()["access_token"]})
        assert introspected.json()["active"] is True
        revoked = await http.post("/revoke", auth=(WEB_ID, web_secret),
                                  data={"token": web_tokens.json()["refresh_token"]})
        assert revoked.status_code == 200
        bad_secret = await http.post("/token", auth=(WEB_ID, web_secret[::-1]), data={
            "grant_type": "client_credentials"})
        assert bad_secret.status_code == 401
        secrets.append(web_secret[::-1])

        mismatch = new_flow()
        mismatch_code = await get_code(http, mismatch)
        wrong_verifier = new_flow().verifier
        assert (await exchange(http, mismatch, mismatch_code,
                               code_verifier=wrong_verifier)).status_code == 400
        secrets += [mismatch.verifier, mismatch_code, wrong_verifier]
        stripped = await http.get("/authorize", params=authorize_params(
            new_flow(), code_challenge=None))
        assert stripped.status_code == 303
        garbage = await http.post("/token", data={
            "grant_type": "authorization_code", "code": "x" * 43, "client_id": "nobody",
            "client_secret": "posted-secret-value", "code_verifier": "v" * 50})
        assert garbage.status_code in {400, 401}
        secrets.append("posted-secret-value")
    return secrets


async def test_a_served_process_writes_no_secret_and_no_false_detection(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed(data_dir, public_clients={PUBLIC_ID: [PUBLIC_REDIRECT]}, users={USERNAME: PASSWORD})
    web_secret = register_confidential(data_dir)
    admin_port = free_port()
    server = start_server(data_dir, settings={
        "log_level": "debug", "admin_token": ADMIN_TOKEN, "admin_port": str(admin_port)})
    try:
        secrets = await drive_everything(server.base_url, web_secret)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{admin_port}") as admin:
            login = await admin.post("/status/login", data={"token": ADMIN_TOKEN})
            assert login.status_code == 303
            secrets += list(admin.cookies.values())
            assert (await admin.get("/status")).status_code == 200
            metrics = parse((await admin.get("/metrics")).text)
        async with httpx.AsyncClient(base_url=server.base_url) as main:
            assert (await main.get("/metrics")).status_code == 404
            assert (await main.get("/status")).status_code == 404
    finally:
        returncode = server.stop()
    assert returncode in STOPPED_BY_SIGTERM, server.output()

    redactions = {k: v for k, v in metrics.items() if k[0] == "proofkey_log_redactions_total"}
    assert redactions
    assert sum(redactions.values()) == 0, redactions
    exchanges = "proofkey_token_exchanges_total"
    assert metrics[key(exchanges, client_id=PUBLIC_ID, grant_type="authorization_code",
                       outcome="verifier_mismatch")] == 1
    assert metrics[key(exchanges, client_id=PUBLIC_ID, grant_type="refresh_token",
                       outcome="refresh_reused")] == 1

    output = server.output()
    assert all(len(s) >= 8 for s in secrets)
    assert not [s for s in secrets if s in output], "a secret reached the server output"
    json_lines = 0
    for line in output.splitlines():
        if line.startswith("{"):
            json.loads(line)
            json_lines += 1
        else:
            assert line.startswith("proofkey serving "), line
    assert json_lines > 20
    assert '"event":"TokenExchangeFailed"' in output
    assert "admin server on 127.0.0.1" in output
    # The operators' own leak scanner (``proofkey scan-logs``) agrees.
    report = logscan.scan_paths([str(server.log_path)])
    assert not report.errors
    assert [(f.line, f.kind) for f in report.findings] == []
