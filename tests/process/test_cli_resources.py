"""``proofkey resource add|list|remove`` (RFC 8707): register the protected resources tokens may
be for, in real processes. A registered resource's scopes are known at once (a client can be
registered for them, discovery lists them) and a running server issues tokens for it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from tests.process.conftest import clean_env, run_cli, running_server
from tests.process.test_cli import ok

API = "https://api.example.com/v1"
MCP = "https://mcp.example.com/mcp"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


def test_a_resource_is_added_listed_and_removed(env: dict[str, str], data_dir: Path) -> None:
    added = json.loads(ok(run_cli(["resource", "add", API, "--scope", "api:read api:write",
                                   "--name", "The API", "--json"], env)).stdout)
    assert added["uri"] == API
    assert added["scopes"] == ["api:read", "api:write"]
    listed = json.loads(ok(run_cli(["resource", "list", "--json"], env)).stdout)
    assert [(r["uri"], r["name"], r["source"]) for r in listed] == [(API, "The API", "store")]
    assert API in ok(run_cli(["resource", "list"], env)).stdout
    again = run_cli(["resource", "add", API], env)
    assert again.returncode == 1
    assert "registered already" in again.stderr
    assert "removed resource" in ok(run_cli(["resource", "remove", API], env)).stdout
    gone = run_cli(["resource", "remove", API], env)
    assert gone.returncode == 1
    assert "no registered resource" in gone.stderr
    assert json.loads(ok(run_cli(["resource", "list", "--json"], env)).stdout) == []
    audit = (data_dir / "audit.log").read_text()
    assert "resource_added" in audit
    assert "resource_removed" in audit


@pytest.mark.parametrize(("uri", "reason"), [
    (f"{API}#part", "fragment"), ("http://api.example.com/", "https"), ("api", "absolute"),
    ("https://user@api.example.com/", "user information")])
def test_a_resource_that_is_not_an_absolute_https_uri_is_refused(
        env: dict[str, str], uri: str, reason: str) -> None:
    refused = run_cli(["resource", "add", uri], env)
    assert refused.returncode == 1
    assert reason in refused.stderr
    assert "Traceback" not in refused.stderr


def test_configured_resources_are_listed_and_their_scopes_known(env: dict[str, str]) -> None:
    configured = {**env, "PROOFKEY_RESOURCES": f"{MCP} tools:call; {API} api:read"}
    listed = json.loads(ok(run_cli(["resource", "list", "--json"], configured)).stdout)
    assert {(r["uri"], r["source"]) for r in listed} == {(MCP, "configuration"),
                                                         (API, "configuration")}
    ok(run_cli(["client", "add", "agent", "--redirect-uri", "http://127.0.0.1/cb",
                "--scope", "openid tools:call"], configured))
    refused = run_cli(["resource", "remove", MCP], configured)
    assert refused.returncode == 1
    assert "PROOFKEY_RESOURCES" in refused.stderr
    bad = run_cli(["resource", "list"], {**env, "PROOFKEY_RESOURCES": "http://mcp.example/"})
    assert bad.returncode == 2
    assert "PROOFKEY_RESOURCES" in bad.stderr


def test_a_client_may_be_registered_for_a_resources_scopes_only_once_it_exists(
        env: dict[str, str]) -> None:
    args = ["client", "add", "svc", "--confidential", "--grant-type", "client_credentials",
            "--scope", "api:read"]
    refused = run_cli(args, env)
    assert refused.returncode == 1
    assert "unknown scopes: api:read" in refused.stderr
    ok(run_cli(["resource", "add", API, "--scope", "api:read"], env))
    ok(run_cli(args, env))


def test_a_running_server_issues_a_token_for_a_registered_resource(
        env: dict[str, str], data_dir: Path) -> None:
    ok(run_cli(["resource", "add", API, "--scope", "api:read"], env))
    added = json.loads(ok(run_cli(["client", "add", "svc", "--confidential", "--grant-type",
                                   "client_credentials", "--scope", "api:read", "--json"],
                                  env)).stdout)
    with running_server(data_dir) as server, httpx.Client(base_url=server.base_url) as http:
        metadata = http.get("/.well-known/oauth-authorization-server").json()
        assert "api:read" in metadata["scopes_supported"]
        auth = ("svc", added["client_secret"])
        response = http.post("/token", data={"grant_type": "client_credentials",
                                             "scope": "api:read", "resource": API}, auth=auth)
        assert response.status_code == 200, response.text
        payload = response.json()["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        assert claims["aud"] == API
        unknown = http.post("/token", data={"grant_type": "client_credentials",
                                            "resource": MCP}, auth=auth)
        assert unknown.status_code == 400
        assert unknown.json()["error"] == "invalid_target"
