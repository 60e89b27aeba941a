"""``proofkey admin token create|list|revoke`` as an operator runs them, and the admin API on
the admin port of a real ``proofkey serve`` process (not on the main port)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.process.conftest import clean_env, free_port, run_cli, running_server


def test_an_admin_token_from_the_cli_opens_the_api_on_the_admin_port(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = clean_env(data_dir)
    created = run_cli(["admin", "token", "create", "--scope", "clients:read resources:read",
                       "--expires", "1d", "--description", "ci", "--json"], env)
    assert created.returncode == 0, created.stderr
    made = json.loads(created.stdout)
    token, token_id = made["token"], made["id"]
    assert token.startswith("pka_")
    assert made["scopes"] == ["clients:read", "resources:read"]
    listed = run_cli(["admin", "token", "list", "--json"], env)
    assert token not in listed.stdout
    assert [t["state"] for t in json.loads(listed.stdout)] == ["active"]
    refused = run_cli(["admin", "token", "create", "--scope", "everything"], env)
    assert refused.returncode != 0
    assert "unknown admin scopes" in refused.stderr

    admin_port = free_port()
    with running_server(data_dir, settings={"admin_port": str(admin_port)}) as server:
        auth = {"authorization": f"Bearer {token}"}
        admin = f"http://127.0.0.1:{admin_port}/admin/api"
        answer = httpx.get(f"{admin}/v1/clients", headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"items": [], "next_cursor": None}
        assert httpx.get(f"{admin}/openapi.json").json()["openapi"] == "3.1.0"
        main = httpx.get(f"http://127.0.0.1:{server.port}/admin/api/v1/clients", headers=auth)
        assert main.status_code == 404
        revoked = run_cli(["admin", "token", "revoke", token_id], env)
        assert revoked.returncode == 0, revoked.stderr
        again = httpx.get(f"{admin}/v1/clients", headers=auth)
        assert again.status_code == 401
        assert again.headers["content-type"] == "application/problem+json"
    assert run_cli(["admin", "token", "revoke", token_id], env).returncode != 0
    audit = (data_dir / "audit.log").read_text()
    assert token not in audit
    assert "admin_token_created" in audit
    assert "admin_token_revoked" in audit


def test_client_rotate_secret_prints_a_new_secret_once(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    added = run_cli(["client", "add", "billing", "--confidential", "--redirect-uri",
                     "https://billing.example/cb", "--json"], env)
    assert added.returncode == 0, added.stderr
    old = json.loads(added.stdout)["client_secret"]
    rotated = run_cli(["client", "rotate-secret", "billing", "--json"], env)
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)["client_secret"]
    assert new != old
    assert len(new) >= 43
    shown = run_cli(["client", "show", "billing", "--json"], env)
    assert new not in shown.stdout
    public = run_cli(["client", "add", "cli-app", "--public", "--redirect-uri",
                      "http://127.0.0.1/cb"], env)
    assert public.returncode == 0, public.stderr
    refused = run_cli(["client", "rotate-secret", "cli-app"], env)
    assert refused.returncode != 0
    assert "PKL031" in refused.stderr
    assert run_cli(["client", "rotate-secret", "nobody"], env).returncode != 0
